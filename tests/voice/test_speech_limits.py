"""Narration checked from its words before any synthesis, and text the engine is never given whole.

Before: 5 MB of prose became a 98-hour script that `validate` started to synthesise before it
checked the 24-hour limit; emoji-only narration was read out by name; a giant word (30,000 letters)
asked onnxruntime for 3.5 GB for one attention matrix and ended in an ONNXRuntimeError.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import write

from storyboard.cli import main
from storyboard.voice.utterances import MAX_UTTERANCE_CHARS, has_words, speakable, utterances


@pytest.fixture
def no_synthesis(monkeypatch):
    """Fail the test if anything is synthesised."""
    import storyboard.voice.speech

    def refuse(*args, **kwargs):
        raise AssertionError("synthesised")

    monkeypatch.setattr(storyboard.voice.speech, "synthesise", refuse)


def test_a_narration_that_cannot_fit_24_hours_is_refused_before_synthesis(tmp_path, private_cache, no_synthesis,
                                                                           capsys):
    prose = "Warm water feeds the storm and the wind grows stronger every hour. " * 1500
    script = write(tmp_path / "long.yaml", f"""\
        scenes:
          - {{id: title, duration: 84600s, prompts: a sea}}
          - id: story
            duration: auto
            prompts: a storm
            narration: "{prose.strip()}"
        """)
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    # 18,000 words, 81,000 letters: at least 81,000 / 40 s, with 1,499 pauses of 0.35 s; about 81,000 / 14 s
    assert re.search(r"long\.yaml:6:16: error: scenes\[1\]\.narration: the video would last at least 24\.2 hours by "
                     r"the end of this scene: its narration so far \(18000 words\) takes at least 0\.7 hours to say "
                     r"\(about 1\.6 hours at the voice's usual pace\), and a script may describe at most 24 hours\. Shorten the "
                     r"narration, or split it into several scripts", err), err


def test_pauses_count_toward_the_24_hours(tmp_path, private_cache, no_synthesis, capsys):
    text = " ".join(["Go on."] * 9000)  # 9,000 sentences, 10 s between them: 25 hours of silence, and 36,000 letters
    script = write(tmp_path / "pauses.yaml", f"scenes:\n  - {{duration: auto, prompts: a, narration: {{text: '{text}', "
                                             f"pause: 10s}}}}\n")
    assert main(["validate", str(script)]) == 2
    assert "scenes[0].narration: the video would last at least 25.2 hours" in capsys.readouterr().err


def test_a_narration_longer_than_its_scene_at_any_pace_is_refused_before_synthesis(tmp_path, private_cache,
                                                                                   no_synthesis, capsys):
    text = "Hurricanes form over warm water and can be hundreds of kilometres wide. " * 4  # 236 letters: at least 5.9 s
    script = write(tmp_path / "fixed.yaml", f"scenes:\n  - {{duration: 3s, prompts: a, narration: '{text.strip()}'}}\n")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    found = re.search(r"fixed\.yaml:2:43: error: scenes\[0\]\.narration: the narration \(48 words\) takes at least "
                      r"([\d.]+) s to say \(about (\d+) s at the voice's usual pace\) from 0 s, but the scene is 3\.00 s "
                      r"long\. Use duration: auto, or shorten the text", err)
    assert found, err[-3000:]
    assert float(found.group(1)) == pytest.approx(236 / 40 + 3 * 0.35, abs=0.01) and int(found.group(2)) == 17


@pytest.mark.parametrize("text", ["🎉🎉🎉", "👍🏽 ➡️ ✅", "...", "— * —"])
def test_narration_with_nothing_to_say_is_refused_at_its_field(tmp_path, private_cache, no_synthesis, capsys, text):
    script = write(tmp_path / "e.yaml", f"""\
        scenes:
          - {{duration: 2s, prompts: a}}
          - {{duration: 3s, prompts: b, narration: "{text}"}}
        """)
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert f"e.yaml:3:43: error: scenes[1].narration: '{text}' has nothing a voice can say: no letter or digit once " \
           "emoji and symbols are left out. Write it in words" in err, err[-3000:]


def test_what_the_engine_is_given():
    assert speakable("Party time 🎉🎉! It is 30 °C 👍🏽 and sunny ☀️.") == "Party time ! It is 30 °C and sunny ."
    assert speakable("👨‍👩‍👧 1️⃣ café") == "1 café"
    assert speakable("x" * 95) == " ".join(["x" * 40, "x" * 40, "x" * 15])
    assert not has_words("🎉 ✅ ...") and has_words("3 🎉")
    clauses = utterances(", ".join(["the wind rises over the warm sea"] * 100) + ".")
    assert max(map(len, clauses)) <= MAX_UTTERANCE_CHARS and all(c.endswith(",") for c in clauses[:-1])
    assert " ".join(clauses).split() == (", ".join(["the wind rises over the warm sea"] * 100) + ".").split()


def test_synthesis_never_gives_the_engine_a_giant_utterance_or_emoji():
    """A fake engine records what piper would be asked: at most 400 characters, no emoji, every letter."""
    from storyboard.voice.speech import synthesise
    from storyboard.voice.voices import find_voice

    asked: list[str] = []

    def engine(text: str) -> np.ndarray:
        asked.append(text)
        return np.full(len(text), 0.1, np.float32)

    giant = "b" * 30_000
    unpunctuated = " ".join(["and then the water rose"] * 2000)
    sentences = [f"{giant}.", unpunctuated, "🎉🎉.", "Done 🎉."]
    rate, timed, audio = synthesise(sentences, find_voice("en_US-joe-medium"), 1.0, 0.0, engine=engine)
    assert max(map(len, asked)) <= MAX_UTTERANCE_CHARS
    assert sum(c == "b" for c in "".join(asked)) == 30_000
    assert "".join(asked).count("water") == 2000 and not any("🎉" in a for a in asked)
    assert timed[2].start_s == timed[2].end_s  # nothing to say: no time
    assert asked[-1] == "Done ." and len(audio) == sum(map(len, asked))
