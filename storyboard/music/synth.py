"""A small drum-and-bass-line synthesiser for example music and test tracks of known tempo.

The beat times are known exactly, so tests can check beat tracking against them.
``tempo`` may ramp: the beat period changes linearly with time between
``bpm`` and ``bpm_end``. numpy only.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SAMPLE_RATE = 44100
_ROOTS = (0, -4, 3, -2)  # semitones from A2 per bar: i - VI - III - VII in A minor, loosely


@dataclass(frozen=True)
class Track:
    """Synthesised audio and the truth about it."""

    samples: np.ndarray  # (n, 2) float32 in [-1, 1]
    sample_rate: int
    beats: np.ndarray  # beat times, seconds
    beats_per_bar: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    @property
    def downbeats(self) -> np.ndarray:
        return self.beats[:: self.beats_per_bar]


def beat_times(bpm: float, duration_s: float, bpm_end: float | None = None, first_s: float = 0.0) -> np.ndarray:
    """Times (seconds) of beats from ``first_s`` to ``duration_s``; tempo ramps linearly in time to ``bpm_end``."""
    end_bpm = bpm if bpm_end is None else bpm_end
    times, t = [], first_s
    while t < duration_s:
        times.append(t)
        tempo = bpm + (end_bpm - bpm) * (t / duration_s)
        t += 60.0 / tempo
    return np.asarray(times)


def _kick(sr: int, strength: float) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    freq = 45 + 90 * np.exp(-t * 30)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return strength * np.sin(phase) * np.exp(-t * 9)


def _noise_hit(sr: int, length_s: float, decay: float, strength: float, rng: np.random.Generator, bright: bool) -> np.ndarray:
    n = int(length_s * sr)
    t = np.arange(n) / sr
    noise = rng.standard_normal(n)
    if bright:
        noise = np.diff(noise, prepend=0.0)  # tilt towards highs
    return strength * 0.3 * noise * np.exp(-t * decay)


def _add(buffer: np.ndarray, sound: np.ndarray, at: int) -> None:
    end = min(len(buffer), at + len(sound))
    if at < end:
        buffer[at:end] += sound[: end - at]


MAX_SYNTH_S = 600.0  # seconds: the track is built in memory (about 1 MB a second of audio at the peak)


def synth_track(
    bpm: float = 120.0,
    duration_s: float = 30.0,
    *,
    bpm_end: float | None = None,
    beats_per_bar: int = 4,
    first_beat_s: float = 0.0,
    drums: bool = True,
    bass: bool = True,
    seed: int = 0,
    sample_rate: int = SAMPLE_RATE,
) -> Track:
    """Synthesise a loop: kick on every beat (accented on downbeats), snare on the
    backbeat, hi-hats on the off-beats, and a bass note per beat following a four-bar
    progression. Returns the stereo samples and the exact beat times.

    Raises ``ValueError`` past :data:`MAX_SYNTH_S` seconds (the whole track is held in memory)."""
    if not 0 < duration_s <= MAX_SYNTH_S:
        raise ValueError(f"duration {duration_s:g} s: synth makes 0 to {MAX_SYNTH_S:g} s")
    rng = np.random.default_rng(seed)
    sr = sample_rate
    n = int(duration_s * sr)
    mono = np.zeros(n)
    beats = beat_times(bpm, duration_s, bpm_end, first_beat_s)
    for i, t in enumerate(beats):
        at = int(round(t * sr))
        in_bar = i % beats_per_bar
        period = (beats[i + 1] - t) if i + 1 < len(beats) else (t - beats[i - 1] if i else 60 / bpm)
        if drums:
            _add(mono, _kick(sr, 0.9 if in_bar == 0 else 0.6), at)
            if in_bar % 2 == 1:
                _add(mono, _noise_hit(sr, 0.2, 18, 0.5, rng, bright=False), at)
            _add(mono, _noise_hit(sr, 0.05, 60, 0.25, rng, bright=True), int(round((t + period / 2) * sr)))
        if bass:
            bar = (i // beats_per_bar) % len(_ROOTS)
            freq = 110.0 * 2 ** (_ROOTS[bar] / 12)
            length = int(period * 0.9 * sr)
            tt = np.arange(length) / sr
            note = 0.18 * np.sin(2 * np.pi * freq * tt) + 0.06 * np.sin(4 * np.pi * freq * tt)
            note *= np.minimum(1.0, tt * 200) * np.exp(-tt * 3)
            _add(mono, note, at)
    peak = np.max(np.abs(mono)) or 1.0
    mono = (0.89 * mono / peak).astype(np.float32)
    stereo = np.stack([mono, mono], axis=1)
    return Track(stereo, sr, beats, beats_per_bar)


def write_wav(track: Track, path: str | Path) -> Path:
    """Write 16-bit PCM WAV atomically."""
    from storyboard.files import atomic

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.clip(track.samples * 32767.0, -32768, 32767).astype("<i2")
    with atomic(path, ".wav") as tmp, wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(track.sample_rate)
        w.writeframes(pcm.tobytes())
    return path


def bars_to_seconds(bars: float, bpm: float, beats_per_bar: int = 4) -> float:
    return bars * beats_per_bar * 60.0 / bpm


__all__ = ["Track", "beat_times", "synth_track", "write_wav", "bars_to_seconds"]
