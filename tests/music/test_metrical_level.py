"""The beat tracker's metrical level (issue 10, item 13): the tempo a listener taps, not half
or double it; close calls said; a tempo hint (``bpm:`` on a music track, ``--bpm``) obeyed.

The held-out music is synthesised here, with the grooves that fooled the tracker before:
drum and bass at 174 BPM (read as 87), a syncopated groove at 100 BPM (read as 200), and
a house groove ramping from 110 to 130 BPM (read as 240). Drums with velocities and timing
that vary, a bass line, a pad, and noise.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("librosa")

from helpers import write  # noqa: E402

from storyboard.cli import main  # noqa: E402
from storyboard.music.analysis import _cache_path, analyse, cached_analysis, file_hash  # noqa: E402
from storyboard.music.beats import CLOSE_CALL, LevelFit, choose_level, level_fit  # noqa: E402
from storyboard.music.synth import Track, beat_times, write_wav  # noqa: E402

RATE = 22050  # Hz

# Hits per bar of four beats: (position in beats, velocity[, length in beats, octave up]).
DRUM_AND_BASS = {  # kick on 1 and the "and" of 3, snare on 2 and 4, busy sixteenth hats, ghost notes
    "kick": [(0, 1.0), (2.5, 0.9)],
    "snare": [(1, 1.0), (3, 1.0), (1.75, 0.25), (3.5, 0.2)],
    "hat": [(i / 4, 0.55 if i % 2 == 0 else 0.35) for i in range(16)],
    "bass": [(0, 0.8, 2.5), (2.5, 0.7, 1.5)],
}
SYNCOPATED = {  # kicks off the beat, loud open hats on every off-beat, a syncopated bass
    "kick": [(0, 1.0), (0.75, 0.7), (2.5, 0.9), (3.75, 0.5)],
    "snare": [(1, 0.9), (3, 0.9)],
    "open_hat": [(0.5, 1.0), (1.5, 1.0), (2.5, 1.0), (3.5, 1.0)],
    "hat": [(i / 4, 0.3) for i in range(1, 16, 2)],
    "bass": [(0, 0.7, 0.75), (0.75, 0.6, 0.75), (1.5, 0.6, 1.0), (2.5, 0.7, 0.75), (3.25, 0.5, 0.75, True)],
}
HOUSE = {  # four on the floor with a soft kick, claps on 2 and 4, off-beat open hats and bass
    "kick": [(0, 1.0), (1, 0.9), (2, 1.0), (3, 0.9)],
    "snare": [(1, 0.7), (3, 0.7)],
    "open_hat": [(0.5, 0.8), (1.5, 0.8), (2.5, 0.8), (3.5, 0.8)],
    "hat": [(i / 4, 0.25) for i in range(16)],
    "bass": [(p + 0.5, 0.8, 0.4, True) for p in range(4)],
}
ROOTS = (41.2, 36.7, 49.0, 43.65)  # Hz: the bass's root in each of four bars


def _kick(rng: np.random.Generator, click: float) -> np.ndarray:
    t = np.arange(int(0.3 * RATE)) / RATE
    sweep = 50 + 180 * np.exp(-t * 40)
    body = np.sin(2 * np.pi * np.cumsum(sweep) / RATE) * np.exp(-t * 9)
    beater = np.convolve(rng.standard_normal(len(t)), np.ones(6) / 6, "same") * np.exp(-t * 300)
    return body + click * beater


def _snare(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.22 * RATE)) / RATE
    return 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 30) + 0.45 * rng.standard_normal(len(t)) * np.exp(-t * 22)


def _hat(rng: np.random.Generator, open_: bool) -> np.ndarray:
    t = np.arange(int((0.25 if open_ else 0.05) * RATE)) / RATE
    return 0.18 * np.diff(rng.standard_normal(len(t) + 2), 2) * np.exp(-t * (14 if open_ else 90))


def _bass(length_s: float, freq: float) -> np.ndarray:
    from scipy.signal import lfilter

    t = np.arange(int(length_s * RATE)) / RATE
    saw = 2 * ((freq * t) % 1.0) - 1 + 2 * ((freq * 1.007 * t) % 1.0) - 1  # two detuned saws
    return 0.5 * lfilter([0.08], [1, -0.92], saw) * np.minimum(1, t * 60) * np.exp(-t * 1.5)


def groove(pattern: dict, bpm: float, duration_s: float, *, bpm_end: float | None = None, click: float = 0.5,
           seed: int = 0) -> Track:
    """A groove of ``pattern`` bars at ``bpm`` (ramping to ``bpm_end``), with a pad and noise.

    Each hit's velocity varies by up to 25 % and its time by about 4 ms; ``click`` is the
    loudness of the kick's beater against its body (0: a soft, subby kick).
    """
    rng = np.random.default_rng(seed)
    beats = beat_times(bpm, duration_s, bpm_end, 0.3)
    last = beats[-1] - beats[-2]

    def at(position: float) -> float:  # beat position -> seconds (the ramp followed between beats)
        return float(np.interp(position, np.arange(len(beats)), beats)) if position < len(beats) - 1 else \
            beats[-1] + (position - len(beats) + 1) * last

    y = np.zeros(int(duration_s * RATE))
    for bar in range(len(beats) // 4 + 1):
        for name, hits in pattern.items():
            for position, velocity, *more in hits:
                start = at(4 * bar + position) + rng.normal(0, 0.004)
                if start >= duration_s:
                    continue
                sound = {"kick": lambda: _kick(rng, click), "snare": lambda: _snare(rng),
                         "hat": lambda: _hat(rng, False), "open_hat": lambda: _hat(rng, True),
                         "bass": lambda: _bass(0.95 * (at(4 * bar + position + more[0]) - at(4 * bar + position)),
                                               ROOTS[bar % 4] * (2 if more[1:] else 1))}[name]()
                _add(y, velocity * rng.uniform(0.75, 1.0) * sound, int(round(start * RATE)))
        chord_t = np.arange(int((at(4 * bar + 4) - at(4 * bar)) * RATE)) / RATE
        chord = sum(np.sin(2 * np.pi * ROOTS[bar % 4] * 4 * r * chord_t) for r in (1, 1.26, 1.5))
        _add(y, 0.05 * chord * np.minimum(1, chord_t * 3), int(at(4 * bar) * RATE))
    y += 0.02 * rng.standard_normal(len(y))
    y = (0.89 * y / np.abs(y).max()).astype(np.float32)
    return Track(np.stack([y, y], axis=1), RATE, beats, 4)


def _add(buffer: np.ndarray, sound: np.ndarray, at: int) -> None:
    end = min(len(buffer), at + len(sound))
    if 0 <= at < end:
        buffer[at:end] += sound[: end - at]


def f_measure(found, truth, window: float = 0.07) -> float:
    """Beat F-measure: each true beat matched by at most one found beat within ``window`` seconds."""
    found, truth = np.asarray(found), np.asarray(truth)
    if len(found) == 0 or len(truth) == 0:
        return 0.0
    used, hits = set(), 0
    for f in found:
        for j in np.argsort(np.abs(truth - f)):
            if abs(truth[j] - f) > window:
                break
            if j not in used:
                used.add(j)
                hits += 1
                break
    precision, recall = hits / len(found), hits / len(truth)
    return 2 * precision * recall / (precision + recall) if hits else 0.0


HELD_OUT = {  # name: (pattern, bpm, bpm_end, seconds, kick click, the tempo a listener taps)
    "drum-and-bass-174": (DRUM_AND_BASS, 174, None, 30.0, 0.5, 174),
    "syncopated-100": (SYNCOPATED, 100, None, 30.0, 0.1, 100),
    "house-ramp-110-130": (HOUSE, 110, 130, 20.0, 0.1, 120),
}


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> dict[str, tuple[Track, object]]:
    folder = tmp_path_factory.mktemp("held-out")
    out = {}
    for name, (pattern, bpm, bpm_end, seconds, click, _) in HELD_OUT.items():
        track = groove(pattern, bpm, seconds, bpm_end=bpm_end, click=click, seed=1)
        out[name] = (track, write_wav(track, folder / f"{name}.wav"))
    return out


@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_the_tempo_is_the_one_a_listener_taps_and_the_beats_land(held_out, private_cache, name):
    track, path = held_out[name]
    tapped = HELD_OUT[name][-1]
    result = analyse(path)
    assert result.tempo_bpm == pytest.approx(tapped, rel=0.04), f"{name}: read as {result.tempo_bpm:.1f} BPM"
    score = f_measure(result.beats, track.beats)
    assert score >= 0.9, f"{name}: beat F-measure {score:.2f}"
    assert result.confident


@pytest.mark.parametrize("name, runner_up", [("drum-and-bass-174", 87), ("syncopated-100", 200)])
def test_the_runner_up_is_the_level_it_used_to_be_read_at(held_out, private_cache, name, runner_up):
    result = analyse(held_out[name][1])
    assert result.runner_up_bpm == pytest.approx(runner_up, rel=0.04)
    assert 0 < result.level_margin < 1


def test_drum_and_bass_is_a_close_call_and_the_ramp_is_not(held_out, private_cache):
    result = analyse(held_out["drum-and-bass-174"][1])
    assert result.level_margin < CLOSE_CALL and result.close_call
    ramp = analyse(held_out["house-ramp-110-130"][1])
    assert not ramp.close_call, f"runner-up {ramp.runner_up_bpm} BPM, margin {ramp.level_margin}"


@pytest.mark.parametrize("hint, tempo", [(87, 87), (174, 174), ((160, 180), 174), ((80, 95), 87)])
def test_a_tempo_hint_chooses_the_level(held_out, private_cache, hint, tempo):
    track, path = held_out["drum-and-bass-174"]
    result = analyse(path, bpm=hint)
    assert result.tempo_bpm == pytest.approx(tempo, rel=0.04)
    every = 1 if tempo == 174 else 2  # at 87 BPM, every other true beat
    assert f_measure(result.beats, track.beats[::every]) >= 0.8 or f_measure(result.beats, track.beats[1::every]) >= 0.8
    assert not result.close_call, "a hint settles the choice"
    assert result.bpm_hint == ((hint, hint) if isinstance(hint, int) else hint)


def test_the_hint_is_part_of_the_cache_key(held_out, tmp_path, monkeypatch):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))  # empty: conftest's private cache is shared
    path = held_out["drum-and-bass-174"][1]
    sha = file_hash(path)
    assert len({_cache_path(sha), _cache_path(sha, (87.0, 87.0)), _cache_path(sha, (80.0, 95.0))}) == 3
    plain = analyse(path)
    assert cached_analysis(path, bpm=87) is None, "an analysis made without the hint is not reused"
    hinted = analyse(path, bpm=87)
    assert cached_analysis(path, bpm=87).tempo_bpm == hinted.tempo_bpm == pytest.approx(87, rel=0.04)
    assert cached_analysis(path, bpm=[80, 95]) is None
    assert cached_analysis(path).tempo_bpm == plain.tempo_bpm == pytest.approx(174, rel=0.04)


# --- scripts: bpm: on a music track ----------------------------------------------------------


def _script(folder, music: str, scenes: str = "  - {duration: 8 beats, prompts: a}\n"):
    return write(folder / "s.yaml", f"music: {music}\nscenes:\n{scenes}")


def _validated_seconds(capsys, script) -> tuple[float, str]:
    """(the video's length in seconds as `storyboard validate` prints it, its warnings)."""
    import re

    assert main(["validate", str(script)]) == 0
    out = capsys.readouterr()
    return float(re.search(r"([0-9.]+) s at 24 fps", out.out).group(1)), out.err


def test_plan_follows_the_hint_and_warns_of_a_close_call_without_one(held_out, private_cache, tmp_path, capsys):
    path = held_out["drum-and-bass-174"][1]
    seconds, warnings = _validated_seconds(capsys, _script(tmp_path, f"{{path: {path}}}"))
    assert seconds == pytest.approx(8 * 60 / 174, abs=0.05)
    assert "tempo 174.0 BPM was a close call (87.6 BPM also fits)" in warnings and "bpm: 88" in warnings
    seconds, warnings = _validated_seconds(capsys, _script(tmp_path, f"{{path: {path}, bpm: 87}}"))
    assert seconds == pytest.approx(8 * 60 / 87, abs=0.1) and "close call" not in warnings
    seconds, _ = _validated_seconds(capsys, _script(tmp_path, f"{{path: {path}, bpm: [160, 180]}}"))
    assert seconds == pytest.approx(8 * 60 / 174, abs=0.05)


@pytest.mark.parametrize("hint, message", [
    ("0", "expected a tempo from 1 to 400 BPM, got 0"),
    ("-90", "expected a tempo from 1 to 400 BPM, got -90"),
    ("401", "expected a tempo from 1 to 400 BPM, got 401"),
    ("fast", "expected a tempo in BPM such as 174, or a range [low, high] such as [160, 180], got 'fast'"),
    ("true", "got True"),
    ("[160]", "expected a range [low, high] of two tempos such as [160, 180], got [160]"),
    ("[160, 170, 180]", "expected a range [low, high] of two tempos"),
    ("[180, 160]", "range [180, 160]: low must be below high, e.g. [160, 180]"),
    ("[120, 120]", "for one tempo write a number, bpm: 120"),
    ("[0, 120]", "expected a tempo from 1 to 400 BPM, got 0"),
])
def test_a_bad_hint_is_a_script_error(held_out, tmp_path, capsys, hint, message):
    script = _script(tmp_path, f"{{path: {held_out['syncopated-100'][1]}, bpm: {hint}}}")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert f"{script}:1:" in err and "music.bpm" in err and message in err, err


# --- storyboard beats --bpm ------------------------------------------------------------------


def test_beats_command_says_a_close_call_and_takes_a_hint(held_out, private_cache, capsys):
    path = str(held_out["drum-and-bass-174"][1])
    assert main(["beats", path]) == 0
    out = capsys.readouterr()
    assert "tempo 174.0 BPM (close call: 87.6 BPM also fits)" in out.out
    assert "--bpm 88" in out.err
    assert main(["beats", path, "--bpm", "80-95"]) == 0
    out = capsys.readouterr()
    assert "tempo 87" in out.out and "close call" not in out.out + out.err
    assert main(["beats", path, "--bpm", "174", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tempo_bpm"] == pytest.approx(174, rel=0.04) and data["bpm_hint"] == [174, 174]
    assert data["close_call"] is False


@pytest.mark.parametrize("option, message", [("0", "greater than 0"), ("fast", "such as 174"), ("500", "at most 400"),
                                             ("180-160", "e.g. 160-180"), ("90-90", "give one number: --bpm 90")])
def test_beats_command_rejects_a_bad_hint(tmp_path, capsys, option, message):
    assert main(["beats", str(tmp_path / "never-read.wav"), "--bpm", option]) == 2
    assert message in capsys.readouterr().err


# --- the level's score on its own (no audio) ---------------------------------------------


def test_level_fit_prefers_beats_on_the_strong_onsets():
    rate = 100.0  # frames per second
    env = np.zeros(3000)
    env[50::50] = 1.0  # a strong onset every half second (120 BPM)
    env[75::50] = 0.1  # a weak one between
    on, off, double = (level_fit(env, np.arange(50, 3000, 50), rate), level_fit(env, np.arange(75, 3000, 50), rate),
                       level_fit(env, np.arange(50, 3000, 25), rate))
    assert on.tempo_bpm == pytest.approx(120) and double.tempo_bpm == pytest.approx(240)
    assert on.precision == pytest.approx(1) and on.recall == pytest.approx(1) and on.regularity == 1
    assert on.score > double.score > off.score


def test_choose_level_keeps_to_the_hint_window_and_names_a_related_runner_up():
    fits = [LevelFit(174.0, 0.7, 0.75, 1.0), LevelFit(87.0, 0.9, 0.4, 1.0), LevelFit(131.0, 0.5, 0.3, 0.4)]
    level = choose_level(fits)
    assert level.index == 0 and level.runner_up_bpm == 87.0 and 0 < level.margin < 1
    hinted = choose_level(fits, (80.0, 95.0))
    assert hinted.index == 1 and hinted.runner_up_bpm == 0.0 and not hinted.close_call
    assert choose_level(fits, (300.0, 320.0)) is None
