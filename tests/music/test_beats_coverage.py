"""Beats over the whole music (issue 25, items 1, 13, 14 and 20's analysis part).

A loud pop recording lost its beats halfway: beats were kept only up to the last onset
at 30 % of the track's loudest, so a dense, compressed second half (or one loud hit
anywhere) ended them there. Beats now cover the music wherever it plays; a stretch of
music without beats is reported by its span. Damaged analysis-cache entries count as
missing; tempi too small for a float (1e-320 BPM) give a clear error, not an overflow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("librosa")

from helpers import shared_media  # noqa: E402

from storyboard.music.advice import beats_advice, gap_message, plan_advice  # noqa: E402
from storyboard.music.analysis import (  # noqa: E402
    SAMPLE_RATE,
    AudioAnalysis,
    _cache_path,
    analyse,
    cached_analysis,
    file_hash,
    load_mono,
    tempo_hint,
)
from storyboard.music.beats import beat_gaps  # noqa: E402
from storyboard.music.grid import ConstantTempo  # noqa: E402
from storyboard.music.synth import Track, write_wav  # noqa: E402

RATE = 22050  # Hz
BPM = 120.0


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))


def _add(y: np.ndarray, sound: np.ndarray, at: float) -> None:
    i = int(round(at * RATE))
    end = min(len(y), i + len(sound))
    if 0 <= i < end:
        y[i:end] += sound[: end - i]


def _kick(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.3 * RATE)) / RATE
    body = np.sin(2 * np.pi * np.cumsum(50 + 180 * np.exp(-t * 40)) / RATE) * np.exp(-t * 9)
    return body + 0.6 * rng.standard_normal(len(t)) * np.exp(-t * 300)


def _snare(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * RATE)) / RATE
    return 0.5 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 30) + 0.45 * rng.standard_normal(len(t)) * np.exp(-t * 22)


def song(seconds: float, *, dense_from: float | None = None, pulse_until: float | None = None, seed: int = 3) -> Track:
    """Kick on every beat, snare on 2 and 4, at BPM, over a little noise.

    ``dense_from``: from then on a loud wall of noise and chords is mixed in and the whole
    is squashed (tanh), as a mastered chorus is: its onsets are a tenth of the verse's.
    ``pulse_until``: the drums stop then and a sustained chord plays on to the end (music,
    but no pulse).
    """
    rng = np.random.default_rng(seed)
    y = np.zeros(int(seconds * RATE))
    end = seconds if pulse_until is None else pulse_until
    beats = np.arange(0.25, end - 0.1, 60.0 / BPM)
    for k, t in enumerate(beats):
        _add(y, rng.uniform(0.8, 1.0) * _kick(rng), t)
        if k % 2:
            _add(y, rng.uniform(0.7, 0.9) * _snare(rng), t)
    t = np.arange(len(y)) / RATE
    y += 0.01 * rng.standard_normal(len(y))
    if pulse_until is not None:
        after = t >= pulse_until
        chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
        y[after] += 0.2 * chord[after] * np.minimum(1, (t[after] - pulse_until) * 4)
    if dense_from is not None:
        after = t >= dense_from
        wall = 0.6 * rng.standard_normal(len(y)) + 0.5 * np.sin(2 * np.pi * 110 * t) + 0.4 * np.sin(2 * np.pi * 330 * t)
        y[after] = np.tanh(3 * (y[after] + 0.3 * wall[after]))
    y = (0.9 * y / np.abs(y).max()).astype(np.float32)
    return Track(np.stack([y, y], axis=1), RATE, beats, 4)


def matched(found, truth, window: float = 0.07) -> float:
    """The share of ``truth`` beats with a found beat within ``window`` seconds."""
    found = np.asarray(found)
    if len(found) == 0:
        return 0.0
    return float(np.mean([np.min(np.abs(found - t)) <= window for t in truth]))


def test_a_dense_compressed_second_half_keeps_its_beats(tmp_path):
    track = song(40.0, dense_from=20.0)
    result = analyse(write_wav(track, tmp_path / "pop.wav"))
    assert result.tempo_bpm == pytest.approx(BPM, rel=0.01)
    assert result.beats[-1] > track.duration_s - 1.0, f"beats end at {result.beats[-1]:.1f} s of 40 s"
    assert result.coverage >= 0.95 and result.gaps == ()
    second = track.beats[track.beats > 21.0]
    assert matched(result.beats, second) >= 0.95, "the chorus's beats are on its kicks"
    assert beats_advice(result) == []


def test_a_mastered_house_chorus_keeps_its_beats(tmp_path):
    """A house groove (soft kick, off-beat hats and bass) whose second half is buried in a loud
    wall and squashed: its kicks stand only 1.5 to 2 times over the envelope's median, so
    only the pulse measures (autocorrelation, beat salience) keep its beats; they stopped at
    30 s before, and at 41 s with the clear-onset test alone."""
    from test_metrical_level import HOUSE, groove

    rng = np.random.default_rng(5)
    base = groove(HOUSE, BPM, 60.0, click=0.8, seed=1)
    y = base.samples[:, 0].astype(np.float64)
    half = len(y) // 2
    t = np.arange(len(y) - half) / RATE
    wall = 0.6 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 110 * t) + 0.4 * np.sin(2 * np.pi * 330 * t)
    y[half:] = np.tanh(3 * (y[half:] + 0.3 * wall))
    y = (0.95 * y / np.abs(y).max()).astype(np.float32)
    result = analyse(write_wav(Track(np.stack([y, y], 1), RATE, base.beats, 4), tmp_path / "house.wav"))
    assert result.coverage >= 0.95 and result.gaps == (), result.gaps
    assert matched(result.beats, base.beats[base.beats > 31.0]) >= 0.95


def test_one_loud_hit_in_a_real_recording_does_not_end_its_beats(tmp_path):
    """vibe-ace.ogg with a single loud broadband hit (a dropped microphone) at 3 s: every
    other onset falls under 30 % of it, and the beats used to stop at 3.3 s."""
    source = shared_media("vibe-ace.ogg") / "vibe-ace.ogg"
    clean = analyse(source)
    y = load_mono(source, SAMPLE_RATE).astype(np.float64)
    rng = np.random.default_rng(0)
    hit = 8.0 * rng.standard_normal(int(0.05 * SAMPLE_RATE)) * np.exp(-np.arange(int(0.05 * SAMPLE_RATE)) / 300)
    at = int(3.0 * SAMPLE_RATE)
    y[at: at + len(hit)] += hit
    y = 0.95 * y / np.abs(y).max()
    bumped = analyse(write_wav(Track(np.stack([y, y], 1).astype(np.float32), SAMPLE_RATE, np.zeros(0), 4),
                               tmp_path / "vibe-ace-bumped.wav"))
    assert bumped.coverage >= 0.95, f"beats from {bumped.beats[0]:.1f} s to {bumped.beats[-1]:.1f} s"
    assert bumped.gaps == ()
    assert bumped.beats[-1] > clean.duration_s - 3.0
    assert matched(bumped.beats, clean.beats) >= 0.95, "the same beats as without the hit"


@pytest.mark.parametrize("name", ["vibe-ace.ogg", "trumpet-loop-90bpm.ogg"])
def test_beats_cover_the_real_recordings_where_the_music_plays(name):
    source = shared_media(name) / name
    result = analyse(source)
    start, end = result.music_s
    assert start < 0.1 and end == pytest.approx({"vibe-ace.ogg": 60.5, "trumpet-loop-90bpm.ogg": 3.6}[name], abs=0.2)
    assert result.gaps == ()
    if name == "vibe-ace.ogg":
        assert result.coverage >= 0.95


def test_music_without_a_pulse_is_a_gap_reported_by_its_span(tmp_path):
    track = song(34.0, pulse_until=20.0)
    result = analyse(write_wav(track, tmp_path / "drums-then-a-chord.wav"))
    assert len(result.gaps) == 1, result.gaps
    start, end = result.gaps[0]
    assert 19.5 <= start <= 21.0 and end == pytest.approx(34.0, abs=0.05)
    assert result.music_s[1] == pytest.approx(34.0, abs=0.05)
    assert result.coverage < 0.7 and not result.confident
    said = gap_message(result.gaps)
    assert said == f"no beats found from {start:.1f} s to 34.0 s"
    advice = beats_advice(result)
    assert advice[0] == (f"warning: {said} of the music; a script's beats and bars there follow the nearest beats' "
                         "tempo, not the music")
    assert plan_advice(result, "m.wav")[0].startswith(f"music 'm.wav': {said};")


def test_beat_gaps_are_the_stretches_of_music_without_a_beat():
    beats = [1.0, 1.5, 2.0, 2.5, 10.0, 10.5]
    assert beat_gaps(beats, [(0.0, 12.0)], 0.5) == [(2.5, 10.0)]
    assert beat_gaps(beats, [(0.0, 14.0)], 0.5) == [(2.5, 10.0)], "3.5 s after the last beat is under 8 beats"
    assert beat_gaps(beats, [(0.0, 15.0)], 0.5) == [(2.5, 10.0), (10.5, 15.0)]
    assert beat_gaps(beats, [(0.0, 12.0), (20.0, 30.0)], 0.5) == [(2.5, 10.0), (20.0, 30.0)]
    assert beat_gaps(beats, [(0.0, 12.0)], 2.0) == [], "under eight beats of 2 s is no gap"
    assert gap_message([(67.21, 133.0), (140.0, 150.04)]) == \
        "no beats found from 67.2 s to 133.0 s, and from 140.0 s to 150.0 s"


# --- item 13: the advice says which bpm: to write ------------------------------------------


def _analysis(**fields) -> AudioAnalysis:
    beats = tuple(np.arange(0.0, 20.0, 60 / 117.7))
    base = dict(path="m.ogg", sha256="0" * 64, duration_s=20.0, tempo_bpm=117.713, beats=beats, onsets=(),
                envelope=(), music_s=(0.0, 20.0))
    return AudioAnalysis(**{**base, **fields})


def test_unclear_pulse_advice_gives_the_exact_bpm_to_set():
    unsure = _analysis(beats=(0.0, 0.5, 1.1, 1.5))
    assert not unsure.confident
    (line,) = beats_advice(unsure)
    assert line.endswith("these beats are a guess: check them, or set the tempo you hear on the music track, "
                         "e.g. bpm: 118 (the tempo found; try it here with --bpm 118)")
    assert plan_advice(unsure, "m.ogg")[-1].endswith("or set the tempo you hear on the music track, e.g. bpm: 118.")
    close = _analysis(runner_up_bpm=58.9, level_margin=0.1)
    assert close.confident and close.close_call
    assert beats_advice(close) == ["note: 58.9 BPM fits the music nearly as well as 117.7; to choose, pass --bpm 59 "
                                   "(or --bpm 118), or in a script set bpm: 59 (or bpm: 118) on the music track"]
    assert beats_advice(_analysis()) == []


# --- item 14: a denormal tempo --------------------------------------------------------------


@pytest.mark.parametrize("bpm", [1e-320, 1e-300, 0.0, -120.0, float("inf"), float("nan"), 1e300])
def test_a_tempo_outside_1_to_400_bpm_is_a_clear_error_not_an_overflow(bpm):
    with pytest.raises(ValueError, match=r"^tempo .* BPM: expected a tempo from 1 to 400 BPM$"):
        ConstantTempo(bpm)
    grid = ConstantTempo(1.0)
    assert grid.time_at(1e6) == pytest.approx(6e7) and int(grid.time_at(4)) == 240


@pytest.mark.parametrize("hint", [1e-320, (1e-320, 1e-310), 1e300, (1e-320, 1e308)])
def test_any_positive_tempo_hint_is_analysed_without_an_overflow(tmp_path, hint):
    path = write_wav(song(6.0), tmp_path / "short.wav")
    result = analyse(path, bpm=hint, use_cache=False)
    assert np.isfinite(result.tempo_bpm) and 40 <= result.tempo_bpm <= 260
    assert len(result.beats) >= 2 and all(np.isfinite(result.beats))
    with pytest.raises(ValueError, match="expected a tempo"):
        tempo_hint(float("inf"))


# --- item 20: damaged cache entries ---------------------------------------------------------


@pytest.fixture(scope="module")
def short_song(tmp_path_factory):
    return write_wav(song(6.0), tmp_path_factory.mktemp("song") / "short.wav")


@pytest.mark.parametrize("damage", [
    [1, 2, 3],
    {"version": 5},
    "text",
    None,
    "COPY:beats=[\"a\"]",
    "COPY:gaps=7",
    "COPY:extra=1",
    "COPY:bpm_hint=5",
    "COPY:music_s=[1]",
])
def test_an_analysis_cache_entry_of_the_wrong_shape_counts_as_missing(short_song, damage):
    good = analyse(short_song)
    entry = _cache_path(file_hash(short_song), None)
    if isinstance(damage, str) and damage.startswith("COPY:"):
        key, value = damage[5:].split("=")
        data = json.loads(entry.read_text())
        data[key] = json.loads(value)
        damage = data
    entry.write_text(json.dumps(damage))
    assert cached_analysis(short_song) is None
    again = analyse(short_song)
    assert again.beats == good.beats
    assert cached_analysis(short_song) == good, "the damaged entry was replaced"


def test_a_folder_in_a_cache_entrys_place_is_named_and_the_run_goes_on(short_song, capsys):
    entry = _cache_path(file_hash(short_song), None)
    entry.parent.mkdir(parents=True, exist_ok=True)
    entry.mkdir()
    (entry / "something").write_text("not ours to delete")
    first = analyse(short_song)
    assert len(first.beats) > 8
    err = capsys.readouterr().err
    assert f"warning: music analysis cache entry '{entry}' is a folder and could not be replaced" in err
    assert "analysed again and will be on every run until it is removed" in err
    assert (entry / "something").read_text() == "not ours to delete"
    entry.joinpath("something").unlink()
    assert analyse(short_song).beats == first.beats  # an empty folder is replaced by the entry
    assert entry.is_file() and cached_analysis(short_song) == first
    assert capsys.readouterr().err == ""
