"""Script (+ the music's analysis) -> plan: what ``validate``, ``plan`` and ``render`` call.

:func:`storyboard.plan.compile.compile_plan` stays a pure function of its inputs; this is the
one place that fetches the music's beat grid for it (from the analysis cache when it
can, running librosa only when the script uses beats and the track is new).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

from storyboard.errors import PlanError
from storyboard.music.grid import BeatGrid
from storyboard.plan.captions import text_warnings
from storyboard.plan.compile import compile_plan
from storyboard.plan.data import Plan
from storyboard.plan.narration import speak_scenes, with_auto_durations
from storyboard.script.load import Script
from storyboard.script.timecode import TimeValue, clock_seconds

if TYPE_CHECKING:
    from storyboard.music.analysis import AudioAnalysis
    from storyboard.script.schema import Storyboard


@dataclass(frozen=True)
class Planned:
    plan: Plan
    warnings: tuple[str, ...] = ()


def plan_script(script: Script, *, analyse: bool = True, show_progress: bool = True) -> Planned:
    """Compile ``script``; music drives beats and bars when the script uses them.

    Every music track is probed first (decodable audio, ``start`` inside the file), and each
    narration is spoken (or found in the speech cache), with progress on stderr when that is
    long, unless ``show_progress`` is off.
    Raises :class:`ScriptErrors` located in the script's source, with the errors the script
    was loaded with (:attr:`Script.problems`): a script with any never yields a plan.
    """
    timing = None
    board = script.storyboard
    script, lengths = check_music_files(script)
    spoken = speak_scenes(script, show_progress=show_progress)
    warnings: list[str] = list(spoken.warnings)
    speech = spoken.speech
    script = with_auto_durations(replace(script, problems=script.with_problems(spoken.errors).errors), speech)
    if board.music and needs_beat_grid(board):
        try:
            timing = music_timing(script, analyse_if_needed=analyse)
        except Exception as exc:  # unreadable audio: say which file
            doc = script.document
            raise script.with_problems([doc.error(f"cannot analyse '{board.music[0].path}': {type(exc).__name__}: "
                                                  f"{exc}", doc.resolve(("music", 0, "path")))]) from None
        if timing is not None:
            from storyboard.music.advice import plan_advice

            warnings += plan_advice(timing.analysis, board.music[0].path)
        if timing is not None and timing.analysis.confident and timing.analysis.close_call:
            a = timing.analysis
            warnings.append(
                f"music '{board.music[0].path}': tempo {a.tempo_bpm:.1f} BPM was a close call ({a.runner_up_bpm:.1f} "
                f"BPM also fits); beats and bars follow {a.tempo_bpm:.1f} BPM. To choose, set bpm: on the music "
                f"track: bpm: {a.runner_up_bpm:.0f} for the other, bpm: {a.tempo_bpm:.0f} to keep this one."
            )
        if timing is not None and board.bpm is not None:
            warnings.append(f"bpm: {board.bpm:g} is ignored: beats follow the music ({timing.analysis.tempo_bpm:.1f} BPM)")
    try:
        if timing is None:
            plan = compile_plan(script, speech=speech)
        else:
            plan = compile_plan(script, timing.grid, timing.onset_strength, timing.snap_points, speech)
    except PlanError as exc:
        raise script.plan_errors(exc) from None
    script = replace(script, problems=script.with_problems(model_size_errors(script)).errors)
    script.check()
    warnings += sync_warnings(board, plan, timing.snap_points if timing else None)
    warnings += music_end_warnings(board, plan, lengths)
    warnings += text_warnings(board, plan)
    if board.model.id != "preview":
        from storyboard.backends.model_checks import model_warnings

        warnings += model_warnings(board.model.id, board.model.revision)
    return Planned(plan, tuple(warnings))


def model_size_errors(script: Script) -> list:
    """The model ``model.id`` names against this machine and the output size, before torch is
    imported (:func:`storyboard.backends.model_checks.model_problems`: a near miss of a built-in name, a
    missing folder, a hub id not cached while offline, a pipeline no family drives, and the size
    rule), located at ``model.id`` or ``output.width`` / ``output.height``. The family checks the
    size again, with the same rule and words, when it loads the model."""
    from storyboard.errors import ScriptError
    from storyboard.backends.model_checks import model_problems

    board, doc = script.storyboard, script.document
    written = doc.data.get("model") if isinstance(doc.data, dict) else None
    written = written.get("id") if isinstance(written, dict) else written
    errors = []
    for p in model_problems(board.model.id, board.output.width, board.output.height, board.model.revision):
        if p.field == "id" and written != board.model.id:  # the id came from --model: no line of the script to show
            errors.append(ScriptError(f"--model {p.message}", file=doc.file))
        else:
            errors.append(doc.error(p.message, doc.resolve(("model", "id") if p.field == "id" else ("output", p.field))))
    return errors


# --- the music files: probed before anything is planned ------------------------------------


def check_music_files(script: Script) -> tuple[Script, list[float]]:
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
        start = clock_seconds(track.start, fps)
        if start >= length:
            errors.append(doc.error(f"start {start:g} s is past the end of '{track.path}', which is {length:g} s long",
                                    doc.resolve(("music", i, "start"))))
            unusable = unusable or i == 0
        lengths.append(length)
    if unusable and needs_beat_grid(script.storyboard):
        raise script.with_problems(errors)
    return replace(script, problems=tuple(script.with_problems(errors).errors)), lengths


def music_end_warnings(board: "Storyboard", plan: Plan, lengths: list[float]) -> list[str]:
    """Warnings for music that stops before the video ends (how many seconds of silence
    follow) or that starts after it. ``lengths``: each track's file length in seconds."""
    end = plan.duration_s
    warnings: list[str] = []
    heard_until, last = 0.0, None
    for track, placed, length in zip(board.music, plan.audio, lengths):
        if placed.offset_s >= end:
            warnings.append(f"music '{track.path}' starts at {placed.offset_s:g} s, after the video ends "
                            f"({end:.3f} s): it is not heard")
            continue
        stops = end if placed.loop else min(end, placed.offset_s + length - placed.start_s)
        if stops >= heard_until:
            heard_until, last = stops, track
    silence = end - heard_until
    if last is not None and silence > 1.0 / plan.fps:
        warnings.append(f"music '{last.path}' ends at {heard_until:.3f} s: the last {silence:.3f} s of the video "
                        f"({end:.3f} s long) are silent. Set loop: true on the track to repeat it, or shorten the scenes.")
    return warnings


def sync_warnings(board: "Storyboard", plan: Plan, points: Sequence[float] | None) -> list[str]:
    """A warning for each scene whose end ``sync`` left as written: no snap point within reach
    (one beat; one bar with ``sync: bars``), e.g. before the music starts or after it ends."""
    if not points or not board.music:
        return []
    sync = board.music[0].sync
    what = {"beats": "beat", "bars": "downbeat", "onsets": "onset"}.get(sync, "snap point")
    reach = "one bar" if sync == "bars" else "one beat"
    warnings = []
    for scene in plan.scenes:
        if not scene.sync_skipped:
            continue
        nxt = scene.index + 1
        end = plan.scenes[nxt].requested_start_s if nxt < len(plan.scenes) else plan.duration_s - plan.end_snapped_s
        nearest = min(points, key=lambda p: abs(p - end))
        warnings.append(f"scene '{scene.id}': sync: {sync} left its end at {end:.3f} s as written: no {what} within "
                        f"{reach} of it (the nearest is at {nearest:.3f} s, {abs(nearest - end):.3f} s away)")
    return warnings


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
