"""Beat following on an onset-strength envelope (numpy only).

librosa gives the envelope and a first tempo estimate; this module turns them into
beat times that follow a drifting tempo:

1. anchor: the phase of the pulse (at the estimated period) that collects the most
   onset strength over the first bars;
2. follow: from the anchor forwards and backwards, predict the next beat one period
   ahead, take the strongest envelope peak near the prediction (weighted towards it),
   and let the period adapt slowly to the intervals found (tempo drift);
3. refine: each beat moves to its peak's sub-frame position (parabolic interpolation);
4. octave check: if the envelope between beats is nearly as strong as on them, the
   tempo was half the real one; track again at double tempo.

Times are in envelope frames inside this module and in seconds at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Beats:
    times: np.ndarray  # seconds
    tempo_bpm: float  # 60 / median inter-beat interval
    salience: float  # mean envelope at beats / mean envelope overall (1 = no pulse)
    regularity: float  # 1 - coefficient of variation of inter-beat intervals
    clarity: float  # envelope autocorrelation at the beat period over its mean at other lags
    locked: float  # fraction of beats that landed on an envelope peak (the rest coasted)


def _peak_near(env: np.ndarray, centre: float, radius: float) -> tuple[float, float]:
    """The envelope's strongest point within ``radius`` of ``centre``, favouring the centre."""
    lo, hi = max(0, int(centre - radius)), min(len(env) - 1, int(centre + radius) + 1)
    if hi <= lo:
        return centre, 0.0
    idx = np.arange(lo, hi + 1)
    weight = np.exp(-0.5 * ((idx - centre) / (0.6 * radius)) ** 2)
    scores = env[lo:hi + 1] * weight
    k = int(np.argmax(scores))
    return float(idx[k]), float(env[lo + k])


def _refine(env: np.ndarray, frame: float) -> float:
    """Sub-frame position of the peak at ``frame`` by parabolic interpolation."""
    i = int(round(frame))
    if i <= 0 or i >= len(env) - 1:
        return float(i)
    a, b, c = env[i - 1], env[i], env[i + 1]
    denom = a - 2 * b + c
    if denom >= 0:
        return float(i)
    return float(i + 0.5 * (a - c) / denom)


def _anchor(env: np.ndarray, period: float, span: int) -> float:
    """The phase at ``period`` whose comb collects most envelope over the first ``span`` frames."""
    p = max(1, int(round(period)))
    span = min(len(env), max(span, 2 * p))
    best, best_score = 0, -1.0
    for phase in range(p):
        picks = np.arange(phase, span, period).round().astype(int)
        picks = picks[picks < len(env)]
        score = env[picks].mean() if len(picks) else 0.0
        if score > best_score:
            best, best_score = phase, score
    # the strongest actual peak near that phase
    return _peak_near(env, best, period * 0.25)[0]


def _follow(env: np.ndarray, start: float, period: float, direction: int, adapt: float,
            locked: list[bool] | None = None) -> list[float]:
    out, t, p = [], start, period
    floor = 0.1 * float(np.median(env[env > 0])) if np.any(env > 0) else 0.0
    while True:
        guess = t + direction * p
        if guess < 0 or guess > len(env) - 1:
            break
        found, strength = _peak_near(env, guess, 0.2 * p)
        hit = strength > floor
        if locked is not None:
            locked.append(hit)
        if not hit:
            found = guess  # coast through silence at the current period
        else:
            step = abs(found - t)
            if 0.7 * p < step < 1.3 * p:
                p = (1 - adapt) * p + adapt * step
        out.append(found)
        t = found
    return out


def track(env: np.ndarray, frame_rate: float, tempo_bpm: float, *, adapt: float = 0.25, delay_s: float = 0.0) -> Beats:
    """Beats in an onset envelope sampled at ``frame_rate`` (frames per second), near ``tempo_bpm``."""
    env = np.asarray(env, dtype=np.float64)
    env = env / env.max() if env.max() > 0 else env
    beats, locked = _track_at(env, frame_rate, tempo_bpm, adapt)
    if len(beats) >= 4:
        mids = (beats[1:] + beats[:-1]) / 2
        on = env[np.clip(np.round(beats).astype(int), 0, len(env) - 1)].mean()
        between = env[np.clip(np.round(mids).astype(int), 0, len(env) - 1)].mean()
        if on > 0 and between / on > 0.6:
            beats, locked = _track_at(env, frame_rate, 2 * tempo_bpm, adapt)
    beats = _correct_outliers(env, beats)
    found = describe(env, frame_rate, beats / frame_rate - delay_s)
    return Beats(found.times, found.tempo_bpm, found.salience, found.regularity, found.clarity, locked)


def describe(env: np.ndarray, frame_rate: float, times: np.ndarray) -> Beats:
    """Tempo and pulse measures of beat ``times`` (seconds) in ``env``.

    Tempo: from the least-squares slope of beat time against beat number when the
    intervals are steady (precise to well under 1 %), else 60 / median interval.
    """
    times = np.asarray(times, dtype=np.float64)
    intervals = np.diff(times)
    if len(intervals) == 0:
        return Beats(times, 0.0, 0.0, 0.0, 0.0, 0.0)
    regularity = float(1 - intervals.std() / intervals.mean()) if len(intervals) > 1 else 0.0
    if len(times) >= 8 and regularity > 0.9:
        slope = float(np.polyfit(np.arange(len(times)), times, 1)[0])
        tempo = 60.0 / slope
    else:
        tempo = 60.0 / float(np.median(intervals))
    idx = np.clip(np.round(times * frame_rate).astype(int), 0, len(env) - 1)
    salience = float(env[idx].mean() / env.mean()) if env.mean() > 0 else 0.0
    clarity = _clarity(env, frame_rate * 60.0 / tempo) if tempo > 0 else 0.0
    return Beats(times, tempo, salience, regularity, clarity, 1.0)


def _correct_outliers(env: np.ndarray, frames: np.ndarray, half: int = 6, tolerance: float = 0.1) -> np.ndarray:
    """Re-place beats that stray from their neighbours' local tempo.

    Each beat is compared with a quadratic fit (beat index -> time) of up to ``half``
    neighbours on each side, itself excluded; one off by more than ``tolerance`` of
    the local period (a syncopated hit, a swung eighth) moves to the strongest peak
    within 5 % of a period of the fit, or onto the fit. Beats that agree are kept.
    """
    out = frames.astype(np.float64).copy()
    n = len(out)
    if n < 2 * half + 1:
        return out
    floor = 0.1 * float(np.median(env[env > 0])) if np.any(env > 0) else 0.0
    index = np.arange(n)
    for _ in range(2):
        for i in range(n):
            lo, hi = max(0, i - half), min(n, i + half + 1)
            keep = index[lo:hi][index[lo:hi] != i]
            two_sided = (keep < i).sum() >= 3 and (keep > i).sum() >= 3
            coeffs = np.polyfit(keep, out[keep], 2 if two_sided else 1)
            predicted = float(np.polyval(coeffs, i))
            period = float(np.polyval(np.polyder(coeffs), i))
            if period <= 0 or abs(out[i] - predicted) <= tolerance * period:
                continue
            found, strength = _peak_near(env, predicted, 0.05 * period)
            out[i] = _refine(env, found) if strength > floor else predicted
    return out


def _clarity(env: np.ndarray, period: float) -> float:
    """How much the envelope repeats at the beat period: its autocorrelation there over the
    mean autocorrelation at lags from a quarter period to two periods (1: no pulse)."""
    x = env - env.mean()
    n = len(x)
    lag = int(round(period))
    if lag < 2 or 2 * lag >= n:
        return 0.0
    spectrum = np.fft.rfft(x, 2 * n)
    ac = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    lo, hi = max(1, lag // 4), min(n - 1, 2 * lag)
    baseline = np.abs(ac[lo:hi]).mean()
    return float(ac[lag - 1: lag + 2].max() / baseline) if baseline > 0 else 0.0


def _track_at(env: np.ndarray, frame_rate: float, tempo_bpm: float, adapt: float) -> tuple[np.ndarray, float]:
    period = frame_rate * 60.0 / tempo_bpm
    anchor = _anchor(env, period, span=int(8 * period))
    hits: list[bool] = []
    forward = _follow(env, anchor, period, +1, adapt, hits)
    backward = _follow(env, anchor, period, -1, adapt, hits)
    frames = sorted(set([*backward, anchor, *forward]))
    locked = (sum(hits) + 1) / (len(hits) + 1)
    return np.asarray([_refine(env, f) for f in frames]), locked
