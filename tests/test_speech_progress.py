"""Progress while narration is synthesised: lines on stderr that count up to the total, a bar on a
terminal, nothing when the speech is cached or the work is short.

Before, the first `validate` of a narrated 12-minute script printed nothing for 158 s.
"""

from __future__ import annotations

import io
import re

import pytest
from helpers import write

import storyboard.voice.progress as progress
from storyboard.cli import main

SCENES = ["The storm grew over the warm sea.", "Families packed the car. The roads filled by noon.",
          "By night the wind had turned."]


def narrated(tmp_path):
    scenes = "".join(f"  - {{duration: auto, prompts: p{k}, narration: '{text}'}}\n" for k, text in enumerate(SCENES))
    return write(tmp_path / "n.yaml", "scenes:\n" + scenes)


def counts(err: str) -> list[tuple[int, int, int, int]]:
    return [tuple(map(int, m)) for m in re.findall(r"^speaking narration: (\d+)/(\d+) scenes?, (\d+)/(\d+) words?$",
                                                   err, re.M)]


def test_the_first_validate_counts_up_to_the_total_and_a_cached_one_says_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(progress, "LONG_WORDS", 5)  # these 22 words count as long work
    monkeypatch.setattr(progress, "EVERY_S", 0.0)  # a line at every step
    script = narrated(tmp_path)
    assert main(["validate", str(script)]) == 0
    seen = counts(capsys.readouterr().err)
    words = sum(len(t.split()) for t in SCENES)
    assert seen[0] == (0, 3, 0, words) and seen[-1] == (3, 3, words, words)
    assert all(a[0] <= b[0] and a[2] <= b[2] for a, b in zip(seen, seen[1:])), seen
    assert {s[2] for s in seen} == {0, 7, 7 + 4, 7 + 4 + 5, words}  # sentence by sentence
    assert main(["validate", str(script)]) == 0  # cached now
    assert "speaking" not in capsys.readouterr().err


def test_short_work_shows_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(progress, "EVERY_S", 0.0)
    assert main(["validate", str(narrated(tmp_path))]) == 0  # 22 words: a second or two of synthesis
    assert "speaking" not in capsys.readouterr().err


def test_plain_lines_come_every_few_seconds_and_at_the_end(monkeypatch):
    clock = iter([0.0, 1.0, 11.0, 12.0, 12.5, 13.0, 13.5])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    with progress.SpeakingProgress(2, 400, out) as shown:  # 0 s: the first line
        shown.sentence(100)  # 1 s: quiet
        shown.sentence(100)  # 11 s: a line
        shown.scene()  # 12 s: quiet
        shown.sentence(200)  # 12.5 s: quiet
        shown.scene()  # 13 s: quiet; 13.5 s: the last count, as it closes
    assert out.getvalue().splitlines() == ["speaking narration: 0/2 scenes, 0/400 words",
                                           "speaking narration: 0/2 scenes, 200/400 words",
                                           "speaking narration: 2/2 scenes, 400/400 words"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar(monkeypatch):
    out = Terminal()
    with progress.SpeakingProgress(3, 300, out) as shown:
        shown.sentence(150)
        shown.scene()
    drawn = out.getvalue()
    assert "speaking narration" in drawn and "150/300" in drawn and "1/3 scenes" in drawn
    assert "speaking narration: 0/3" not in drawn  # a bar, not lines


@pytest.mark.parametrize("show", [False, True])
def test_progress_can_be_turned_off(show):
    out = io.StringIO()
    with progress.SpeakingProgress(3, 3000, out, show=show) as shown:
        shown.sentence(3000)
        shown.scene()
    assert bool(out.getvalue()) == show
