"""Each narrated scene's speech, gathered before the plan is compiled (:mod:`storyboard.pipeline`).

:func:`speak_scenes` checks each narration for what its words alone can tell (something to say,
a length that can fit its scene, a video within 24 hours), then synthesises what the speech
cache lacks. The plan places the speech it returns (:mod:`storyboard.plan.narration`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from storyboard.errors import Loc, ScriptError
from storyboard.script.timecode import MAX_VIDEO_S, AutoDuration, fixed_seconds
from storyboard.words import plural

if TYPE_CHECKING:
    from storyboard.script.load import Script
    from storyboard.voice.speech import Speech


@dataclass
class Spoken:
    """What :func:`speak_scenes` found: each narrated scene's speech by scene index, the errors that
    stopped any (located), and warnings (a damaged or read-only speech cache)."""

    speech: dict[int, "Speech"] = field(default_factory=dict)
    errors: list[ScriptError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def speak_scenes(script: "Script", *, show_progress: bool = True, stream: TextIO | None = None) -> Spoken:
    """Each narrated scene's speech, synthesising what the speech cache lacks (seconds a minute of speech).

    Before anything is synthesised, each narration is checked for what can be known from its words
    (:mod:`storyboard.voice.utterances`): that it has something to say (not only emoji or symbols);
    that it can fit a scene of written length; and that the video, at the fastest the voice speaks,
    stays within 24 hours (if not, nothing is synthesised). Synthesis shows progress on ``stream``
    (stderr) when it is long (:class:`storyboard.voice.progress.SpeakingProgress`); ``show_progress``
    off shows none.
    """
    board, doc = script.storyboard, script.document
    spoken = Spoken()
    if all(scene.narration is None for scene in board.scenes):
        return spoken  # nothing to say: the speech engine (and numpy) stay unimported
    from storyboard.errors import UsageError
    from storyboard.voice.progress import SpeakingProgress
    from storyboard.voice.speech import cached_speech, speak, split_sentences
    from storyboard.voice.voices import find_voice

    fps = board.output.fps
    asked = []  # (scene index, text, voice, speed, pause seconds)
    for i, scene in enumerate(board.scenes):
        n = scene.narration
        if n is None or any(("scenes", i, "narration")[:len(t)] == t[:3] for t in script.tainted):
            continue
        if n.at.musical or (n.pause or board.voice.pause).musical:  # reported when the script was loaded
            continue
        where: Loc = ("scenes", i, "narration", "voice") if n.voice else ("voice", "voice")
        try:
            voice = find_voice(n.voice or board.voice.voice, script.folder)
        except UsageError as exc:
            spoken.errors.append(doc.error(str(exc), doc.resolve(where)))
            continue
        pause = fixed_seconds(n.pause if n.pause is not None else board.voice.pause, fps)
        asked.append((i, n.text, voice, n.speed or board.voice.speed, pause))
    asked = _fitting(script, asked, spoken.errors)
    todo, words = [], 0
    for i, text, voice, speed, pause in asked:
        cached = cached_speech(text, voice, speed, pause)
        if cached is not None:
            spoken.speech[i] = cached
        else:
            todo.append((i, text, voice, speed, pause))
            words += sum(len(s.split()) for s in split_sentences(text))

    def warn(message: str) -> None:
        if message not in spoken.warnings:
            spoken.warnings.append(message)

    with SpeakingProgress(len(todo), words, stream, show=show_progress) as progress:
        for i, text, voice, speed, pause in todo:
            try:
                spoken.speech[i] = speak(text, voice, speed, pause, on_sentence=progress.sentence, warn=warn)
            except Exception as exc:  # the engine could not load the voice or speak it (onnxruntime's own errors too)
                spoken.errors.append(doc.error(f"the voice could not speak this narration: {type(exc).__name__}: "
                                               f"{exc}", doc.resolve(("scenes", i, "narration"))))
            progress.scene()
    return spoken


def _fitting(script: "Script", asked: list, errors: list[ScriptError]) -> list:
    """The narrations of ``asked`` worth synthesising; an error for each of the others, from its words
    alone: nothing to say, longer than its scene even at the voice's fastest, or a video past 24 hours
    (then none is worth it)."""
    from storyboard.voice.speech import split_sentences
    from storyboard.voice.utterances import has_words, shortest_speech_s, usual_speech_s

    board, doc = script.storyboard, script.document
    fps = board.output.fps
    narrated = {entry[0]: entry for entry in asked}
    kept, total_s, least_s, usual_s, words = [], 0.0, 0.0, 0.0, 0
    fixed_counts = not (board.music and board.music[0].sync != "none")  # sync may move fixed ends earlier
    for i, scene in enumerate(board.scenes):
        auto = isinstance(scene.duration, AutoDuration)
        if i in narrated:
            _, text, voice, speed, pause = narrated[i]
            where = doc.resolve(("scenes", i, "narration"))
            if not has_words(text):
                short = text if len(text) <= 40 else text[:39] + "…"
                errors.append(doc.error(f"'{short}' has nothing a voice can say: no letter or digit once emoji and "
                                        "symbols are left out. Write it in words", where))
                continue
            at = fixed_seconds(scene.narration.at, fps) if scene.narration else 0.0  # from the scene's start
            least = at + shortest_speech_s(text, speed, pause, len(split_sentences(text)))
            least_s += least - at
            usual_s += usual_speech_s(text, speed)
            words += len(text.split())
            if not auto and not scene.duration.musical:
                length = fixed_seconds(scene.duration, fps)
                if least - length > 0.5 / fps:
                    errors.append(doc.error(
                        f"the narration ({plural(len(text.split()), 'word')}) takes at least {least - at:.2f} s to say "
                        f"(about {usual_speech_s(text, speed):.0f} s at the voice's usual pace) from {at:g} s, but the "
                        f"scene is {length:.2f} s long. Use duration: auto, or shorten the text", where))
                    continue
            kept.append(narrated[i])
        if auto and i in narrated:
            total_s += least + fixed_seconds(scene.duration.pad, fps)
        elif not auto and not scene.duration.musical and fixed_counts:
            total_s += fixed_seconds(scene.duration, fps)
        if total_s > MAX_VIDEO_S:
            where = doc.resolve(("scenes", i, "narration" if i in narrated else "duration"))
            errors.append(doc.error(
                f"the video would last at least {total_s / 3600:.1f} hours by the end of this scene: its narration so "
                f"far ({plural(words, 'word')}) takes at least {least_s / 3600:.1f} hours to say (about "
                f"{usual_s / 3600:.1f} hours at the voice's usual pace), and a script may describe at most 24 hours. "
                "Shorten the narration, or split it into several scripts", where))
            return []
    return kept
