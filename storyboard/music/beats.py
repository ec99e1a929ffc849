"""Beat following on an onset-strength envelope (numpy only).

librosa gives the envelope and a first tempo estimate; this module turns them into
beat times that follow a drifting tempo:

1. anchor: the phase of the pulse (at the estimated period) that collects the most
   onset strength over the first bars;
2. follow: from the anchor forwards and backwards, predict the next beat one period
   ahead, take the strongest envelope peak near the prediction (weighted towards it),
   and let the period adapt slowly to the intervals found (tempo drift);
3. refine: each beat moves to its peak's sub-frame position (parabolic interpolation);
4. octave check (optional): if the envelope between beats is nearly as strong as on
   them, the tempo was half the real one; track again at double tempo.

Which metrical level to track (174 or 87 BPM for drum and bass, 100 or 200 for a
syncopated groove) is better chosen before, by :func:`level_fit` and
:func:`choose_level`: beats tracked at each candidate tempo (:func:`candidate_tempi`)
are scored as a listener tapping along would judge them (taps on strong onsets, strong
onsets under taps, steady taps), weighted by a preference for tempi near 125 BPM; then
the octave check is off. :func:`on_the_beat` moves beats caught on the off-beats.

Times are in envelope frames inside this module and in seconds at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from storyboard.music.levels import CLOSE_CALL


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


def track(env: np.ndarray, frame_rate: float, tempo_bpm: float, *, adapt: float = 0.25, delay_s: float = 0.0,
          octave_check: bool = True) -> Beats:
    """Beats in an onset envelope sampled at ``frame_rate`` (frames per second), near ``tempo_bpm``.

    ``octave_check=False`` keeps the metrical level of ``tempo_bpm`` (one chosen by
    :func:`choose_level`, or asked for) instead of doubling it when the off-beats are strong.
    """
    env = np.asarray(env, dtype=np.float64)
    env = env / env.max() if env.max() > 0 else env
    beats, locked = _track_at(env, frame_rate, tempo_bpm, adapt)
    if octave_check and len(beats) >= 4:
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


# --- the metrical level: which of the pulses in the music a listener taps -----------------

PREFERRED_BPM = 125.0  # BPM: the centre of the tempo preference (listeners tap near 2 Hz)
PREFERENCE_OCTAVES = 0.5  # its width: a tempo one octave off the centre weighs exp(-0.5 / 0.5**2) = 0.14
RECALL_WEIGHT = 2.0  # beta of the F-measure: a strong onset between the beats costs more than a weak beat
JUMP = 0.12  # a beat interval that changes by more than this fraction from the previous is a jump
TEMPO_RANGE = (40.0, 260.0)  # BPM: the levels considered
RELATED = (2.0, 3.0, 1.5)  # tempo ratios (and their inverses) of metrical levels a listener may confuse


@dataclass(frozen=True)
class LevelFit:
    """How well beats tracked at one metrical level fit the music, as a listener tapping along
    would judge them."""

    tempo_bpm: float  # 60 / median interval of the beats
    precision: float  # 0..1: how strong the onsets under the beats are (a beat on a hi-hat or in silence is weak)
    recall: float  # 0..1: the share of the strong onsets' strength that falls on a beat
    regularity: float  # 0..1: (1 - share of intervals that jump by over JUMP from the previous) squared

    @property
    def fit(self) -> float:
        """F-measure of precision and recall (recall weighted by RECALL_WEIGHT) times regularity."""
        p, r, b2 = self.precision, self.recall, RECALL_WEIGHT ** 2
        return (1 + b2) * p * r / (b2 * p + r) * self.regularity if p > 0 and r > 0 else 0.0

    @property
    def score(self) -> float:
        """The fit weighted by the tempo preference."""
        return self.fit * tempo_preference(self.tempo_bpm)


@dataclass(frozen=True)
class Level:
    """The chosen metrical level, and how close the choice was."""

    index: int  # of the chosen candidate
    tempo_bpm: float  # of the chosen candidate's beats
    runner_up_bpm: float  # the best candidate at a related level (double, half, ...); 0.0 when none
    margin: float  # 1 - runner-up score / chosen score: 0 is a tie, 1 no contest

    @property
    def close_call(self) -> bool:
        """Whether the runner-up scored within CLOSE_CALL of the chosen level."""
        return self.runner_up_bpm > 0 and self.margin < CLOSE_CALL


def tempo_preference(bpm: float) -> float:
    """Weight (0..1] of a tempo in BPM: a log-normal curve around PREFERRED_BPM."""
    if bpm <= 0:
        return 0.0
    return float(np.exp(-0.5 * (np.log2(bpm / PREFERRED_BPM) / PREFERENCE_OCTAVES) ** 2))


def candidate_tempi(envelopes: Sequence[np.ndarray], frame_rate: float, *, first: Sequence[float] = (),
                    top: int = 8, window_s: float = 8.0) -> list[float]:
    """Tempi (BPM) worth tracking: ``first`` (kept whatever their tempo), then, within
    TEMPO_RANGE, the strongest periodicities of each envelope (peaks of its autocorrelation
    over ``window_s``-second windows, averaged), and double and half the three strongest of
    all. Nearly equal tempi (within 4 %) are merged into the first of them."""
    lo, hi = TEMPO_RANGE
    found: list[tuple[float, float]] = []
    for env in envelopes:
        ac = _windowed_autocorrelation(np.asarray(env, dtype=np.float64), int(window_s * frame_rate))
        shortest, longest = max(1, int(frame_rate * 60 / hi)), min(len(ac) - 2, int(np.ceil(frame_rate * 60 / lo)))
        lags = np.arange(shortest, longest + 1)
        if len(lags) == 0:
            continue
        peaks = lags[(ac[lags] > ac[lags - 1]) & (ac[lags] >= ac[lags + 1]) & (ac[lags] > 0)]
        for lag in peaks[np.argsort(ac[peaks])[::-1]][:top]:
            found.append((60.0 * frame_rate / _refine(ac, float(lag)), float(ac[lag])))
    found.sort(key=lambda pair: -pair[1])
    tempi = [*first, *(t for t, _ in found), *(k * t for t, _ in found[:3] for k in (0.5, 2.0))]
    merged: list[float] = []
    for k, t in enumerate(tempi):
        if (k < len(first) or lo <= t <= hi) and not any(abs(t / m - 1) < 0.04 for m in merged):
            merged.append(t)
    return merged


def _windowed_autocorrelation(env: np.ndarray, window: int, hop_fraction: float = 0.25) -> np.ndarray:
    """Mean over windows of ``window`` frames (hop a quarter of it) of the Hann-windowed,
    mean-removed autocorrelation, each normalised to 1 at lag 0; a ramping tempo stays sharp."""
    window = max(4, min(window, len(env)))
    hop = max(1, int(window * hop_fraction))
    taper = np.hanning(window)
    total, count = np.zeros(window), 0
    for start in range(0, len(env) - window + 1, hop):
        x = env[start:start + window]
        x = (x - x.mean()) * taper
        spectrum = np.fft.rfft(x, 2 * window)
        ac = np.fft.irfft(np.abs(spectrum) ** 2)[:window]
        if ac[0] > 0:
            total += ac / ac[0]
            count += 1
    return total / max(count, 1)


def level_fit(env: np.ndarray, frames: np.ndarray, frame_rate: float) -> LevelFit:
    """Score beats at ``frames`` (envelope frames, ascending) against the onsets of ``env``.

    Onsets are the envelope's local maxima above 0.05 (of its maximum, 1); ``strong`` is the
    90th percentile of those above a tenth of the strongest. Precision: the mean envelope
    under the beats, over ``strong`` (at most 1 each). Recall: of the onsets at half
    ``strong`` or more, the share (weighted by strength, at most ``strong``) that a beat
    hits, within 50 ms or a sixth of the beat period, whichever is shorter. Beats before
    the first clear onset (:func:`clear_onsets`) or after the last (in silence) are left out.
    """
    env = np.asarray(env, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if len(frames) < 4 or env.max() <= 0:
        return LevelFit(0.0, 0.0, 0.0, 0.0)
    env = env / env.max()
    period = float(np.median(np.diff(frames)))
    loud = clear_onsets(env, frame_rate)
    frames = frames[(frames >= loud[0] - period / 2) & (frames <= loud[-1] + period / 2)]
    if len(frames) < 4:
        return LevelFit(60.0 * frame_rate / period, 0.0, 0.0, 0.0)
    intervals = np.diff(frames)
    period = float(np.median(intervals))
    reach = max(1, int(round(min(0.05 * frame_rate, period / 6))))
    i = np.arange(1, len(env) - 1)
    onsets = i[(env[i] >= env[i - 1]) & (env[i] > env[i + 1]) & (env[i] >= 0.05)]
    if len(onsets) == 0:
        return LevelFit(60.0 * frame_rate / period, 0.0, 0.0, 0.0)
    strengths = env[onsets]
    strong = float(np.percentile(strengths[strengths >= 0.1 * strengths.max()], 90))
    under = np.array([env[max(0, f - reach): f + reach + 1].max()
                      for f in np.round(frames).astype(int).clip(0, len(env) - 1)])
    precision = float(np.minimum(1.0, under / strong).mean())
    inside = (onsets >= frames[0] - period / 2) & (onsets <= frames[-1] + period / 2)
    weight = np.minimum(1.0, strengths / strong) * inside * (strengths >= 0.5 * strong)
    nearest = np.searchsorted(frames, onsets).clip(1, len(frames) - 1)
    distance = np.minimum(np.abs(onsets - frames[nearest - 1]), np.abs(frames[nearest] - onsets))
    recall = float((weight * (distance <= reach)).sum() / weight.sum()) if weight.sum() > 0 else 0.0
    inner = intervals[2:-2] if len(intervals) > 8 else intervals  # a tracker's first and last steps are loose
    jumps = float(np.mean(np.abs(np.diff(inner)) > JUMP * inner[1:])) if len(inner) > 1 else 1.0
    return LevelFit(60.0 * frame_rate / period, precision, recall, (1.0 - jumps) ** 2)


def choose_level(fits: Sequence[LevelFit], window: tuple[float, float] | None = None) -> Level | None:
    """The best-scoring level, and the runner-up: the best at a related level (a tempo ratio
    of 2, 3 or 3/2 either way, within 4 %).

    ``window`` (low, high BPM) is a tempo hint: only levels inside it are chosen from (and the
    runner-up is then left out: the choice was the user's). None when no level fits.
    """
    order = sorted(range(len(fits)), key=lambda k: -fits[k].score)
    allowed = [k for k in order if fits[k].score > 0 and
               (window is None or window[0] <= fits[k].tempo_bpm <= window[1])]
    if not allowed:
        return None
    best = fits[allowed[0]]
    if window is not None:
        return Level(allowed[0], best.tempo_bpm, 0.0, 1.0)
    others = [fits[k] for k in allowed[1:] if _related(fits[k].tempo_bpm, best.tempo_bpm)]
    if not others:
        return Level(allowed[0], best.tempo_bpm, 0.0, 1.0)
    return Level(allowed[0], best.tempo_bpm, others[0].tempo_bpm, 1.0 - others[0].score / best.score)


def _related(a_bpm: float, b_bpm: float, tolerance: float = 0.04) -> bool:
    """Whether two tempi are a RELATED ratio apart (either way), within ``tolerance``."""
    apart = abs(np.log(a_bpm / b_bpm))
    return any(abs(apart - np.log(r)) < np.log(1 + tolerance) for r in RELATED)


def on_the_beat(env: np.ndarray, frames: np.ndarray, ratio: float = 1.05) -> np.ndarray:
    """Beats (frames) moved onto the beat when they were tracked on the off-beats.

    A broad onset on every off-beat (a bass note, an open hi-hat) can outweigh a sharp kick
    on the beat in a tracker that sums the envelope around each beat. When the envelope's
    peaks halfway between the beats are over ``ratio`` times as high as those at the beats,
    each beat moves to the strongest peak near the midpoint (and one is added at each end).
    """
    frames = np.asarray(frames, dtype=np.float64)
    if len(frames) < 4:
        return frames
    period = float(np.median(np.diff(frames)))
    reach = max(2, int(round(0.08 * period)))
    mids = (frames[1:] + frames[:-1]) / 2

    def heights(at: np.ndarray) -> float:  # the mean peak near ``at``, its highest and lowest tenth left out
        idx = np.round(at).astype(int).clip(0, len(env) - 1)
        peaks = np.sort([env[max(0, i - reach): i + reach + 1].max() for i in idx])
        cut = len(peaks) // 10
        return float(peaks[cut: len(peaks) - cut].mean())

    if heights(mids) <= ratio * heights(frames):
        return frames
    ends = [frames[0] - (frames[1] - frames[0]) / 2, frames[-1] + (frames[-1] - frames[-2]) / 2]
    moved = [m for m in (ends[0], *mids, ends[1]) if 0 <= m <= len(env) - 1]
    return np.asarray([_refine(env, _peak_near(env, m, reach)[0]) for m in moved])


# --- where the music plays, and where it has no beats -------------------------------------

LOCAL_S = 6.0  # seconds either side: an onset is judged against the loudest onset this near
CLEAR_ONSET = 0.3  # an onset at this fraction of the loudest one near it is clear
GAP_BEATS = 8.0  # beat periods (two bars of 4/4): a longer span of the music without a beat is a gap ...
GAP_MIN_S = 2.0  # ... if it also lasts this many seconds


def clear_onsets(env: np.ndarray, frame_rate: float, playing: np.ndarray | None = None, *,
                 level: float = CLEAR_ONSET, window_s: float = LOCAL_S) -> np.ndarray:
    """Frames (indices) of ``env`` that are clear onsets: at least ``level`` of the loudest
    onset within ``window_s`` seconds, where the music plays (``playing``, one bool per frame;
    None: everywhere).

    The reference is local, not the whole track's loudest hit: a dense, compressed chorus
    whose onsets reach a tenth of one loud hit elsewhere still has clear onsets of its own.
    """
    from scipy.ndimage import maximum_filter1d

    env = np.asarray(env, dtype=np.float64)
    if env.size == 0 or env.max() <= 0:
        return np.zeros(0, dtype=int)
    near = maximum_filter1d(env, size=2 * int(window_s * frame_rate) + 1, mode="nearest")
    clear = (env >= level * near) & (env > 0.01 * env.max())
    if playing is not None:
        playing = np.asarray(playing, dtype=bool)[: len(env)]
        clear[: len(playing)] &= playing
    return np.nonzero(clear)[0]


def music_spans(playing: np.ndarray, frame_rate: float, *, bridge_s: float = GAP_MIN_S) -> list[tuple[float, float]]:
    """(start, end) seconds of the runs of ``playing`` frames; silences shorter than
    ``bridge_s`` seconds (a rest, a stop) do not split a run."""
    playing = np.asarray(playing, dtype=bool)
    edges = np.diff(np.concatenate([[0], playing.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    spans: list[list[float]] = []
    for a, b in zip(starts / frame_rate, ends / frame_rate):
        if spans and a - spans[-1][1] < bridge_s:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return [(a, b) for a, b in spans]


def beat_gaps(beats: Sequence[float], spans: Sequence[tuple[float, float]], period_s: float, *,
              beats_long: float = GAP_BEATS, shortest_s: float = GAP_MIN_S) -> list[tuple[float, float]]:
    """(start, end) seconds of the stretches of music (``spans``) with no beat for over
    ``beats_long`` beat periods (``period_s``) and ``shortest_s`` seconds: before the first
    beat, between two beats, after the last one, or a whole span without beats."""
    longest = max(shortest_s, beats_long * period_s) if period_s > 0 else shortest_s
    beats = np.sort(np.asarray(beats, dtype=np.float64))
    gaps: list[tuple[float, float]] = []
    for start, end in spans:
        inside = beats[(beats >= start) & (beats <= end)]
        marks = np.concatenate([[start], inside, [end]])
        for a, b in zip(marks[:-1], marks[1:]):
            if b - a > longest:
                gaps.append((float(a), float(b)))
    return gaps


SUPPORT = 2.0  # a beat whose envelope peak is this many times the local median lands on a clear onset
SUPPORT_REACH_S = 0.05  # seconds either side of a beat where its onset may be
BASELINE_S = 2.0  # seconds either side: the local median's window
PULSE_AC = 0.15  # or: the envelope around it repeats at the beat period (autocorrelation) at least this much
PULSE_SALIENCE = 1.1  # or: the beats around it land on peaks this much above the envelope's mean peak
PULSE_BEATS = 8  # beats: the windows of that autocorrelation, before and after the beat


def supported(env: np.ndarray, frames: np.ndarray, frame_rate: float, playing: np.ndarray | None = None) -> np.ndarray:
    """One bool per beat (at envelope ``frames``, ascending): whether the music has a pulse there,
    where it plays (``playing``, one bool per frame; None: everywhere).

    A beat has one when it lands on a clear onset (its envelope peak within SUPPORT_REACH_S at
    least SUPPORT times the median over BASELINE_S either side: kicks and snares, 4 to 20
    times in the recordings of ../shared/media), or when the envelope around it repeats at
    the beat period (autocorrelation at the period, within PULSE_BEATS beats either side, at
    least PULSE_AC, see :func:`_pulse_at`: a dense, compressed mix whose kicks stand only 1.5
    to 2 times over its median, 0.16 to 0.3), or when the beats around it land on peaks
    (:func:`_salience_at` at least PULSE_SALIENCE: 1.13 to 1.3 in such a mix). Both are local, not the track's loudest onset;
    a held chord over noise has neither (about 1.3 times; 0.05 to 0.15), and a stray beat
    there that has one is left out by :func:`anchored`.
    """
    from scipy.ndimage import maximum_filter1d, median_filter

    env = np.asarray(env, dtype=np.float64)
    frames = np.asarray(frames, dtype=np.float64)
    if env.size == 0 or frames.size == 0:
        return np.zeros(len(frames), dtype=bool)
    reach = max(1, int(round(SUPPORT_REACH_S * frame_rate)))
    peaks = maximum_filter1d(env, size=2 * reach + 1, mode="nearest")
    step = max(1, int(frame_rate / 20))  # the median on a coarser grid (every 50 ms): as good, far cheaper
    coarse = median_filter(env[::step], size=2 * int(BASELINE_S * frame_rate / step) + 1, mode="nearest")
    baseline = np.repeat(coarse, step)[: len(env)]
    idx = np.round(frames).astype(int).clip(0, len(env) - 1)
    ok = peaks[idx] >= SUPPORT * np.maximum(baseline[idx], 1e-3 * env.max())
    if len(frames) >= 2:
        period = float(np.median(np.diff(frames)))
        ok |= _pulse_at(env, idx, period) >= PULSE_AC
        ok |= _salience_at(peaks, idx, period) >= PULSE_SALIENCE
    if playing is not None:
        playing = np.asarray(playing, dtype=bool)
        ok &= playing[idx.clip(0, len(playing) - 1)]
    return ok


def _pulse_at(env: np.ndarray, frames: np.ndarray, period: float) -> np.ndarray:
    """For each frame, how much the envelope repeats at ``period`` on both sides of it: the
    lesser of its normalised autocorrelations at the period (the best of the lags one frame
    either side) over the PULSE_BEATS periods before it and over those after it (each window
    reaching one period past the frame). Where a pulse stops, the side past it has none."""
    lag, reach = int(round(period)), int(PULSE_BEATS * period)
    out = np.zeros(len(frames))
    if lag < 2:
        return out

    def repeat(x: np.ndarray) -> float | None:  # None: too short (cut by the file's end) to count
        if len(x) < 3 * lag:
            return None
        x = x - x.mean()
        energy = float(x @ x)
        return max(float(x[:-n] @ x[n:]) for n in (lag - 1, lag, lag + 1)) / energy if energy > 0 else 0.0

    for k, f in enumerate(frames):
        sides = [repeat(env[max(0, f - reach): f + lag]), repeat(env[max(0, f - lag): f + reach])]
        out[k] = min((v for v in sides if v is not None), default=0.0)
    return out


def _salience_at(peaks: np.ndarray, frames: np.ndarray, beats_period: float) -> np.ndarray:
    """For each beat frame, the lesser (before it, after it) of: the mean of ``peaks`` (the
    envelope's local maxima) at the beats within PULSE_BEATS periods over their mean at every
    frame there. About 1 where the beats fall anywhere (noise, a held chord: 1.00 to 1.05); a
    dense mix's beats land on its kicks (1.13 to 1.3), a drum track's far more (2 to 3.5)."""
    reach = int(PULSE_BEATS * beats_period)
    lag = max(1, int(round(beats_period)))
    out = np.zeros(len(frames))
    for k, f in enumerate(frames):
        sides = []
        for lo, hi in ((max(0, f - reach), f + lag), (max(0, f - lag), f + reach)):
            near = frames[(frames >= lo) & (frames < hi)]
            overall = float(peaks[lo:hi].mean()) if hi > lo else 0.0
            if overall > 0 and len(near) >= 3:  # a side cut short by the file's end does not count
                sides.append(float(peaks[near].mean()) / overall)
        out[k] = min(sides, default=0.0)
    return out


def unsupported_spans(times: Sequence[float], ok: Sequence[bool], period_s: float, *,
                      beats_long: float = GAP_BEATS, shortest_s: float = GAP_MIN_S) -> list[tuple[float, float]]:
    """(start, end) seconds between two beats that land on onsets (``ok``) with only beats that
    do not (a tracker coasting through a held chord, a break) between them, when longer than
    ``beats_long`` beat periods and ``shortest_s`` seconds."""
    longest = max(shortest_s, beats_long * period_s) if period_s > 0 else shortest_s
    anchors = [t for t, good in zip(times, anchored(ok)) if good]
    return [(float(a), float(b)) for a, b in zip(anchors, anchors[1:]) if b - a > longest]


def anchored(ok: Sequence[bool]) -> np.ndarray:
    """``ok`` (beats with a pulse, :func:`supported`) less isolated ones: a beat counts only
    beside another that has a pulse too (one stray hit in a held chord is no pulse)."""
    ok = np.asarray(ok, dtype=bool)
    before = np.concatenate([[False], ok[:-1]])
    after = np.concatenate([ok[1:], [False]])
    return ok & (before | after)


def merge_spans(spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """(start, end) spans sorted, those that touch or overlap joined."""
    out: list[list[float]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]
