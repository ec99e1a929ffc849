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
import math
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from storyboard.errors import Loc
from storyboard.music.grid import BeatGrid, ConstantTempo, Grid
from storyboard.plan.captions import OnePage, Pager, caption_plans
from storyboard.plan.times import TimeReader, Problems, frame_at
from storyboard.plan.data import (
    AudioTrackPlan,
    CaptionPlan,
    CondRun,
    ModelSettings,
    OutputSettings,
    Plan,
    Pulse,
    RampWeights,
    ScenePlan,
    ShotFrames,
    ShotPlan,
    TransitionPlan,
    WindowSettings,
)
from storyboard.plan.glides import Ramp
from storyboard.plan.media import MediaFacts, NoFacts, subject_plans, with_media
from storyboard.plan.narration import SpeechTiming, mix_plan, place_narration
from storyboard.plan.sync import BeatFrames, beat_frames, snap, snap_reach
from storyboard.plan.windows import Windows
from storyboard.script.load import scene_id
from storyboard.script.timecode import MAX_VIDEO_S, AutoDuration, fixed_seconds

if TYPE_CHECKING:
    from storyboard.script.load import Script
    from storyboard.script.schema import Model, Output, Scene, Storyboard

DEFAULT_CROSSFADE_S = 1.0
DEFAULT_MORPH_S = 1.0
PULSE_HALF_LIFE_S = 0.08
MAX_FRAMES = 24 * 3600 * 30  # 24 hours at 30 fps (the plan stores spans, not a record per frame)


def compile_plan(
    script: "Script",
    grid: Grid | None = None,
    onset_strength: Callable[[float], float] | None = None,
    snap_points: Sequence[float] | None = None,
    speech: Mapping[int, SpeechTiming] | None = None,
    pager: Pager = OnePage(),
    media: MediaFacts | None = None,
) -> Plan:
    """Compile a validated script into a :class:`Plan`.

    ``grid`` is the beat grid from the music's analysis; without it an explicit
    ``bpm:`` gives a constant tempo. ``onset_strength(t)`` (video seconds) shapes the
    steps of ``beats`` curves. ``snap_points`` (video seconds: beats, downbeats or
    onsets) are where scene boundaries written in seconds or frames move to (``sync``).
    ``speech``: each narrated scene's speech, by scene index, with ``duration: auto`` already
    resolved from it (:mod:`storyboard.plan.narration`).
    ``pager`` pages a caption too long for two lines (the plan records its fonts; default: one page).
    ``media``: the probed images and videos (:mod:`storyboard.plan.media`; None: checksums left empty).
    Raises :class:`PlanError` listing every problem.
    """
    board = script.storyboard
    fps = board.output.fps
    problems = Problems()
    grid = grid if grid is not None else constant_tempo(board, problems)
    times = TimeReader(fps, grid, board.beats_per_bar, problems)

    # Resolve times and round the scene boundaries, each once.
    timeline = scene_timeline(board, times, snap_points)
    problems.raise_if_any()  # times that could not be resolved: nothing below would make sense
    check_scene_lengths(board, timeline, problems)
    problems.raise_if_any()
    beats = beat_frames(grid, fps, timeline.end_s, timeline.total_frames, board.beats_per_bar, onset_strength)
    spans = [timeline.span(i) for i in range(len(board.scenes))]

    # Intern prompts and place each scene's keys; then transitions and shots.
    book = PromptBook(board.style)
    keys = [place_keys(scene, span, times, book) for scene, span in zip(board.scenes, spans)]
    transitions = [transition_into(scene, span, k, times, beats) for scene, span, k in zip(board.scenes, spans, keys)]
    shot_of_scene = shot_indices(transitions)

    # Conditioning, as spans: glides between keys, morphs, holds and their pulses.
    seeds = [scene_seed(board, i) for i in range(len(board.scenes))]
    glides = [scene_glides(span, k, tr, keys[span.index - 1][-1].prompt if span.index else None, beats, seed)
              for span, k, tr, seed in zip(spans, keys, transitions, seeds)]
    holds = [scene_hold(scene, span, tr, glide, times, beats)
             for scene, span, tr, glide in zip(board.scenes, spans, transitions, glides)]
    captions = [c for s, span in zip(board.scenes, spans) for c in scene_caption(s, span, times, board.output, pager)]
    narration, spoken = place_narration(board, spans, speech or {}, times, pager)
    captions = sorted(captions + spoken, key=lambda c: (c.start, c.scene))
    problems.raise_if_any()

    scenes = [scene_plan(board, span, ks, shot, seed, hold)
              for span, ks, shot, seed, hold in zip(spans, keys, shot_of_scene, seeds, holds)]
    shots = plan_shots(scenes, transitions, glides, holds, board.model)
    facts = media or NoFacts()
    shots = with_media(shots, script, spans, times, facts)  # images, subjects, controls, continue, anchor
    audio = place_audio(script, times)
    problems.raise_if_any()

    return Plan(
        end_snapped_s=timeline.end_snapped_s,
        narration=tuple(narration),
        mix=mix_plan(board),
        title=board.title,
        fps=fps, width=board.output.width, height=board.output.height, total_frames=timeline.total_frames,
        prompts=tuple(book.texts), negative=board.model.negative,
        model=model_settings(board.model),
        scenes=tuple(scenes),
        shots=tuple(shots),
        transitions=tuple(transitions[1:]),  # the first scene has no transition into it
        captions=tuple(captions),
        caption_fonts=pager.fonts if captions else (),
        subjects=subject_plans(script, facts),
        audio=tuple(audio),
        output=OutputSettings(str(script.output_path()), board.output.quality, board.output.preset,
                              board.output.captions),
        tempo=tempo_summary(board, grid, snap_points),
        beats=beats.frames, bars=tuple(sorted(beats.downbeats)),
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
        first = fixed_seconds(board.downbeat, board.output.fps)
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


def scene_timeline(board: "Storyboard", times: TimeReader, snap_points: Sequence[float] | None) -> Timeline:
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
            times.problems.add(("scenes", i, "duration"), "duration: auto needs the narration's speech; plan the "
                               "script with storyboard.pipeline.plan_script")
            requested.append(t)
            skipped.append(False)
            continue
        end = t + (scene.duration.seconds if auto else times.seconds(scene.duration, t, ("scenes", i, "duration")))
        requested.append(end)
        moved = None
        if points and not scene.duration.musical:
            reach = snap_reach(times.grid, end, sync, board.beats_per_bar, points)
            # A scene as long as its narration may only grow to a snap point: never cut the voice.
            usable = points[bisect.bisect_left(points, end - 0.5 / times.fps):] if auto else points
            moved = snap(end, t, usable, 0.5 / times.fps, reach)
        skipped.append(bool(points) and not scene.duration.musical and moved is None)
        t = end if moved is None else moved
    bounds = [frame_at(s, times.fps) for s in starts] + [frame_at(t, times.fps)]
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


def place_keys(scene: "Scene", span: SceneSpan, times: TimeReader, book: PromptBook) -> list[Key]:
    """The scene's prompt keys as absolute frames; a key at the scene's end lands on its last frame,
    so the last prompt is shown in full."""
    keys: list[Key] = []
    prev_at = -1.0
    for k, key in enumerate(scene.prompts):
        loc = span.loc("prompts", k, "at")
        at_s = times.seconds(key.at, span.start_s, loc)
        if at_s > span.dur_s + 0.5 / times.fps:
            times.problems.add(loc, f"'{key.at}' ({at_s:.3f}s) is after the scene ends ({span.dur_s:.3f}s, '{scene.duration}')")
        if at_s < prev_at:
            times.problems.add(loc, "prompt keys must be in time order")
        prev_at = at_s
        frame = min(frame_at(span.start_s + at_s, times.fps), span.end - 1)
        keys.append(Key(frame, book.intern(key.text), key.curve or scene.curve))
    return keys


# --- transitions and shots ------------------------------------------------------------------


def transition_into(scene: "Scene", span: SceneSpan, keys: list[Key], times: TimeReader, beats: BeatFrames) -> TransitionPlan:
    """How the scene begins: its kind, length in frames and the weights of the incoming scene (one ramp)."""
    kind = scene.transition.type
    if span.index == 0 and kind != "cut":
        times.problems.add(span.loc("transition", "type"), f"the first scene has nothing to {kind} from; use cut")
        kind = "cut"
    if kind == "cut":
        return TransitionPlan(kind, span.index, span.start, 0, scene.transition.curve, ())
    frames = max(1, min(frame_at(span.start_s + transition_seconds(scene, span, keys, times), times.fps) - span.start,
                        span.end - span.start))
    # A morph's prompt arrives on its last frame; a crossfade's new shot is fully in just after it.
    last = span.start + frames - 1 if kind == "morph" else span.start + frames
    ramp = Ramp.glide(span.start - 1, last, scene.transition.curve, beats.frames, beats.heights)
    return TransitionPlan(kind, span.index, span.start, frames, scene.transition.curve, RampWeights(span.start, frames, ramp))


def transition_seconds(scene: "Scene", span: SceneSpan, keys: list[Key], times: TimeReader) -> float:
    """A crossfade's or morph's length in seconds: as written (checked against the scene), or the
    default, limited to the scene (crossfade) or half the time to the second key (morph)."""
    kind = scene.transition.type
    second_key_s = (keys[1].frame - span.start) / times.fps if len(keys) > 1 else None
    if scene.transition.duration is None:
        default = DEFAULT_CROSSFADE_S if kind == "crossfade" else DEFAULT_MORPH_S
        limit = span.dur_s if second_key_s is None or kind == "crossfade" else second_key_s / 2
        return min(default, limit)
    loc = span.loc("transition", "duration")
    tr_s = times.seconds(scene.transition.duration, span.start_s, loc)
    if tr_s > span.dur_s + 0.5 / times.fps:
        times.problems.add(loc, f"the {kind} ({tr_s:.3f}s) is longer than the scene ({span.dur_s:.3f}s)")
    elif kind == "morph" and second_key_s is not None and tr_s > second_key_s + 0.5 / times.fps:
        times.problems.add(loc, f"the morph ({tr_s:.3f}s) outlasts the scene's second prompt key ({second_key_s:.3f}s)")
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


def plan_shots(scenes: list[ScenePlan], transitions: list[TransitionPlan], glides: list[list[CondRun]],
               holds: list["HoldFrames"], model: "Model") -> list[ShotPlan]:
    """Shots as runs of scenes joined by morphs; a crossfade adds a handle of held frames (the
    last frame's prompts and weight, without a pulse) to the shot before it. Each shot gets its windows."""
    shots: list[ShotPlan] = []
    for s in range(scenes[-1].shot + 1):
        members = [sc for sc in scenes if sc.shot == s]
        start, end = members[0].start, members[-1].end
        nxt = members[-1].index + 1
        handle = transitions[nxt].frames if nxt < len(scenes) and transitions[nxt].kind == "crossfade" else 0
        runs = [run for m in members for run in glides[m.index]]
        if handle:
            last = runs[-1]
            runs.append(CondRun(end, end + handle, last.a, last.b, last.seed, last.scene, None, last.weight(end - 1)))
        pulses = tuple(p for m in members if (p := holds[m.index].pulse) is not None)
        windows = Windows(start, end + handle, model.window.frames, model.window.overlap)
        shots.append(ShotPlan(s, tuple(m.index for m in members), start, end, end + handle, windows,
                              ShotFrames(start, tuple(runs), pulses)))
    return shots


# --- conditioning, as spans -----------------------------------------------------------------


def lay(runs: list[CondRun], run: CondRun) -> list[CondRun]:
    """``runs`` (in order, not overlapping) with ``run`` laid over frames ``[run.start, run.end)``."""
    if run.start >= run.end:
        return runs
    out = []
    for r in runs:
        if r.end <= run.start or r.start >= run.end:
            out.append(r)
            continue
        if r.start < run.start:
            out.append(replace(r, end=run.start))
        if r.end > run.end:
            out.append(replace(r, start=run.end))
    return sorted(out + [run], key=lambda r: r.start)


def scene_glides(span: SceneSpan, keys: list[Key], transition: TransitionPlan, previous_prompt: int | None,
                 beats: BeatFrames, seed: int) -> list[CondRun]:
    """The scene's conditioning as runs tiling its frames: glides between consecutive keys, the
    first prompt before the first key, the last held after the last key, and a morph from the
    previous scene's last prompt over the transition's frames."""
    start, end = span.start, span.end

    def run(f0: int, f1: int, a: int, b: int, ramp: Ramp | None = None) -> CondRun:
        return CondRun(max(f0, start), min(f1, end), a, b, seed, span.index, ramp)

    runs = [run(start, end, keys[0].prompt, keys[0].prompt)]
    glide_start = start + transition.frames if transition.kind == "morph" else start
    for k0, k1 in zip(keys, keys[1:]):
        f0 = max(k0.frame, glide_start)
        runs = lay(runs, run(f0, k1.frame, k0.prompt, k1.prompt,
                             Ramp.glide(f0, k1.frame, k1.curve, beats.frames, beats.heights)))
    runs = lay(runs, run(keys[-1].frame, end, keys[-1].prompt, keys[-1].prompt))
    if transition.kind == "morph":
        assert previous_prompt is not None and isinstance(transition.weights, RampWeights)
        runs = lay(runs, run(start, start + transition.frames, previous_prompt, keys[0].prompt, transition.weights.ramp))
    return runs


def value_at(runs: list[CondRun], frame: int) -> tuple[int, int, float]:
    """The prompts and weight at ``frame`` (inside the runs)."""
    r = runs[bisect.bisect_right([x.start for x in runs], frame) - 1]
    return r.a, r.b, r.weight(frame)


def prompt_moves(runs: list[CondRun], first: int, last: int) -> list[int]:
    """The first and the last frame ``f`` in ``[first, last]`` where the prompts or weight differ from
    frame ``f - 1``'s (one frame when they are the same; none when nothing moves). Reads each run's
    ramp, never every frame."""
    def moves(f: int) -> bool:
        return value_at(runs, f) != value_at(runs, f - 1)

    def candidates(r: CondRun) -> Sequence[int]:
        inside = r.ramp.changes(max(first, r.start + 1), min(last, r.end - 1)) if r.ramp else []
        return [r.start, *inside] if first <= r.start <= last else inside

    found: list[int] = []
    for r in runs:
        hit = next((f for f in candidates(r) if moves(f)), None)
        if hit is not None:
            found.append(hit)
            break
    for r in reversed(runs):
        hit = next((f for f in reversed(candidates(r)) if moves(f)), None)
        if hit is not None:
            found.append(hit)
            break
    return sorted(set(found))


@dataclass(frozen=True)
class HoldFrames:
    """Frames ``span`` where the prompt stays put (None: no hold), and its beat pulse (None: none)."""

    span: tuple[int, int] | None
    pulse: Pulse | None = None


def scene_hold(scene: "Scene", span: SceneSpan, transition: TransitionPlan, glide: list[CondRun], times: TimeReader,
               beats: BeatFrames) -> HoldFrames:
    """The hold's frames (checked to last at least a frame and to lie where the prompt stays put) and
    its beat pulse, which peaks on each beat (or bar) and halves every :data:`PULSE_HALF_LIFE_S` seconds.

    A hold at the scene's start with no duration, in a morph scene, starts when the morph ends.
    """
    h = scene.hold
    if h is None:
        return HoldFrames(None)
    fps, start = times.fps, span.start
    morph_end = start + transition.frames if transition.kind == "morph" else start
    h0_s = times.seconds(h.at, span.start_s, span.loc("hold", "at"))
    h0 = morph_end if h.at.amount == 0 and h.duration is None else frame_at(span.start_s + h0_s, fps)
    if h.duration is not None:
        h1 = frame_at(span.start_s + h0_s + times.seconds(h.duration, span.start_s + h0_s, span.loc("hold", "duration")), fps)
    else:
        h1 = span.end
    if h0_s > span.dur_s + 0.5 / fps or h1 > span.end:
        times.problems.add(span.loc("hold"), "the hold ends after the scene")
        return HoldFrames(None)
    if h1 <= h0:
        if h.duration is not None:
            times.problems.add(span.loc("hold", "duration"), f"'{h.duration}' is shorter than one frame at {fps} fps; "
                               "a hold lasts at least one frame")
        elif h0 == morph_end > start:
            times.problems.add(span.loc("hold"), f"the morph into this scene lasts the whole scene "
                               f"({transition.frames / fps:.3f}s), so no frame is left for the hold; shorten the "
                               "morph (transition.duration) or remove the hold")
        else:
            times.problems.add(span.loc("hold", "at"), f"'{h.at}' is the scene's end ({span.dur_s:.3f}s); a hold "
                               "lasts at least one frame, so start it earlier")
        return HoldFrames(None)
    moving = prompt_moves(glide, h0 + 1, h1 - 1)  # the prompt changes on these frames, inside the hold
    if moving:
        times.problems.add(span.loc("hold"), overlap_message(span, transition, glide, (h0, h1), moving, fps))
        return HoldFrames(None)
    if h.pulse == "none":
        return HoldFrames((h0, h1))
    if times.grid is None:
        times.problems.add(span.loc("hold", "pulse"), "a pulse on beats needs a tempo: set 'bpm:' or add a music track")
    lo, hi = bisect.bisect_left(beats.frames, h0), bisect.bisect_left(beats.frames, h1)
    hits = tuple(f for f in beats.frames[lo:hi] if h.pulse == "beats" or f in beats.downbeats)
    return HoldFrames((h0, h1), Pulse(h0, h1, hits, h.strength, max(1.0, PULSE_HALF_LIFE_S * fps)))


def overlap_message(span: SceneSpan, transition: TransitionPlan, glide: list[CondRun], hold: tuple[int, int],
                    moving: list[int], fps: int) -> str:
    """Where a hold meets a moving prompt: the hold's span, the glide's (or the morph's) own span and
    the span they share, in seconds into the scene."""
    start = span.start

    def s(frame: int) -> str:
        return f"{(frame - start) / fps:.3f}s"

    first, last = moving[0], moving[-1]
    where = f"the hold ({s(hold[0])} to {s(hold[1])} into the scene) overlaps"
    if transition.kind == "morph" and first < start + transition.frames:
        morph_end = start + transition.frames
        shared = f"{s(hold[0])} to {s(min(hold[1], morph_end))}"
        return (f"{where} the morph into this scene, which glides from {s(start)} to {s(morph_end)} (they share "
                f"{shared}); start the hold when the morph ends (hold.at: {s(morph_end)}) or shorten the morph")
    def ramp_of(*frames: int) -> Ramp | None:  # the glide a change between two frames belongs to
        runs = (next(r for r in glide if r.start <= f < r.end) for f in frames)
        return next((r.ramp for r in runs if r.ramp is not None), None)

    before, after = ramp_of(first, first - 1), ramp_of(last - 1, last)
    g0 = math.ceil(before.t0) if before else first - 1
    g1 = math.ceil(after.t1) if after else last
    return (f"{where} a prompt glide, which moves from {s(g0)} to {s(g1)} (they share {s(max(hold[0], g0))} to "
            f"{s(min(hold[1], g1))}); set hold.at and hold.duration to a span where the prompt stays put")


def scene_seed(board: "Storyboard", index: int) -> int:
    """The scene's noise seed: its own, or derived from ``model.seed`` and its id (so adding a scene
    does not reseed the others)."""
    scene = board.scenes[index]
    if scene.seed is not None:
        return scene.seed
    return (board.model.seed + zlib.crc32(scene_id(board, index).encode())) % 2**31


def scene_plan(board: "Storyboard", span: SceneSpan, keys: list[Key], shot: int, seed: int, hold: HoldFrames) -> ScenePlan:
    scene = board.scenes[span.index]
    return ScenePlan(span.index, scene_id(board, span.index), span.start, span.end, shot, seed,
                     tuple(k.prompt for k in keys), tuple(k.frame for k in keys), span.requested_start_s, hold.span,
                     scene.caption.text if scene.caption else None, round(span.start_s - span.requested_start_s, 6),
                     sync_skipped=span.sync_skipped)


# --- captions, audio, settings --------------------------------------------------------------


def scene_caption(scene: "Scene", span: SceneSpan, times: TimeReader, output: "Output", pager: Pager) -> list[CaptionPlan]:
    """The scene's caption as frames: from ``at`` for ``duration`` (or to the scene's end), at least one
    frame; split into timed pages when it is too long for two lines on the output's frames."""
    c = scene.caption
    if c is None:
        return []
    c0_s = times.seconds(c.at, span.start_s, span.loc("caption", "at"))
    c0 = frame_at(span.start_s + c0_s, times.fps)
    c1 = span.end
    if c.duration:
        c1 = frame_at(span.start_s + c0_s + times.seconds(c.duration, span.start_s + c0_s, span.loc("caption", "duration")), times.fps)
    if c0 >= span.end:
        times.problems.add(span.loc("caption", "at"), "the caption starts after the scene ends")
    return caption_plans(c.text, c0, min(max(c1, c0 + 1), span.end), span.index, output.width, output.height, pager)


def place_audio(script: "Script", times: TimeReader) -> list[AudioTrackPlan]:
    """Each music track on the video timeline, times in seconds, paths resolved."""
    out = []
    for k, track in enumerate(script.storyboard.music):
        loc: Loc = ("music", k)
        out.append(AudioTrackPlan(
            str(script.resolve(track.path)),
            times.seconds(track.offset, 0.0, loc + ("offset",)),
            times.seconds(track.start, 0.0, loc + ("start",)),
            track.volume,
            times.seconds(track.fade_in, 0.0, loc + ("fade_in",)),
            times.seconds(track.fade_out, 0.0, loc + ("fade_out",)),
            loop=track.loop,
        ))
    return out


def tempo_summary(board: "Storyboard", grid: Grid | None, snap_points: Sequence[float] | None) -> dict[str, Any] | None:
    if grid is None:
        return None
    return {"bpm": round(grid.bpm, 3), "beats_per_bar": board.beats_per_bar,
            "source": "music" if isinstance(grid, BeatGrid) else "bpm",
            "sync": board.music[0].sync if board.music and snap_points else "none"}


def model_settings(model: "Model") -> ModelSettings:
    """The model settings the backends read (and the segment cache keys on)."""
    return ModelSettings(model.id, model.revision, model.steps, model.guidance, model.scheduler, model.noise,
                         model.seed, WindowSettings(model.window.frames, model.window.overlap), model.device,
                         model.dtype, model.offload, model.vae_slicing, model.vae_tiling)
