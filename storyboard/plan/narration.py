"""Narration in the plan: ``duration: auto``, the speech on the timeline, and the voice's captions.

The speech itself is gathered before planning (:mod:`storyboard.voice.scene_speech`); the plan
sees only its timings (:class:`SpeechTiming`). :func:`with_auto_durations` turns ``duration: auto``
into seconds from them; then :func:`place_narration`, called by
:func:`storyboard.plan.compile.compile_plan`, puts the speech on the video's timeline, checks that
it fits its scene, and makes caption cues from its sentences (paged to two lines like written
captions).
"""

from __future__ import annotations

import math
from dataclasses import replace
from os import PathLike
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from storyboard.plan.captions import Pager, caption_plans
from storyboard.plan.data import CaptionPlan, MixPlan, NarrationPlan
from storyboard.script.timecode import AutoDuration, TimeValue, fixed_seconds

if TYPE_CHECKING:
    from storyboard.plan.times import TimeReader
    from storyboard.script.load import Script
    from storyboard.script.schema import Scene, Storyboard


class SentenceTiming(Protocol):
    """One spoken sentence: its text, and its span in seconds from the start of its speech."""

    @property
    def text(self) -> str: ...
    @property
    def start_s(self) -> float: ...
    @property
    def end_s(self) -> float: ...


class SpeechTiming(Protocol):
    """What the plan reads of a scene's speech: its audio file, its length (seconds) and its sentences."""

    @property
    def path(self) -> "str | PathLike[str]": ...
    @property
    def duration_s(self) -> float: ...
    @property
    def sentences(self) -> Sequence[SentenceTiming]: ...


def start_s(scene: "Scene", fps: int) -> float:
    """Where the scene's narration starts, in seconds from the scene's start."""
    assert scene.narration is not None
    return fixed_seconds(scene.narration.at, fps)


def with_auto_durations(script: "Script", speech: Mapping[int, SpeechTiming]) -> "Script":
    """The script with each ``duration: auto`` resolved to its narration's length (from ``at`` to
    the end of the speech) plus the padding, rounded up to whole frames (seconds).

    A scene without speech gets 1 s and is marked repaired, so that planning goes on to report
    the rest of the script without blaming that scene's timing on the stand-in: its speech failed
    (that error is reported), or it has no narration at all, which is reported here, at its
    ``duration``, with the script's other problems."""
    board, doc = script.storyboard, script.document
    fps = board.output.fps
    scenes, stand_ins, errors = list(board.scenes), [], []
    for i, scene in enumerate(scenes):
        if not isinstance(scene.duration, AutoDuration):
            continue
        if i in speech:
            pad = fixed_seconds(scene.duration.pad, fps)
            seconds = math.ceil((start_s(scene, fps) + speech[i].duration_s + pad) * fps - 1e-6) / fps
        else:
            seconds = 1.0
            stand_ins.append(("scenes", i, "duration"))
            repaired = any(t[:3] == ("scenes", i, "narration") for t in script.tainted)
            if scene.narration is None and not repaired:
                errors.append(doc.error("duration: auto lasts as long as the scene's narration, and this scene has "
                                        "none; add narration: or give the duration",
                                        doc.resolve(("scenes", i, "duration"))))
        scenes[i] = scene.model_copy(update={"duration": replace(scene.duration, seconds=seconds)})
    if errors:
        script = replace(script, problems=tuple(script.with_problems(errors).errors))
    return replace(script, storyboard=board.model_copy(update={"scenes": scenes}),
                   tainted=script.tainted + tuple(stand_ins))


def place_narration(board: "Storyboard", spans: Sequence, speech: Mapping[int, SpeechTiming],
                    times: "TimeReader", pager: Pager) -> tuple[list[NarrationPlan], list[CaptionPlan]]:
    """Each scene's speech on the video timeline, and its sentences as captions (unless the scene
    has a written caption, or ``voice.captions`` is off). A narration longer than its scene is a
    problem, reported at the scene's ``narration`` with how much too long it is."""
    placed, captions = [], []
    fps, voice = times.fps, board.voice
    for span in spans:
        scene = board.scenes[span.index]
        if scene.narration is None or span.index not in speech:
            continue
        s = speech[span.index]
        at = start_s(scene, fps)
        over = at + s.duration_s - span.dur_s
        if over > 0.5 / fps:
            times.problems.add(span.loc("narration"), f"the narration lasts {s.duration_s:.2f} s from {at:g} s, but the "
                               f"scene is {span.dur_s:.2f} s long: {over:.2f} s too long. Use duration: auto, or "
                               "shorten the text")
            continue
        offset = span.start_s + at
        sentences = tuple((x.text, offset + x.start_s, offset + x.end_s) for x in s.sentences)
        placed.append(NarrationPlan(span.index, str(s.path), offset, s.duration_s, voice.volume, sentences))
        if voice.captions and scene.caption is None:
            captions += sentence_captions(sentences, span, fps, board.output.width, board.output.height, pager)
    return placed, captions


def sentence_captions(sentences: Sequence[tuple[str, float, float]], span, fps: int, width: int,
                      height: int, pager: Pager) -> list[CaptionPlan]:
    """A cue per sentence, from its first spoken frame until the next sentence starts (the last one
    until its speech ends, plus half a second when the scene has room), paged to two lines."""
    out = []
    for k, (text, t0, t1) in enumerate(sentences):
        start = max(span.start, round(t0 * fps))
        end = round(sentences[k + 1][1] * fps) if k + 1 < len(sentences) else round((t1 + 0.5) * fps)
        end = min(max(end, start + 1), span.end)
        if start < end:
            out += caption_plans(text, start, end, span.index, width, height, pager)
    return out


def mix_plan(board: "Storyboard") -> MixPlan:
    """The mix settings in plain numbers (dB, seconds, LUFS)."""
    fps, voice = board.output.fps, board.voice

    def seconds(value: TimeValue, default: float) -> float:  # beats here are reported when the script loads
        return default if value.musical else fixed_seconds(value, fps)

    return MixPlan(voice.duck, seconds(voice.attack, MixPlan.attack_s), seconds(voice.release, MixPlan.release_s),
                   board.output.loudness, board.output.true_peak)
