"""Narration in the plan: speech for each narrated scene, ``duration: auto``, and the voice's captions.

:func:`speak_scenes` synthesises (or finds in the speech cache) each scene's narration;
:func:`with_auto_durations` turns ``duration: auto`` into seconds from it; then
:func:`place_narration`, called by :func:`storyboard.plan.compile.compile_plan`, puts the
speech on the video's timeline, checks that it fits its scene, and makes caption cues from
its sentences (paged to two lines like written captions).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Mapping, Sequence

from storyboard.errors import Loc, ScriptError
from storyboard.plan.captions import caption_plans
from storyboard.plan.data import CaptionPlan, MixPlan, NarrationPlan
from storyboard.script.timecode import AutoDuration, TimeValue, clock_seconds

if TYPE_CHECKING:
    from storyboard.plan.clock import Clock
    from storyboard.script.load import Script
    from storyboard.script.schema import Scene, Storyboard
    from storyboard.voice.speech import Speech


def speak_scenes(script: "Script") -> tuple[dict[int, "Speech"], list[ScriptError]]:
    """Each narrated scene's speech, by scene index, and the errors that stopped any (an unknown
    voice, a start in beats). Synthesises what the speech cache lacks (seconds a minute of speech)."""
    board, doc = script.storyboard, script.document
    speech, errors = {}, []
    if all(scene.narration is None for scene in board.scenes):
        return speech, errors  # nothing to say: the speech engine (and numpy) stay unimported
    from storyboard.errors import UsageError
    from storyboard.voice.speech import speak
    from storyboard.voice.voices import find_voice

    for i, scene in enumerate(board.scenes):
        n = scene.narration
        if n is None or any(("scenes", i, "narration")[:len(t)] == t[:3] for t in script.tainted):
            continue
        if n.at.musical or (n.pause or board.voice.pause).musical:  # reported when the script was loaded
            continue
        where: Loc = ("scenes", i, "narration", "voice") if n.voice else ("voice", "voice")
        try:
            voice = find_voice(n.voice or board.voice.voice, script.folder)
            pause = clock_seconds(n.pause if n.pause is not None else board.voice.pause, board.output.fps)
            speech[i] = speak(n.text, voice, n.speed or board.voice.speed, pause)
        except UsageError as exc:
            errors.append(doc.error(str(exc), doc.resolve(where)))
        except Exception as exc:  # the engine could not load the voice or speak it (onnxruntime's own errors too)
            errors.append(doc.error(f"the voice could not speak this narration: {type(exc).__name__}: {exc}",
                                    doc.resolve(("scenes", i, "narration"))))
    return speech, errors


def start_s(scene: "Scene", fps: int) -> float:
    """Where the scene's narration starts, in seconds from the scene's start."""
    assert scene.narration is not None
    return clock_seconds(scene.narration.at, fps)


def with_auto_durations(script: "Script", speech: Mapping[int, "Speech"]) -> "Script":
    """The script with each ``duration: auto`` resolved to its narration's length (from ``at`` to
    the end of the speech) plus the padding, rounded up to whole frames (seconds). A scene whose
    speech failed gets 1 s and is marked repaired, so that planning can go on to report the
    rest without blaming that scene's timing on the stand-in."""
    board = script.storyboard
    fps = board.output.fps
    scenes, stand_ins = list(board.scenes), []
    for i, scene in enumerate(scenes):
        if not isinstance(scene.duration, AutoDuration):
            continue
        if i in speech:
            pad = clock_seconds(scene.duration.pad, fps)
            seconds = math.ceil((start_s(scene, fps) + speech[i].duration_s + pad) * fps - 1e-6) / fps
        else:  # its speech failed, and that error is reported
            seconds = 1.0
            stand_ins.append(("scenes", i, "duration"))
        scenes[i] = scene.model_copy(update={"duration": replace(scene.duration, seconds=seconds)})
    return replace(script, storyboard=board.model_copy(update={"scenes": scenes}),
                   tainted=script.tainted + tuple(stand_ins))


def place_narration(board: "Storyboard", spans: Sequence, speech: Mapping[int, "Speech"],
                    clock: "Clock") -> tuple[list[NarrationPlan], list[CaptionPlan]]:
    """Each scene's speech on the video timeline, and its sentences as captions (unless the scene
    has a written caption, or ``voice.captions`` is off). A narration longer than its scene is a
    problem, reported at the scene's ``narration`` with how much too long it is."""
    placed, captions = [], []
    fps, voice = clock.fps, board.voice
    for span in spans:
        scene = board.scenes[span.index]
        if scene.narration is None or span.index not in speech:
            continue
        s = speech[span.index]
        at = start_s(scene, fps)
        over = at + s.duration_s - span.dur_s
        if over > 0.5 / fps:
            clock.problems.add(span.loc("narration"), f"the narration lasts {s.duration_s:.2f} s from {at:g} s, but the "
                               f"scene is {span.dur_s:.2f} s long: {over:.2f} s too long. Use duration: auto, or "
                               "shorten the text")
            continue
        offset = span.start_s + at
        sentences = tuple((x.text, offset + x.start_s, offset + x.end_s) for x in s.sentences)
        placed.append(NarrationPlan(span.index, str(s.path), offset, s.duration_s, voice.volume, sentences))
        if voice.captions and scene.caption is None:
            captions += sentence_captions(sentences, span, fps, board.output.width, board.output.height)
    return placed, captions


def sentence_captions(sentences: Sequence[tuple[str, float, float]], span, fps: int, width: int,
                      height: int) -> list[CaptionPlan]:
    """A cue per sentence, from its first spoken frame until the next sentence starts (the last one
    until its speech ends, plus half a second when the scene has room), paged to two lines."""
    out = []
    for k, (text, t0, t1) in enumerate(sentences):
        start = max(span.start, round(t0 * fps))
        end = round(sentences[k + 1][1] * fps) if k + 1 < len(sentences) else round((t1 + 0.5) * fps)
        end = min(max(end, start + 1), span.end)
        if start < end:
            out += caption_plans(text, start, end, span.index, width, height)
    return out


def mix_plan(board: "Storyboard") -> MixPlan:
    """The mix settings in plain numbers (dB, seconds, LUFS)."""
    fps, voice = board.output.fps, board.voice

    def seconds(value: TimeValue, default: float) -> float:  # beats here are reported when the script loads
        return default if value.musical else clock_seconds(value, fps)

    return MixPlan(voice.duck, seconds(voice.attack, MixPlan.attack_s), seconds(voice.release, MixPlan.release_s),
                   board.output.loudness, board.output.true_peak)
