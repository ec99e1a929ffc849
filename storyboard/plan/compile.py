"""Compile a validated script into a :class:`Plan`: a pure function of its inputs.

This is the only place where time written by users (seconds, frames, beats,
bars) becomes frames. Scene boundaries are computed in exact seconds, summed
from the start, and each boundary is rounded once, so the scenes tile the
timeline with no frame lost or doubled however many scenes there are.

:func:`compile_plan` reads top to bottom as the algorithm; each step below it is a
function of data. Problems are collected and raised together, at the three points
where nothing further would make sense without them fixed.
"""

from __future__ import annotations

import bisect
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from storyboard.errors import Loc
from storyboard.music.grid import BeatGrid, ConstantTempo, Grid
from storyboard.plan.captions import caption_plans
from storyboard.plan.clock import Clock, Problems, frame_at
from storyboard.plan.data import (
    AudioTrackPlan,
    CaptionPlan,
    FrameCond,
    Plan,
    ScenePlan,
    ShotPlan,
    TransitionPlan,
)
from storyboard.plan.glides import glide_weights
from storyboard.plan.narration import mix_plan, place_narration
from storyboard.plan.sync import BeatFrames, beat_frames, snap, snap_reach
from storyboard.plan.windows import windows_for
from storyboard.script.load import scene_id
from storyboard.script.timecode import MAX_VIDEO_S, AutoDuration, clock_seconds

if TYPE_CHECKING:
    from storyboard.script.load import Script
    from storyboard.script.schema import Model, Output, Scene, Storyboard
    from storyboard.voice.speech import Speech

DEFAULT_CROSSFADE_S = 1.0
DEFAULT_MORPH_S = 1.0
PULSE_HALF_LIFE_S = 0.08
MAX_FRAMES = 24 * 3600 * 30  # the plan holds a record per frame: about 220 bytes each


def compile_plan(
    script: "Script",
    grid: Grid | None = None,
    onset_strength: Callable[[float], float] | None = None,
    snap_points: Sequence[float] | None = None,
    speech: Mapping[int, "Speech"] | None = None,
) -> Plan:
    """Compile a validated script into a :class:`Plan`.

    ``grid`` is the beat grid from the music's analysis; without it an explicit
    ``bpm:`` gives a constant tempo. ``onset_strength(t)`` (video seconds) shapes the
    steps of ``beats`` curves. ``snap_points`` (video seconds: beats, downbeats or
    onsets) are where scene boundaries written in seconds or frames move to (``sync``).
    ``speech``: each narrated scene's speech, by scene index, with ``duration: auto`` already
    resolved from it (:mod:`storyboard.plan.narration`).
    Raises :class:`PlanError` listing every problem.
    """
    board = script.storyboard
    fps = board.output.fps
    problems = Problems()
    grid = grid if grid is not None else constant_tempo(board, problems)
    clock = Clock(fps, grid, board.beats_per_bar, problems)

    # Resolve times and round the scene boundaries, each once.
    timeline = scene_timeline(board, clock, snap_points)
    problems.raise_if_any()  # times that could not be resolved: nothing below would make sense
    check_scene_lengths(board, timeline, problems)
    problems.raise_if_any()
    beats = beat_frames(grid, fps, timeline.end_s, timeline.total_frames, board.beats_per_bar, onset_strength)
    spans = [timeline.span(i) for i in range(len(board.scenes))]

    # Intern prompts and place each scene's keys; then transitions and shots.
    book = PromptBook(board.style)
    keys = [place_keys(scene, span, clock, book) for scene, span in zip(board.scenes, spans)]
    transitions = [transition_into(scene, span, k, clock, beats) for scene, span, k in zip(board.scenes, spans, keys)]
    shot_of_scene = shot_indices(transitions)

    # Per-frame conditioning: glides between keys, morphs, holds and their pulses.
    glides = [scene_glides(span, k, tr, keys[span.index - 1][-1].prompt if span.index else None, beats)
              for span, k, tr in zip(spans, keys, transitions)]
    holds = [scene_hold(scene, span, tr, glide, clock, beats)
             for scene, span, tr, glide in zip(board.scenes, spans, transitions, glides)]
    seeds = [scene_seed(board, i) for i in range(len(board.scenes))]
    conds = [cond for span, glide, hold, seed in zip(spans, glides, holds, seeds)
             for cond in frame_conditioning(span, glide, hold, seed)]
    captions = [c for scene, span in zip(board.scenes, spans) for c in scene_caption(scene, span, clock, board.output)]
    narration, spoken = place_narration(board, spans, speech or {}, clock)
    captions = sorted(captions + spoken, key=lambda c: (c.start, c.scene))
    problems.raise_if_any()

    scenes = [scene_plan(board, span, ks, shot, seed, hold)
              for span, ks, shot, seed, hold in zip(spans, keys, shot_of_scene, seeds, holds)]
    shots = plan_shots(scenes, transitions, conds, board.model)
    audio = place_audio(script, clock)
    problems.raise_if_any()

    return Plan(
        end_snapped_s=timeline.end_snapped_s,
        narration=tuple(narration),
        mix=mix_plan(board),
        title=board.title,
        fps=fps,
        width=board.output.width,
        height=board.output.height,
        total_frames=timeline.total_frames,
        prompts=tuple(book.texts),
        negative=board.model.negative,
        model=model_settings(board.model),
        scenes=tuple(scenes),
        shots=tuple(shots),
        transitions=tuple(transitions[1:]),  # the first scene has no transition into it
        captions=tuple(captions),
        audio=tuple(audio),
        output={"path": str(script.output_path()), "quality": board.output.quality, "preset": board.output.preset,
                "captions": board.output.captions},
        tempo=tempo_summary(board, grid, snap_points),
        beats=beats.frames,
        bars=tuple(sorted(beats.downbeats)),
    )


# --- time: tempo, scene boundaries ----------------------------------------------------------


def constant_tempo(board: "Storyboard", problems: Problems) -> Grid | None:
    """The grid of an explicit ``bpm:`` (beat 0 at ``downbeat``), or None without one."""
    if board.bpm is None:
        return None
    if board.downbeat.musical:
        problems.add(("downbeat",), "the first downbeat is written in seconds or frames")
        first = 0.0
    else:
        first = clock_seconds(board.downbeat, board.output.fps)
    return ConstantTempo(board.bpm, board.beats_per_bar, first)


@dataclass(frozen=True)
class SceneSpan:
    """Where scene ``index`` lies: frames ``[start, end)``, its exact start and length in seconds,
    and where it was asked to start before sync moved the boundary (seconds). ``sync_skipped``:
    sync left the scene's end as written (no snap point within reach)."""

    index: int
    start: int
    end: int
    start_s: float
    dur_s: float
    requested_start_s: float
    sync_skipped: bool = False

    def loc(self, *path: str | int) -> Loc:
        return ("scenes", self.index, *path)


@dataclass(frozen=True)
class Timeline:
    """Scene boundaries: exact seconds (``starts_s``, ``end_s``), the ends as written before sync
    (``requested_end_s``), and frames (scene ``i`` owns ``[bounds[i], bounds[i + 1])``).
    ``sync_skipped[i]``: sync left scene ``i``'s end as written (no snap point within reach)."""

    starts_s: tuple[float, ...]
    end_s: float
    requested_end_s: tuple[float, ...]
    bounds: tuple[int, ...]
    sync_skipped: tuple[bool, ...] = ()

    @property
    def total_frames(self) -> int:
        return self.bounds[-1]

    @property
    def end_snapped_s(self) -> float:
        """How far sync moved the video's end (seconds, + later)."""
        return round(self.end_s - self.requested_end_s[-1], 6) if self.requested_end_s else 0.0

    def span(self, i: int) -> SceneSpan:
        start_s = self.starts_s[i]
        next_s = self.starts_s[i + 1] if i + 1 < len(self.starts_s) else self.end_s
        requested = self.requested_end_s[i - 1] if i > 0 else 0.0
        skipped = self.sync_skipped[i] if i < len(self.sync_skipped) else False
        return SceneSpan(i, self.bounds[i], self.bounds[i + 1], start_s, next_s - start_s, requested, skipped)


def scene_timeline(board: "Storyboard", clock: Clock, snap_points: Sequence[float] | None) -> Timeline:
    """Scene boundaries in exact seconds, summed from 0 and each rounded once to a frame.

    With sync, a boundary that ends a duration written in seconds or frames moves to the
    nearest snap point after the previous boundary, if one lies within one beat of it (one
    bar with ``sync: bars``); otherwise it stays as written and ``sync_skipped`` says so.
    """
    points = sorted(snap_points) if snap_points else []
    sync = board.music[0].sync if board.music else "beats"
    starts: list[float] = []
    requested: list[float] = []
    skipped: list[bool] = []
    t = 0.0
    for i, scene in enumerate(board.scenes):
        starts.append(t)
        auto = isinstance(scene.duration, AutoDuration)
        if auto and scene.duration.seconds is None:
            clock.problems.add(("scenes", i, "duration"), "duration: auto needs the narration's speech; plan the "
                               "script with storyboard.plan.build.plan_script")
            requested.append(t)
            skipped.append(False)
            continue
        end = t + (scene.duration.seconds if auto else clock.seconds(scene.duration, t, ("scenes", i, "duration")))
        requested.append(end)
        moved = None
        if points and not scene.duration.musical:
            reach = snap_reach(clock.grid, end, sync, board.beats_per_bar, points)
            # A scene as long as its narration may only grow to a snap point: never cut the voice.
            usable = points[bisect.bisect_left(points, end - 0.5 / clock.fps):] if auto else points
            moved = snap(end, t, usable, 0.5 / clock.fps, reach)
        skipped.append(bool(points) and not scene.duration.musical and moved is None)
        t = end if moved is None else moved
    bounds = [frame_at(s, clock.fps) for s in starts] + [frame_at(t, clock.fps)]
    return Timeline(tuple(starts), t, tuple(requested), tuple(bounds), tuple(skipped))


def check_scene_lengths(board: "Storyboard", timeline: Timeline, problems: Problems) -> None:
    """Every scene must own at least one frame, and the video must end within :data:`MAX_VIDEO_S`
    (checked before any per-frame work, which grows with the video's length)."""
    fps = board.output.fps
    for i, scene in enumerate(board.scenes):
        end_s = timeline.starts_s[i + 1] if i + 1 < len(timeline.starts_s) else timeline.end_s
        if end_s > MAX_VIDEO_S or timeline.bounds[i + 1] > MAX_FRAMES:
            problems.add(("scenes", i, "duration"), f"the video would reach {end_s / 3600:.4g} hours "
                         f"({timeline.bounds[i + 1]} frames) by the end of this scene; a script may describe at most "
                         f"24 hours and {MAX_FRAMES} frames (24 hours at 30 fps)")
            return
        if timeline.bounds[i + 1] <= timeline.bounds[i]:
            problems.add(("scenes", i, "duration"), f"'{scene.duration}' is shorter than one frame at {fps} fps")


# --- prompts and keys -----------------------------------------------------------------------


class PromptBook:
    """The plan's prompts, each once, in order of first use, with the script's style appended."""

    def __init__(self, style: str):
        self.style = style
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def intern(self, text: str) -> int:
        full = f"{text}, {self.style}" if self.style.strip() else text
        if full not in self._index:
            self._index[full] = len(self.texts)
            self.texts.append(full)
        return self._index[full]


@dataclass(frozen=True)
class Key:
    """A prompt key placed on the timeline: from ``frame`` on, prompt ``prompt`` is reached,
    gliding there from the previous key along ``curve``."""

    frame: int
    prompt: int
    curve: str


def place_keys(scene: "Scene", span: SceneSpan, clock: Clock, book: PromptBook) -> list[Key]:
    """The scene's prompt keys as absolute frames; a key at the scene's end lands on its last frame,
    so the last prompt is shown in full."""
    keys: list[Key] = []
    prev_at = -1.0
    for k, key in enumerate(scene.prompts):
        loc = span.loc("prompts", k, "at")
        at_s = clock.seconds(key.at, span.start_s, loc)
        if at_s > span.dur_s + 0.5 / clock.fps:
            clock.problems.add(loc, f"'{key.at}' ({at_s:.3f}s) is after the scene ends ({span.dur_s:.3f}s, '{scene.duration}')")
        if at_s < prev_at:
            clock.problems.add(loc, "prompt keys must be in time order")
        prev_at = at_s
        frame = min(frame_at(span.start_s + at_s, clock.fps), span.end - 1)
        keys.append(Key(frame, book.intern(key.text), key.curve or scene.curve))
    return keys


# --- transitions and shots ------------------------------------------------------------------


def transition_into(scene: "Scene", span: SceneSpan, keys: list[Key], clock: Clock, beats: BeatFrames) -> TransitionPlan:
    """How the scene begins: its kind, length in frames and per-frame weights of the incoming scene."""
    kind = scene.transition.type
    if span.index == 0 and kind != "cut":
        clock.problems.add(span.loc("transition", "type"), f"the first scene has nothing to {kind} from; use cut")
        kind = "cut"
    if kind == "cut":
        return TransitionPlan(kind, span.index, span.start, 0, scene.transition.curve, ())
    frames = max(1, min(frame_at(span.start_s + transition_seconds(scene, span, keys, clock), clock.fps) - span.start,
                        span.end - span.start))
    seg = list(range(span.start, span.start + frames))
    # A morph's prompt arrives on its last frame; a crossfade's new shot is fully in just after it.
    last = span.start + frames - 1 if kind == "morph" else span.start + frames
    weights = glide_weights(seg, span.start - 1, last, scene.transition.curve, beats.frames, beats.heights)
    return TransitionPlan(kind, span.index, span.start, frames, scene.transition.curve, tuple(weights))


def transition_seconds(scene: "Scene", span: SceneSpan, keys: list[Key], clock: Clock) -> float:
    """A crossfade's or morph's length in seconds: as written (checked against the scene), or the
    default, limited to the scene (crossfade) or half the time to the second key (morph)."""
    kind = scene.transition.type
    second_key_s = (keys[1].frame - span.start) / clock.fps if len(keys) > 1 else None
    if scene.transition.duration is None:
        default = DEFAULT_CROSSFADE_S if kind == "crossfade" else DEFAULT_MORPH_S
        limit = span.dur_s if second_key_s is None or kind == "crossfade" else second_key_s / 2
        return min(default, limit)
    loc = span.loc("transition", "duration")
    tr_s = clock.seconds(scene.transition.duration, span.start_s, loc)
    if tr_s > span.dur_s + 0.5 / clock.fps:
        clock.problems.add(loc, f"the {kind} ({tr_s:.3f}s) is longer than the scene ({span.dur_s:.3f}s)")
    elif kind == "morph" and second_key_s is not None and tr_s > second_key_s + 0.5 / clock.fps:
        clock.problems.add(loc, f"the morph ({tr_s:.3f}s) outlasts the scene's second prompt key ({second_key_s:.3f}s)")
    return tr_s


def shot_indices(transitions: list[TransitionPlan]) -> list[int]:
    """Each scene's shot: a cut or crossfade starts a new shot, a morph continues the current one."""
    out: list[int] = []
    shot = -1
    for tr in transitions:
        if shot < 0 or tr.kind != "morph":
            shot += 1
        out.append(shot)
    return out


def plan_shots(scenes: list[ScenePlan], transitions: list[TransitionPlan], conds: list[FrameCond],
               model: "Model") -> list[ShotPlan]:
    """Shots as runs of scenes joined by morphs; a crossfade adds a handle of held frames to the
    shot before it. Each shot gets its windows."""
    shots: list[ShotPlan] = []
    for s in range(scenes[-1].shot + 1):
        members = [sc for sc in scenes if sc.shot == s]
        start, end = members[0].start, members[-1].end
        nxt = members[-1].index + 1
        handle = transitions[nxt].frames if nxt < len(scenes) and transitions[nxt].kind == "crossfade" else 0
        frames = tuple(conds[start:end]) + tuple(conds[end - 1].held() for _ in range(handle))
        windows = windows_for(start, end + handle, model.window.frames, model.window.overlap)
        shots.append(ShotPlan(s, tuple(m.index for m in members), start, end, end + handle, windows, frames))
    return shots


# --- per-frame conditioning -----------------------------------------------------------------


@dataclass(frozen=True)
class Glide:
    """Per frame of a scene: prompts ``a`` -> ``b`` at weight ``w`` of ``b``."""

    a: tuple[int, ...]
    b: tuple[int, ...]
    w: tuple[float, ...]

    def at(self, k: int) -> tuple[int, int, float]:
        return self.a[k], self.b[k], self.w[k]


def scene_glides(span: SceneSpan, keys: list[Key], transition: TransitionPlan, previous_prompt: int | None,
                 beats: BeatFrames) -> Glide:
    """Glides between consecutive keys, the last prompt held after the last key, and a morph
    from the previous scene's last prompt over the transition's frames."""
    start, end = span.start, span.end
    a = [keys[0].prompt] * (end - start)
    b, w = list(a), [0.0] * (end - start)
    glide_start = start + transition.frames if transition.kind == "morph" else start
    for k0, k1 in zip(keys, keys[1:]):
        f0 = max(k0.frame, glide_start)
        seg = range(max(f0, start), min(k1.frame, end))
        for f, weight in zip(seg, glide_weights(seg, f0, k1.frame, k1.curve, beats.frames, beats.heights)):
            a[f - start], b[f - start], w[f - start] = k0.prompt, k1.prompt, weight
    for f in range(max(keys[-1].frame, start), end):
        a[f - start], b[f - start], w[f - start] = keys[-1].prompt, keys[-1].prompt, 0.0
    if transition.kind == "morph":
        assert previous_prompt is not None
        for f, weight in zip(range(start, start + transition.frames), transition.weights):
            a[f - start], b[f - start], w[f - start] = previous_prompt, keys[0].prompt, weight
    return Glide(tuple(a), tuple(b), tuple(w))


@dataclass(frozen=True)
class Hold:
    """Frames ``span`` where the prompt stays put (None: no hold), and each scene frame's pulse."""

    span: tuple[int, int] | None
    pulse: tuple[float, ...]


def scene_hold(scene: "Scene", span: SceneSpan, transition: TransitionPlan, glide: Glide, clock: Clock,
               beats: BeatFrames) -> Hold:
    """The hold's frames (checked to lie where the prompt stays put) and its beat pulse, which peaks
    on each beat (or bar) and halves every :data:`PULSE_HALF_LIFE_S` seconds."""
    no_pulse = (0.0,) * (span.end - span.start)
    h = scene.hold
    if h is None:
        return Hold(None, no_pulse)
    fps, start = clock.fps, span.start
    h0_s = clock.seconds(h.at, span.start_s, span.loc("hold", "at"))
    h0 = frame_at(span.start_s + h0_s, fps) if h.at.amount > 0 else (start + transition.frames if transition.kind == "morph" else start)
    if h.duration is not None:
        h1 = frame_at(span.start_s + h0_s + clock.seconds(h.duration, span.start_s + h0_s, span.loc("hold", "duration")), fps)
    else:
        h1 = span.end
    if h0_s > span.dur_s + 0.5 / fps or h1 > span.end:
        clock.problems.add(span.loc("hold"), "the hold ends after the scene")
    frames = range(max(h0, start), min(h1, span.end))
    moving = [f for f in frames[1:] if glide.at(f - start) != glide.at(f - 1 - start)]  # the prompt changes here
    if moving:
        clock.problems.add(span.loc("hold"), f"the hold ({(frames.start - start) / fps:.3f}s to {(frames.stop - start) / fps:.3f}s "
                           f"into the scene) overlaps a prompt glide, which moves from {(moving[0] - 1 - start) / fps:.3f}s "
                           f"to {(moving[-1] - start) / fps:.3f}s; set hold.at and hold.duration to a span where the "
                           "prompt stays put")
    if h.pulse == "none":
        return Hold((frames.start, frames.stop), no_pulse)
    if clock.grid is None:
        clock.problems.add(span.loc("hold", "pulse"), "a pulse on beats needs a tempo: set 'bpm:' or add a music track")
    hits = [f for f in beats.frames if frames.start <= f < frames.stop and (h.pulse == "beats" or f in beats.downbeats)]
    pulse = list(no_pulse)
    half_life = max(1.0, PULSE_HALF_LIFE_S * fps)
    for f in frames:
        n = bisect.bisect_right(hits, f)  # hits at or before f
        if n:
            pulse[f - start] = h.strength * 0.5 ** ((f - hits[n - 1]) / half_life)
    return Hold((frames.start, frames.stop), tuple(pulse))


def scene_seed(board: "Storyboard", index: int) -> int:
    """The scene's noise seed: its own, or derived from ``model.seed`` and its id (so adding a scene
    does not reseed the others)."""
    scene = board.scenes[index]
    if scene.seed is not None:
        return scene.seed
    return (board.model.seed + zlib.crc32(scene_id(board, index).encode())) % 2**31


def scene_plan(board: "Storyboard", span: SceneSpan, keys: list[Key], shot: int, seed: int, hold: Hold) -> ScenePlan:
    scene = board.scenes[span.index]
    return ScenePlan(span.index, scene_id(board, span.index), span.start, span.end, shot, seed,
                     tuple(k.prompt for k in keys), tuple(k.frame for k in keys), span.requested_start_s, hold.span,
                     scene.caption.text if scene.caption else None, round(span.start_s - span.requested_start_s, 6),
                     sync_skipped=span.sync_skipped)


def frame_conditioning(span: SceneSpan, glide: Glide, hold: Hold, seed: int) -> list[FrameCond]:
    return [FrameCond(*glide.at(k), seed, hold.pulse[k], span.index) for k in range(span.end - span.start)]


# --- captions, audio, settings --------------------------------------------------------------


def scene_caption(scene: "Scene", span: SceneSpan, clock: Clock, output: "Output") -> list[CaptionPlan]:
    """The scene's caption as frames: from ``at`` for ``duration`` (or to the scene's end), at least one
    frame; split into timed pages when it is too long for two lines on the output's frames."""
    c = scene.caption
    if c is None:
        return []
    c0_s = clock.seconds(c.at, span.start_s, span.loc("caption", "at"))
    c0 = frame_at(span.start_s + c0_s, clock.fps)
    c1 = span.end
    if c.duration:
        c1 = frame_at(span.start_s + c0_s + clock.seconds(c.duration, span.start_s + c0_s, span.loc("caption", "duration")), clock.fps)
    if c0 >= span.end:
        clock.problems.add(span.loc("caption", "at"), "the caption starts after the scene ends")
    return caption_plans(c.text, c0, min(max(c1, c0 + 1), span.end), span.index, output.width, output.height)


def place_audio(script: "Script", clock: Clock) -> list[AudioTrackPlan]:
    """Each music track on the video timeline, times in seconds, paths resolved."""
    out = []
    for k, track in enumerate(script.storyboard.music):
        loc: Loc = ("music", k)
        out.append(AudioTrackPlan(
            str(script.resolve(track.path)),
            clock.seconds(track.offset, 0.0, loc + ("offset",)),
            clock.seconds(track.start, 0.0, loc + ("start",)),
            track.volume,
            clock.seconds(track.fade_in, 0.0, loc + ("fade_in",)),
            clock.seconds(track.fade_out, 0.0, loc + ("fade_out",)),
            loop=track.loop,
        ))
    return out


def tempo_summary(board: "Storyboard", grid: Grid | None, snap_points: Sequence[float] | None) -> dict[str, Any] | None:
    if grid is None:
        return None
    return {"bpm": round(grid.bpm, 3), "beats_per_bar": board.beats_per_bar,
            "source": "music" if isinstance(grid, BeatGrid) else "bpm",
            "sync": board.music[0].sync if board.music and snap_points else "none"}


def model_settings(model: "Model") -> dict[str, Any]:
    """The model settings the backends read (and the segment cache keys on)."""
    return {"id": model.id, "revision": model.revision, "steps": model.steps, "guidance": model.guidance,
            "scheduler": model.scheduler, "noise": model.noise, "seed": model.seed,
            "window": {"frames": model.window.frames, "overlap": model.window.overlap},
            "device": model.device, "dtype": model.dtype, "offload": model.offload,
            "vae_slicing": model.vae_slicing, "vae_tiling": model.vae_tiling}
