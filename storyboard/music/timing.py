"""Gathering the music for a plan: each track probed, and the first track's beats as video time.

Runs before the plan is compiled (:mod:`storyboard.pipeline`): :func:`probe_music_files` checks each
track's file with one short ffmpeg run, and :func:`music_timing` reads the first track's analysis
(from the analysis cache when it can, running librosa only when the script uses beats and the
track is new) and places its beats on the video's timeline, in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable

from storyboard.music.grid import BeatGrid
from storyboard.script.load import Script
from storyboard.script.timecode import TimeValue, fixed_seconds

if TYPE_CHECKING:
    from storyboard.music.analysis import AudioAnalysis
    from storyboard.script.schema import Storyboard


def probe_music_files(script: Script) -> tuple[Script, list[float]]:
    """Each music track's file length in seconds, after checking that it holds decodable audio
    and that ``start`` lies inside it. Cheap (one short ffmpeg run per file, no librosa).

    A track's problems join the script's :attr:`Script.problems` (returned with them), so that
    planning goes on to report timing errors too; unless the script needs the first track's
    beats, when planning cannot go on: then raises :class:`ScriptErrors` with all so far.
    """
    from storyboard.music.analysis import AudioProbeError, probe_audio

    doc, fps = script.document, script.storyboard.output.fps
    known = {e.path for e in script.problems}
    errors, lengths, unusable = [], [], False
    for i, track in enumerate(script.storyboard.music):
        where = doc.resolve(("music", i, "path"))
        if where in known or any(where[:len(t)] == t for t in script.tainted) or track.start.musical or track.offset.musical:
            lengths.append(0.0)
            unusable = unusable or i == 0
            continue
        try:
            length = probe_audio(script.resolve(track.path)).duration_s
        except (AudioProbeError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            errors.append(doc.error(f"cannot use '{track.path}' as music: {reason}", where))
            lengths.append(0.0)
            unusable = unusable or i == 0
            continue
        start = fixed_seconds(track.start, fps)
        if start >= length:
            errors.append(doc.error(f"start {start:g} s is past the end of '{track.path}', which is {length:g} s long",
                                    doc.resolve(("music", i, "start"))))
            unusable = unusable or i == 0
        lengths.append(length)
    if unusable and needs_beat_grid(script.storyboard):
        raise script.with_problems(errors)
    return replace(script, problems=tuple(script.with_problems(errors).errors)), lengths



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
    if any(musical(t.fade_in) or musical(t.fade_out) for t in board.music):
        return True
    return any(t.sync != "none" for t in board.music)


def music_timing(script: Script, *, analyse_if_needed: bool = True) -> MusicTiming | None:
    """The first music track's beat grid in video time, or None when the script needs none.

    ``start`` (skipped head of the file) and ``offset`` (where the track begins in the
    video) shift the grid: a beat at file time ``t`` falls at ``t - start + offset``.
    Beat 0 is the detected beat nearest to the script's ``downbeat``. The track's ``bpm``
    hint sets the tempo's metrical level (and is part of the cached analysis's key).
    """
    from storyboard.music.analysis import analyse, cached_analysis

    board = script.storyboard
    if not board.music or not needs_beat_grid(board):
        return None
    track = board.music[0]
    if track.start.musical or track.offset.musical or board.downbeat.musical:
        return None  # reported when the script was loaded: these place the grid, so they are in seconds
    path = script.resolve(track.path)
    analysis = analyse(path, bpm=track.bpm) if analyse_if_needed else cached_analysis(path, bpm=track.bpm)
    if analysis is None:
        return None
    fps = board.output.fps
    start = fixed_seconds(track.start, fps)
    shift = fixed_seconds(track.offset, fps) - start
    beats = [t + shift for t in analysis.beats if t >= start]
    if len(beats) < 2:
        return None
    downbeat = fixed_seconds(board.downbeat, fps)
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
