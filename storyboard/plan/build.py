"""Script (+ the music's analysis) -> plan: what ``validate``, ``plan`` and ``render`` call.

:func:`storyboard.plan.compile.compile_plan` stays a pure function of its inputs; this is the
one place that fetches the music's beat grid for it (from the analysis cache when it
can, running librosa only when the script uses beats and the track is new).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from storyboard.errors import PlanError, ScriptErrors
from storyboard.music.grid import BeatGrid
from storyboard.plan.compile import compile_plan
from storyboard.plan.data import Plan
from storyboard.script.load import Script
from storyboard.script.timecode import TimeValue, clock_seconds

if TYPE_CHECKING:
    from storyboard.music.analysis import AudioAnalysis
    from storyboard.script.schema import Storyboard


@dataclass(frozen=True)
class Planned:
    plan: Plan
    warnings: tuple[str, ...] = ()


def plan_script(script: Script, *, analyse: bool = True) -> Planned:
    """Compile ``script``; music drives beats and bars when the script uses them.

    Raises :class:`ScriptErrors` located in the script's source.
    """
    timing = None
    warnings: list[str] = []
    board = script.storyboard
    if board.music:
        if needs_beat_grid(board):
            try:
                timing = music_timing(script, analyse_if_needed=analyse)
            except Exception as exc:  # unreadable audio: say which file
                doc = script.document
                raise ScriptErrors([doc.error(f"cannot analyse '{board.music[0].path}': {type(exc).__name__}: {exc}",
                                              doc.resolve(("music", 0, "path")))]) from None
            if timing is not None and not timing.analysis.confident:
                a = timing.analysis
                warnings.append(
                    f"music '{board.music[0].path}': no clear, regular pulse (steadiness {a.steadiness:.3f}, "
                    f"coverage {a.coverage:.0%}); its {len(a.beats)} beats at {a.tempo_bpm:.1f} BPM are a guess. "
                    "Check them with `storyboard plan --plot`, or set bpm: and remove the music's sync."
                )
            if timing is not None and board.bpm is not None:
                warnings.append(f"bpm: {board.bpm:g} is ignored: beats follow the music ({timing.analysis.tempo_bpm:.1f} BPM)")
    try:
        if timing is None:
            return Planned(compile_plan(script), tuple(warnings))
        return Planned(compile_plan(script, timing.grid, timing.onset_strength, timing.snap_points), tuple(warnings))
    except PlanError as exc:
        raise script.plan_errors(exc) from None


# --- the music's timing for a plan -------------------------------------------------------


@dataclass(frozen=True)
class MusicTiming:
    """What :func:`storyboard.plan.compile.compile_plan` needs from the music, in *video* seconds."""

    grid: BeatGrid
    onset_strength: Callable[[float], float]  # video seconds -> step height for beats curves
    snap_points: tuple[float, ...] | None
    analysis: "AudioAnalysis"


def needs_beat_grid(board: "Storyboard") -> bool:
    """Whether a script uses beats: musical times, ``beats`` curves, pulses or ``sync``."""
    def musical(value) -> bool:
        return isinstance(value, TimeValue) and value.musical

    for scene in board.scenes:
        times = [scene.duration, scene.transition.duration]
        times += [k.at for k in scene.prompts]
        if scene.hold:
            times += [scene.hold.at, scene.hold.duration]
        if scene.caption:
            times += [scene.caption.at, scene.caption.duration]
        if any(musical(t) for t in times):
            return True
        if "beats" in (scene.curve, scene.transition.curve, *(k.curve for k in scene.prompts)):
            return True
        if scene.hold and scene.hold.pulse != "none":
            return True
    return any(t.sync != "none" for t in board.music)


def music_timing(script: Script, *, analyse_if_needed: bool = True) -> MusicTiming | None:
    """The first music track's beat grid in video time, or None when the script needs none.

    ``start`` (skipped head of the file) and ``offset`` (where the track begins in the
    video) shift the grid: a beat at file time ``t`` falls at ``t - start + offset``.
    Beat 0 is the detected beat nearest to the script's ``downbeat``.
    """
    from storyboard.music.analysis import analyse, cached_analysis

    board = script.storyboard
    if not board.music or not needs_beat_grid(board):
        return None
    track = board.music[0]
    path = script.resolve(track.path)
    analysis = analyse(path) if analyse_if_needed else cached_analysis(path)
    if analysis is None:
        return None
    fps = board.output.fps
    start = clock_seconds(track.start, fps)
    shift = clock_seconds(track.offset, fps) - start
    beats = [t + shift for t in analysis.beats if t >= start]
    if len(beats) < 2:
        return None
    downbeat = clock_seconds(board.downbeat, fps)
    first = min(range(len(beats)), key=lambda i: abs(beats[i] - downbeat))
    grid_times = tuple(beats[first:]) if len(beats) - first >= 2 else tuple(beats)
    grid = BeatGrid(grid_times, board.beats_per_bar)

    def strength(video_s: float) -> float:
        return 0.25 + 0.75 * analysis.strength_at(video_s - shift)

    snap = None
    if track.sync == "beats":
        snap = grid_times
    elif track.sync == "bars":
        snap = grid_times[:: board.beats_per_bar]
    elif track.sync == "onsets":
        snap = tuple(t + shift for t in analysis.onsets if t >= start)
    return MusicTiming(grid, strength, snap, analysis)
