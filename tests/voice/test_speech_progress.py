"""Progress while narration is synthesised: ``speak`` events that count words and scenes up to the
total, plain lines on a log, a bar on a terminal, nothing when the speech is cached or the work is short.

Before, the first `validate` of a narrated 12-minute script printed nothing for 158 s.
"""

from __future__ import annotations

import io

import pytest
from helpers import write

import storyboard.voice.progress as progress
from storyboard.cli import main
from storyboard.progress import Advanced, Finished, Started, from_json

SCENES = ["The storm grew over the warm sea.", "Families packed the car. The roads filled by noon.",
          "By night the wind had turned."]


def narrated(tmp_path):
    scenes = "".join(f"  - {{duration: auto, prompts: p{k}, narration: '{text}'}}\n" for k, text in enumerate(SCENES))
    return write(tmp_path / "n.yaml", "scenes:\n" + scenes)


def events_of(err: str) -> list:
    return [e for e in map(from_json, err.splitlines()) if e is not None]


def test_the_first_validate_counts_up_to_the_total_and_a_cached_one_says_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STORYBOARD_PROGRESS", "json")
    monkeypatch.setattr(progress, "LONG_WORDS", 5)  # these 22 words count as long work
    script = narrated(tmp_path)
    assert main(["validate", str(script)]) == 0
    events = events_of(capsys.readouterr().err)
    words = sum(len(t.split()) for t in SCENES)
    assert events[0] == Started("speak", words, "word", parts=3, part_unit="scene")
    assert events[-1] == Finished("speak")
    counts = [(e.done, e.parts) for e in events if isinstance(e, Advanced)]
    assert counts == sorted(counts) and counts[-1] == (words, 3), counts
    assert {done for done, _ in counts} == {7, 7 + 4, 7 + 4 + 5, words}  # sentence by sentence
    assert main(["validate", str(script)]) == 0  # cached now
    assert not events_of(capsys.readouterr().err)


def test_short_work_shows_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("STORYBOARD_PROGRESS", "json")
    assert main(["validate", str(narrated(tmp_path))]) == 0  # 22 words: a second or two of synthesis
    assert not [e for e in events_of(capsys.readouterr().err) if getattr(e, "stage", "") == "speak"]


def test_plain_lines_come_at_each_tenth_and_at_the_end():
    out = io.StringIO()
    with progress.SpeakingProgress(2, 400, out) as shown:  # the first line
        shown.sentence(20)  # quiet: not a tenth yet
        shown.sentence(80)  # a line
        shown.sentence(100)  # a line
        shown.scene()  # quiet
        shown.sentence(200)  # a line
        shown.scene()  # quiet; the last count, as it closes
    assert out.getvalue().splitlines() == ["speaking narration: 0/2 scenes, 0/400 words",
                                           "speaking narration: 0/2 scenes, 100/400 words",
                                           "speaking narration: 0/2 scenes, 200/400 words",
                                           "speaking narration: 1/2 scenes, 400/400 words",
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
