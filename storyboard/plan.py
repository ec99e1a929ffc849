"""The plan: a pure function from a validated script to frame-exact, plain data.

This is the only place where time written by users (seconds, frames, beats,
bars) becomes frames. Scene boundaries are computed in exact seconds, summed
from the start, and each boundary is rounded once, so the scenes tile the
timeline with no frame lost or doubled however many scenes there are.

Words (see ``design/architecture.md``):

* **shot**: frames generated as one continuous latent video. A ``cut`` or a
  ``crossfade`` starts a new shot; a ``morph`` continues the current one. A shot
  followed by a crossfade renders ``handle`` extra frames past its end, which
  the compositor blends with the next shot's first frames.
* **window**: the model's native clip length slid over a shot with overlap.
* **conditioning**: per frame, the two prompts in play (``a``, ``b``), the weight
  of ``b`` after easing (``w``), the noise seed and the beat pulse.
"""

from __future__ import annotations

import bisect
import itertools
import math
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from storyboard.beatgrid import BeatGrid, ConstantTempo, Grid
from storyboard.easing import ease
from storyboard.errors import Loc, PlanError
from storyboard.timecode import TimeValue, clock_seconds

if TYPE_CHECKING:
    from storyboard.script import Script

PLAN_VERSION = 1
DEFAULT_CROSSFADE_S = 1.0
DEFAULT_MORPH_S = 1.0
PULSE_HALF_LIFE_S = 0.08


def frame_at(seconds: float, fps: int) -> int:
    """The frame on which time ``seconds`` falls, rounding half up (one rule everywhere)."""
    return math.floor(seconds * fps + 0.5 + 1e-9)


# --- plan data ---------------------------------------------------------------------


@dataclass(frozen=True)
class FrameCond:
    """Conditioning of one frame: prompts ``a`` -> ``b`` at weight ``w`` of ``b``."""

    a: int
    b: int
    w: float
    seed: int
    pulse: float = 0.0
    scene: int = 0

    def held(self) -> "FrameCond":
        """The same conditioning without a pulse (for crossfade handles)."""
        return FrameCond(self.a, self.b, self.w, self.seed, 0.0, self.scene)


@dataclass(frozen=True)
class TransitionPlan:
    """How scene ``into`` begins: ``cut``, ``crossfade`` (compositor) or ``morph`` (latent).

    ``weights`` holds, for each of the ``frames`` frames from ``start``, the weight of
    the incoming scene (crossfade: of the new shot's pixels; morph: of its first prompt).
    """

    kind: str
    into: int
    start: int
    frames: int
    curve: str
    weights: tuple[float, ...] = ()


@dataclass(frozen=True)
class CaptionPlan:
    text: str
    start: int
    end: int
    scene: int


@dataclass(frozen=True)
class ScenePlan:
    """A scene resolved to frames ``[start, end)``; ``start_s`` is exact (``start / fps``)."""

    index: int
    id: str
    start: int
    end: int
    shot: int
    seed: int
    prompts: tuple[int, ...]
    keys: tuple[int, ...]
    requested_start_s: float
    hold: tuple[int, int] | None = None
    caption: str | None = None
    snapped_s: float = 0.0  # how far sync moved this scene's start (seconds, + later)

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class ShotPlan:
    """A continuous latent video: owns frames ``[start, end)``, renders ``[start, render_end)``."""

    index: int
    scenes: tuple[int, ...]
    start: int
    end: int
    render_end: int
    windows: tuple[tuple[int, int], ...]
    frames: tuple[FrameCond, ...] = field(repr=False)

    @property
    def length(self) -> int:
        """Frames rendered, handle included."""
        return self.render_end - self.start

    def cond(self, frame: int) -> FrameCond:
        return self.frames[frame - self.start]


@dataclass(frozen=True)
class AudioTrackPlan:
    """A track placed on the video timeline; all times in seconds."""

    path: str
    offset_s: float
    start_s: float
    volume: float
    fade_in_s: float
    fade_out_s: float


@dataclass(frozen=True)
class Plan:
    """Everything the backends and the compositor need; JSON-serialisable with :meth:`to_json`."""

    title: str
    fps: int
    width: int
    height: int
    total_frames: int
    prompts: tuple[str, ...]
    negative: str
    model: dict[str, Any]
    scenes: tuple[ScenePlan, ...]
    shots: tuple[ShotPlan, ...]
    transitions: tuple[TransitionPlan, ...]
    captions: tuple[CaptionPlan, ...]
    audio: tuple[AudioTrackPlan, ...]
    output: dict[str, Any]
    tempo: dict[str, Any] | None
    beats: tuple[int, ...] = ()
    bars: tuple[int, ...] = ()
    end_snapped_s: float = 0.0
    version: int = PLAN_VERSION

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds (``total_frames / fps``)."""
        return self.total_frames / self.fps

    def timecode(self, frame: int) -> str:
        """``m:ss.ff`` (minutes, seconds, frame within the second)."""
        s, f = divmod(frame, self.fps)
        m, s = divmod(s, 60)
        return f"{m}:{s:02d}.{f:02d}"

    def to_json(self) -> dict[str, Any]:
        """Plain data: what ``storyboard plan --json`` prints."""

        def cond(c: FrameCond) -> dict[str, Any]:
            return {"a": c.a, "b": c.b, "w": round(c.w, 6), "seed": c.seed, "pulse": round(c.pulse, 6), "scene": c.scene}

        return {
            "version": self.version,
            "title": self.title,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "total_frames": self.total_frames,
            "duration_s": self.duration_s,
            "tempo": self.tempo,
            "prompts": list(self.prompts),
            "negative": self.negative,
            "model": self.model,
            "output": self.output,
            "audio": [asdict(a) for a in self.audio],
            "scenes": [
                {**asdict(s), "prompts": list(s.prompts), "keys": list(s.keys), "hold": list(s.hold) if s.hold else None,
                 "start_s": s.start / self.fps, "end_s": s.end / self.fps, "frames": s.frames}
                for s in self.scenes
            ],
            "shots": [
                {"index": s.index, "scenes": list(s.scenes), "start": s.start, "end": s.end, "render_end": s.render_end,
                 "windows": [list(w) for w in s.windows], "frames": [cond(c) for c in s.frames]}
                for s in self.shots
            ],
            "transitions": [{**asdict(t), "weights": [round(w, 6) for w in t.weights]} for t in self.transitions],
            "captions": [asdict(c) for c in self.captions],
            "beats": list(self.beats),
            "bars": list(self.bars),
            "end_snapped_s": self.end_snapped_s,
        }


def _snap(t: float, after: float, points: Sequence[float], margin: float) -> float:
    """The point nearest ``t`` that is later than ``after`` (by more than ``margin``); ``t`` if none."""
    i = bisect.bisect_left(points, t)
    candidates = [p for p in points[max(0, i - 1): i + 1] if p > after + margin]
    if not candidates:
        later = [p for p in points[i: i + 8] if p > after + margin]
        return later[0] if later else t
    return min(candidates, key=lambda p: abs(p - t))


# --- windows -------------------------------------------------------------------------


def windows_for(start: int, end: int, size: int, overlap: int) -> tuple[tuple[int, int], ...]:
    """Windows of ``size`` frames over ``[start, end)``, neighbours sharing at least ``overlap``.

    The stride is ``size - overlap``; the last window is aligned to the end (it may
    overlap its neighbour more). A range shorter than ``size`` is one window.
    """
    length = end - start
    if length <= size:
        return ((start, end),)
    stride = size - overlap
    count = math.ceil((length - size) / stride) + 1
    out = [(start + i * stride, start + i * stride + size) for i in range(count - 1)]
    out.append((end - size, end))
    return tuple(out)


# --- glides (interpolation weights) ---------------------------------------------------


def glide_weights(
    frames: Sequence[int],
    t0: float,
    t1: float,
    curve: str,
    beat_frames: Sequence[int] = (),
    beat_heights: Sequence[float] | None = None,
) -> list[float]:
    """Weights for ``frames`` of a glide that is 0 at frame ``t0`` and exactly 1 at frame ``t1``.

    For easing curves, frame ``f`` has progress ``(f - t0) / (t1 - t0)``. The ``beats``
    curve advances only on the beat frames inside ``(t0, t1)`` and on ``t1`` itself,
    each step as high as its ``beat_heights`` entry (equal steps by default), and rests
    between them.
    """
    if curve != "beats":
        span = t1 - t0
        return [ease(curve, (f - t0) / span) if span > 0 else 1.0 for f in frames]
    steps: list[tuple[float, float]] = []
    heights = list(beat_heights) if beat_heights is not None else [1.0] * len(beat_frames)
    for b, h in zip(beat_frames, heights):
        if t0 < b < t1:
            steps.append((b, max(h, 1e-6)))
    steps.append((t1, (sum(h for _, h in steps) / len(steps)) if steps else 1.0))
    total = sum(h for _, h in steps)
    cumulative = list(itertools.accumulate(h for _, h in steps))
    positions = [b for b, _ in steps]
    out = []
    for f in frames:
        n = bisect.bisect_right(positions, f)
        out.append(1.0 if f >= t1 else (cumulative[n - 1] / total if n else 0.0))
    return out


# --- compile ---------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[Loc, str]] = []

    def add(self, loc: Loc, message: str) -> None:
        self.items.append((loc, message))


@dataclass
class _Clock:
    """Converts user time to seconds at a position, given fps and an optional beat grid."""

    fps: int
    grid: Grid | None
    beats_per_bar: int
    problems: _Problems

    def seconds(self, value: TimeValue, at_s: float, loc: Loc) -> float:
        """Length of ``value`` in seconds when it starts at video time ``at_s``."""
        if value.unit == "s":
            return value.amount
        if value.unit == "f":
            return value.amount / self.fps
        if self.grid is None:
            self.problems.add(loc, f"'{value}' needs a tempo: set 'bpm:' at the top of the script, or add a music track")
            return 0.0
        beats = value.amount * (self.beats_per_bar if value.unit == "bars" else 1)
        return self.grid.time_at(self.grid.beat_at(at_s) + beats) - at_s


def compile_plan(
    script: "Script",
    grid: Grid | None = None,
    onset_strength: Callable[[float], float] | None = None,
    snap_points: Sequence[float] | None = None,
) -> Plan:
    """Compile a validated script into a :class:`Plan`.

    ``grid`` is the beat grid from the music's analysis; without it an explicit
    ``bpm:`` gives a constant tempo. ``onset_strength(t)`` (video seconds) shapes the
    steps of ``beats`` curves. ``snap_points`` (video seconds: beats, downbeats or
    onsets) are where scene boundaries written in seconds or frames move to (``sync``).
    Raises :class:`PlanError` listing every problem.
    """
    board = script.storyboard
    out, fps = board.output, board.output.fps
    problems = _Problems()
    if grid is None and board.bpm is not None:
        if board.downbeat.musical:
            problems.add(("downbeat",), "the first downbeat is written in seconds or frames")
            first = 0.0
        else:
            first = clock_seconds(board.downbeat, fps)
        grid = ConstantTempo(board.bpm, board.beats_per_bar, first)
    clock = _Clock(fps, grid, board.beats_per_bar, problems)

    # Scene boundaries in exact seconds, each rounded once. With sync, a boundary that
    # ends a duration written in seconds or frames moves to the nearest snap point
    # after the previous boundary.
    points = sorted(snap_points) if snap_points else []
    starts_s: list[float] = []
    requested: list[float] = []
    t = 0.0
    for i, scene in enumerate(board.scenes):
        starts_s.append(t)
        end = t + clock.seconds(scene.duration, t, ("scenes", i, "duration"))
        requested.append(end)
        if points and not scene.duration.musical:
            end = _snap(end, t, points, 0.5 / fps)
        t = end
    bounds = [frame_at(s, fps) for s in starts_s] + [frame_at(t, fps)]
    if problems.items:  # times that could not be resolved: nothing below would make sense
        raise PlanError(problems.items)
    for i in range(len(board.scenes)):
        if bounds[i + 1] <= bounds[i]:
            problems.add(("scenes", i, "duration"), f"'{board.scenes[i].duration}' is shorter than one frame at {fps} fps")
    if problems.items:
        raise PlanError(problems.items)

    prompts: list[str] = []
    prompt_index: dict[str, int] = {}

    def intern(text: str) -> int:
        full = f"{text}, {board.style}" if board.style.strip() else text
        if full not in prompt_index:
            prompt_index[full] = len(prompts)
            prompts.append(full)
        return prompt_index[full]

    beat_frames: list[int] = []
    downbeat_frames: set[int] = set()
    if grid is not None:
        first_beat = math.ceil(grid.beat_at(0.0) - 1e-9)
        last_beat = math.floor(grid.beat_at(t) + 1e-9)
        for b in range(first_beat, last_beat + 1):
            f = frame_at(grid.time_at(b), fps)
            if 0 <= f < bounds[-1] and (not beat_frames or f > beat_frames[-1]):
                beat_frames.append(f)
                if b % board.beats_per_bar == 0:
                    downbeat_frames.add(f)

    beat_heights = [onset_strength(f / fps) for f in beat_frames] if onset_strength else None

    scenes: list[ScenePlan] = []
    transitions: list[TransitionPlan] = []
    conds: list[FrameCond] = []
    captions: list[CaptionPlan] = []
    shot_of_scene: list[int] = []
    shot_count = 0
    for i, scene in enumerate(board.scenes):
        loc: Loc = ("scenes", i)
        start, end = bounds[i], bounds[i + 1]
        start_s = starts_s[i]
        dur_s = t - start_s if i == len(board.scenes) - 1 else starts_s[i + 1] - start_s
        sid = scene.id or f"scene{i + 1}"
        seed = scene.seed if scene.seed is not None else (board.model.seed + zlib.crc32(sid.encode())) % 2**31

        # Prompt keys -> absolute frames.
        keys: list[tuple[int, int, str]] = []  # (frame, prompt, curve)
        prev_at = -1.0
        for k, key in enumerate(scene.prompts):
            at_s = clock.seconds(key.at, start_s, loc + ("prompts", k, "at"))
            if at_s > dur_s + 0.5 / fps:
                problems.add(loc + ("prompts", k, "at"), f"'{key.at}' ({at_s:.3f}s) is after the scene ends ({dur_s:.3f}s, '{scene.duration}')")
            if at_s < prev_at:
                problems.add(loc + ("prompts", k, "at"), "prompt keys must be in time order")
            prev_at = at_s
            # A key at the scene's end lands on its last frame, so the last prompt is shown in full.
            keys.append((min(frame_at(start_s + at_s, fps), end - 1), intern(key.text), key.curve or scene.curve))

        # Transition into this scene.
        kind = scene.transition.type
        if i == 0 and kind != "cut":
            problems.add(loc + ("transition", "type"), f"the first scene has nothing to {kind} from; use cut")
            kind = "cut"
        tr_frames = 0
        if kind in ("crossfade", "morph"):
            second_key_s = (keys[1][0] - start) / fps if len(keys) > 1 else None
            if scene.transition.duration is not None:
                tr_s = clock.seconds(scene.transition.duration, start_s, loc + ("transition", "duration"))
                if tr_s > dur_s + 0.5 / fps:
                    problems.add(loc + ("transition", "duration"), f"the {kind} ({tr_s:.3f}s) is longer than the scene ({dur_s:.3f}s)")
                elif kind == "morph" and second_key_s is not None and tr_s > second_key_s + 0.5 / fps:
                    problems.add(loc + ("transition", "duration"), f"the morph ({tr_s:.3f}s) outlasts the scene's second prompt key ({second_key_s:.3f}s)")
            else:
                default = DEFAULT_CROSSFADE_S if kind == "crossfade" else DEFAULT_MORPH_S
                limit = dur_s if second_key_s is None or kind == "crossfade" else second_key_s / 2
                tr_s = min(default, limit)
            tr_frames = max(1, min(frame_at(start_s + tr_s, fps) - start, end - start))

        # Per-frame conditioning: keys, then the morph, then the hold.
        frames = range(start, end)
        a = [keys[0][1]] * len(frames)
        b = list(a)
        w = [0.0] * len(frames)
        glide_start = start + tr_frames if kind == "morph" else start
        for (f0, p0, _), (f1, p1, curve) in zip(keys, keys[1:]):
            f0 = max(f0, glide_start)
            seg = range(max(f0, start), min(f1, end))
            for f, weight in zip(seg, glide_weights(seg, f0, f1, curve, beat_frames, beat_heights)):
                a[f - start], b[f - start], w[f - start] = p0, p1, weight
        last_key, last_prompt = keys[-1][0], keys[-1][1]
        for f in range(max(last_key, start), end):
            a[f - start], b[f - start], w[f - start] = last_prompt, last_prompt, 0.0
        weights: tuple[float, ...] = ()
        if kind == "morph":
            prev_prompt = scenes[-1].prompts[-1]
            seg = list(range(start, start + tr_frames))
            weights = tuple(glide_weights(seg, start - 1, start + tr_frames - 1, scene.transition.curve, beat_frames, beat_heights))
            for f, weight in zip(seg, weights):
                a[f - start], b[f - start], w[f - start] = prev_prompt, keys[0][1], weight
        elif kind == "crossfade":
            seg = list(range(start, start + tr_frames))
            weights = tuple(glide_weights(seg, start - 1, start + tr_frames, scene.transition.curve, beat_frames, beat_heights))
        if i > 0:
            transitions.append(TransitionPlan(kind, i, start, tr_frames, scene.transition.curve, weights))

        pulse = [0.0] * len(frames)
        hold_span = None
        if scene.hold is not None:
            h = scene.hold
            h0_s = clock.seconds(h.at, start_s, loc + ("hold", "at"))
            h0 = frame_at(start_s + h0_s, fps) if h.at.amount > 0 else (start + tr_frames if kind == "morph" else start)
            if h.duration is not None:
                h1 = frame_at(start_s + h0_s + clock.seconds(h.duration, start_s + h0_s, loc + ("hold", "duration")), fps)
            else:
                h1 = end
            if h0_s > dur_s + 0.5 / fps or h1 > end:
                problems.add(loc + ("hold",), "the hold ends after the scene")
            h1 = min(h1, end)
            span = range(max(h0, start), h1)
            if any((a[f - start], b[f - start], w[f - start]) != (a[span[0] - start], b[span[0] - start], w[span[0] - start]) for f in span):
                problems.add(loc + ("hold",), "the hold overlaps a prompt glide; set hold.at and hold.duration to a span where the prompt stays put")
            hold_span = (span.start, span.stop)
            if h.pulse != "none":
                if grid is None:
                    problems.add(loc + ("hold", "pulse"), "a pulse on beats needs a tempo: set 'bpm:' or add a music track")
                hits = [f for f in beat_frames if span.start <= f < span.stop and (h.pulse == "beats" or f in downbeat_frames)]
                half_life = max(1.0, PULSE_HALF_LIFE_S * fps)
                for f in span:
                    last = max((x for x in hits if x <= f), default=None)
                    if last is not None:
                        pulse[f - start] = h.strength * 0.5 ** ((f - last) / half_life)

        if i == 0 or kind != "morph":
            shot_count += 1
        shot_of_scene.append(shot_count - 1)
        conds.extend(FrameCond(a[k], b[k], w[k], seed, pulse[k], i) for k in range(len(frames)))
        asked = requested[i - 1] if i > 0 else 0.0
        scenes.append(ScenePlan(
            i, sid, start, end, shot_count - 1, seed,
            tuple(p for _, p, _ in keys), tuple(f for f, _, _ in keys), asked, hold_span,
            scene.caption.text if scene.caption else None, round(start_s - asked, 6),
        ))
        if scene.caption:
            c = scene.caption
            c0_s = clock.seconds(c.at, start_s, loc + ("caption", "at"))
            c0 = frame_at(start_s + c0_s, fps)
            c1 = frame_at(start_s + c0_s + clock.seconds(c.duration, start_s + c0_s, loc + ("caption", "duration")), fps) if c.duration else end
            if c0 >= end:
                problems.add(loc + ("caption", "at"), "the caption starts after the scene ends")
            captions.append(CaptionPlan(c.text, c0, min(max(c1, c0 + 1), end), i))

    if problems.items:
        raise PlanError(problems.items)

    # Shots: runs of scenes joined by morphs; a crossfade adds a handle to the shot before it.
    shots: list[ShotPlan] = []
    model = board.model
    for s in range(shot_count):
        members = [sc for sc in scenes if sc.shot == s]
        start, end = members[0].start, members[-1].end
        nxt = members[-1].index + 1
        handle = 0
        if nxt < len(scenes) and board.scenes[nxt].transition.type == "crossfade":
            handle = next(tr.frames for tr in transitions if tr.into == nxt)
        frames = tuple(conds[start:end]) + tuple(conds[end - 1].held() for _ in range(handle))
        shots.append(ShotPlan(s, tuple(m.index for m in members), start, end, end + handle,
                              windows_for(start, end + handle, model.window.frames, model.window.overlap), frames))

    audio = []
    for k, track in enumerate(board.music):
        loc = ("music", k)
        audio.append(AudioTrackPlan(
            str(script.resolve(track.path)),
            clock.seconds(track.offset, 0.0, loc + ("offset",)),
            clock.seconds(track.start, 0.0, loc + ("start",)),
            track.volume,
            clock.seconds(track.fade_in, 0.0, loc + ("fade_in",)),
            clock.seconds(track.fade_out, 0.0, loc + ("fade_out",)),
        ))
    if problems.items:
        raise PlanError(problems.items)

    tempo = None
    if grid is not None:
        tempo = {"bpm": round(grid.bpm, 3), "beats_per_bar": board.beats_per_bar,
                 "source": "music" if isinstance(grid, BeatGrid) else "bpm",
                 "sync": board.music[0].sync if board.music and snap_points else "none"}
    end_snap = round(t - requested[-1], 6) if requested else 0.0
    return Plan(
        end_snapped_s=end_snap,
        title=board.title,
        fps=fps,
        width=out.width,
        height=out.height,
        total_frames=bounds[-1],
        prompts=tuple(prompts),
        negative=model.negative,
        model={"id": model.id, "revision": model.revision, "steps": model.steps, "guidance": model.guidance,
               "scheduler": model.scheduler, "noise": model.noise, "seed": model.seed,
               "window": {"frames": model.window.frames, "overlap": model.window.overlap},
               "device": model.device, "dtype": model.dtype, "offload": model.offload,
               "vae_slicing": model.vae_slicing, "vae_tiling": model.vae_tiling},
        scenes=tuple(scenes),
        shots=tuple(shots),
        transitions=tuple(transitions),
        captions=tuple(captions),
        audio=tuple(audio),
        output={"path": str(script.output_path()), "quality": out.quality, "preset": out.preset, "captions": out.captions},
        tempo=tempo,
        beats=tuple(beat_frames),
        bars=tuple(sorted(downbeat_frames)),
    )
