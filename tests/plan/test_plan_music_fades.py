"""A music track's fades written in beats: the script has a music track, so its beat grid is fetched
(it used to say "set 'bpm:' ... or add a music track" to a script that had one)."""

from __future__ import annotations

import pytest

from storyboard.errors import PlanError
from storyboard.music.grid import ConstantTempo
from storyboard.music.timing import needs_beat_grid
from storyboard.plan.compile import compile_plan
from storyboard.script.load import load_script_text

SCENES = "scenes:\n  - {duration: 4, prompts: a}\n"


@pytest.mark.parametrize("fade", ["fade_in: 2 beats", "fade_out: 1 bar"])
def test_a_fade_in_beats_fetches_the_musics_beat_grid(fade):
    board = load_script_text(f"music: {{path: x.ogg, {fade}}}\n" + SCENES, keep_going=True).storyboard
    assert needs_beat_grid(board)


def test_fades_in_seconds_need_no_grid():
    board = load_script_text("music: {path: x.ogg, fade_in: 2s, fade_out: 48f}\n" + SCENES, keep_going=True).storyboard
    assert not needs_beat_grid(board)


def test_a_fade_in_beats_follows_the_musics_grid():
    script = load_script_text("music: {path: x.ogg, fade_in: 2 beats, fade_out: 1 bar}\n" + SCENES, keep_going=True)
    plan = compile_plan(script, ConstantTempo(90.0, 4, 0.0))
    assert (plan.audio[0].fade_in_s, plan.audio[0].fade_out_s) == (pytest.approx(4 / 3), pytest.approx(8 / 3))


def test_without_music_a_fade_in_beats_still_asks_for_a_tempo():
    with pytest.raises(PlanError, match=r"'2 beats' needs a tempo: set 'bpm:' at the top of the script"):
        compile_plan(load_script_text("music: {path: x.ogg, fade_in: 2 beats}\n" + SCENES, keep_going=True))
