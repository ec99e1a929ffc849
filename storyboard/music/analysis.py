"""Audio analysis with librosa: tempo, beats (following tempo drift), onsets, bars.

``analyse(path)`` loads any file librosa can read (wav, ogg, flac, mp3), and anything
else the bundled ffmpeg reads (m4a/aac, opus, the audio of a video file), computes an
onset-strength envelope on the low mel bands (below 2 kHz, where kick, snare and
bass live: high-band hi-hats otherwise pull the tracker onto off-beats), a first
tempo estimate, chooses the metrical level a listener would tap (174 rather than 87 BPM
for drum and bass; a tempo hint, ``bpm=``, overrides the choice), then follows the beats
with :mod:`storyboard.music.beats`. Results are cached on disk as JSON, keyed by the
file's content hash, the settings and the hint, so re-planning a script costs a hash,
not an analysis.

All times are seconds in the file's own timeline.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import re
import stat
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from storyboard.files import ffmpeg_exe
from storyboard.music.levels import CLOSE_CALL

ANALYSIS_VERSION = 5  # 5: beats over the whole music (no cut at a loud part's last onset), gaps; 4: levels, hints
SAMPLE_RATE = 22050
HOP = 256  # samples: 11.6 ms at 22.05 kHz; recovers tempo more precisely than 512
FMAX = 2000.0  # Hz: top of the onset envelope's mel bands


@dataclass(frozen=True)
class AudioAnalysis:
    """What a music track's analysis found. Times in seconds from the file's start."""

    path: str
    sha256: str
    duration_s: float
    tempo_bpm: float
    beats: tuple[float, ...]
    onsets: tuple[float, ...]
    envelope: tuple[float, ...] = field(repr=False)  # onset strength, 0..1, one value per hop
    hop_s: float = HOP / SAMPLE_RATE
    salience: float = 0.0  # mean envelope at beats over mean envelope: about 1 means no pulse
    regularity: float = 0.0  # 1 - coefficient of variation of the beat intervals
    clarity: float = 0.0  # envelope autocorrelation at the beat period over other lags: about 1 means no pulse
    settings: dict = field(default_factory=dict)
    runner_up_bpm: float = 0.0  # the best-fitting tempo at a related metrical level (half, double, ...); 0.0: none
    level_margin: float = 1.0  # 1 - the runner-up's score / the chosen level's: near 0 is a close call
    bpm_hint: tuple[float, float] | None = None  # the tempo hint (low, high BPM; equal for one tempo), if any
    music_s: tuple[float, float] | None = None  # where the music plays (start, end), seconds; None: the whole file
    gaps: tuple[tuple[float, float], ...] = ()  # (start, end) seconds: spans of the music with no beat found

    @property
    def close_call(self) -> bool:
        """Whether another metrical level (``runner_up_bpm``) fitted nearly as well: the tempo
        may be double or half what a listener would say. Never with a hint."""
        return self.bpm_hint is None and self.runner_up_bpm > 0 and self.level_margin < CLOSE_CALL

    @property
    def steadiness(self) -> float:
        """1 - median change between successive beat intervals / median interval.

        Near 1 for a steady or smoothly drifting pulse (0.98+ on drum tracks, ramps
        included; 0.95 on the swung jazz of ../shared/media), lower when the beats are
        guesses (0.93 on a drumless trumpet loop, 0.91 on read speech).
        """
        from statistics import median  # a few hundred beats: no numpy on validate's path

        if len(self.beats) < 4:
            return 0.0
        intervals = [b - a for a, b in zip(self.beats, self.beats[1:])]
        changes = [abs(b - a) for a, b in zip(intervals, intervals[1:])]
        return float(1 - median(changes) / median(intervals))

    @property
    def coverage(self) -> float:
        """Fraction of the music (from where it starts playing to where it stops; silence at
        the file's ends left out) spanned by the beats, less any :attr:`gaps` between them
        (a pulse only in part of it is suspect)."""
        start, end = self.music_s if self.music_s else (0.0, self.duration_s)
        if len(self.beats) < 2 or end <= start:
            return 0.0
        period = (self.beats[-1] - self.beats[0]) / (len(self.beats) - 1)
        inner = sum(b - a for a, b in self.gaps if a >= self.beats[0] and b <= self.beats[-1])
        return max(0.0, min(1.0, (self.beats[-1] - self.beats[0] + period - inner) / (end - start)))

    @property
    def confident(self) -> bool:
        """Whether the beat grid looks trustworthy: steady beats over most of the track."""
        return len(self.beats) >= 8 and self.steadiness >= 0.94 and self.coverage >= 0.8

    def downbeats(self, beats_per_bar: int = 4, first: int = 0) -> tuple[float, ...]:
        """Every ``beats_per_bar``-th beat from beat index ``first``."""
        return self.beats[first::beats_per_bar]

    def strength_at(self, t: float) -> float:
        """Onset strength (0..1) at ``t`` seconds, the louder of the two nearest hops."""
        i = int(t / self.hop_s)
        if i < 0 or i >= len(self.envelope):
            return 0.0
        return max(self.envelope[i], self.envelope[min(i + 1, len(self.envelope) - 1)])

    def to_json(self) -> dict:
        return {"version": ANALYSIS_VERSION, **asdict(self)}


def file_hash(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex). Refuses a device, pipe or socket (never reads one)."""
    require_regular(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_folder() -> Path:
    """Where analyses are kept: :func:`storyboard.files.user_cache` ``("audio")``."""
    from storyboard.files import user_cache

    return user_cache("audio")


BpmHint = float | Sequence[float] | None  # a tempo (BPM), a range [low, high], or none


def tempo_hint(bpm: BpmHint) -> tuple[float, float] | None:
    """A tempo hint as (low, high) BPM: one tempo gives (bpm, bpm), as does (bpm, bpm).
    Raises ValueError when it is not a positive number or a range [low, high], 0 < low <= high."""
    if bpm is None:
        return None
    values = [float(bpm)] * 2 if isinstance(bpm, (int, float)) else [float(v) for v in bpm]
    if len(values) != 2 or not 0 < values[0] <= values[1] or not all(map(math.isfinite, values)):
        raise ValueError(f"tempo hint {bpm!r}: expected a tempo in BPM or a range [low, high] with 0 < low < high")
    return values[0], values[1]


def hint_window(hint: tuple[float, float] | None) -> tuple[float, float] | None:
    """The tempi (BPM) a hint lets the tracker choose: one tempo and 8 % either side; a range
    and 2 % either side (the tempo is measured from the beats, so may end a little outside)."""
    if hint is None:
        return None
    low, high = hint
    return (low / 1.08, high * 1.08) if low == high else (low / 1.02, high * 1.02)


def _settings(hint: tuple[float, float] | None = None) -> dict:
    return {"sample_rate": SAMPLE_RATE, "hop": HOP, "fmax": FMAX, "version": ANALYSIS_VERSION,
            "bpm_hint": list(hint) if hint else None}


def _cache_path(sha: str, hint: tuple[float, float] | None = None) -> Path:
    """The cache file for content ``sha`` analysed with these settings and tempo ``hint``."""
    key = hashlib.sha256((sha + json.dumps(_settings(hint), sort_keys=True)).encode()).hexdigest()[:32]
    return cache_folder() / f"{key}.json"


def cached_analysis(path: str | Path, *, bpm: BpmHint = None) -> AudioAnalysis | None:
    """The cached analysis of ``path``'s current content with tempo hint ``bpm``, or None (no librosa needed)."""
    sha, hint = file_hash(path), tempo_hint(bpm)
    target = _cache_path(sha, hint)
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError):  # missing, a folder in its place, unreadable, not JSON
        return None
    return _from_json(data, str(path), sha, hint)


_NUMBER = (int, float)


def _from_json(data, path: str, sha: str, hint: tuple[float, float] | None) -> AudioAnalysis | None:
    """The analysis a cache entry holds, or None when it is of another version, file or hint,
    or is damaged: any entry of the wrong shape (not an object, a field missing, of the wrong
    type or unknown) counts as missing, so the music is analysed again."""
    if not isinstance(data, dict) or data.get("version") != ANALYSIS_VERSION or data.get("sha256") != sha:
        return None
    fields = {name for name in AudioAnalysis.__dataclass_fields__}
    if set(data) - {"version"} != fields:
        return None

    def numbers(value, length: int | None = None) -> bool:
        return (isinstance(value, list) and (length is None or len(value) == length)
                and all(isinstance(v, _NUMBER) and not isinstance(v, bool) for v in value))

    stored = data["bpm_hint"]
    if not (stored is None or numbers(stored, 2)) or (tuple(stored) if stored else None) != hint:
        return None
    music = data["music_s"]
    if (not all(numbers(data[key]) for key in ("beats", "onsets", "envelope"))
            or not (music is None or numbers(music, 2))
            or not (isinstance(data["gaps"], list) and all(numbers(g, 2) for g in data["gaps"]))
            or not all(isinstance(data[key], _NUMBER) for key in ("duration_s", "tempo_bpm", "hop_s", "salience",
                                                                   "regularity", "clarity", "runner_up_bpm",
                                                                   "level_margin"))
            or not isinstance(data["settings"], dict)):
        return None
    data = {**data, "path": path, "bpm_hint": hint, "music_s": tuple(music) if music else None,
            "gaps": tuple(tuple(g) for g in data["gaps"])}
    del data["version"]
    for key in ("beats", "onsets", "envelope"):
        data[key] = tuple(data[key])
    return AudioAnalysis(**data)


# --- reading audio: a cheap probe, and decoding whatever the bundled ffmpeg reads ---------


class AudioProbeError(ValueError):
    """A file that holds no audio this tool can decode; the message says why."""


@dataclass(frozen=True)
class AudioProbe:
    """What a cheap look at an audio file found.

    ``duration_s`` is the file's length in seconds as its container states it (to 10 ms),
    or as counted by decoding it when the container does not say.
    """

    duration_s: float
    codec: str


PROBE_TIMEOUT_S = 60.0  # seconds: a probe decodes half a second; a whole file only when its length is not stated
PROBE_RATE = 8000  # Hz: samples per second of the probe's decode (enough to tell audio is there)
PROBE_VERSION = 1  # of the probe notes in the user cache


def require_regular(path: str | Path) -> os.stat_result:
    """``os.stat(path)``, refusing anything but a regular file (a device, pipe or socket is never opened)."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise AudioProbeError(f"'{path}' is not a regular file (a device, pipe or socket); expected an audio file")
    return st


def probe_audio(path: str | Path) -> AudioProbe:
    """Check that ``path`` holds decodable audio and read its length, without librosa.

    Runs the bundled ffmpeg once (about 20 ms): the container's streams and duration,
    and the first half second of the first audio stream decoded. What it found is noted in the
    user cache by the file's identity (path, size, modification time, inode), so checking a
    script again costs a ``stat``; a changed file is probed again. Raises :class:`AudioProbeError`.
    """
    st = require_regular(path)
    return _probe(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino)


@functools.lru_cache(maxsize=64)
def _probe(path: str, size: int, mtime_ns: int, inode: int) -> AudioProbe:  # size .. inode: the file's identity
    if size == 0:
        raise AudioProbeError("the file is empty (0 bytes)")
    identity = {"version": PROBE_VERSION, "path": path, "size": size, "mtime_ns": mtime_ns, "inode": inode}
    note = cache_folder() / f"probe-{hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]}.json"
    known = _read_probe_note(note, identity)
    if known is not None:
        return known
    found = _probe_with_ffmpeg(path)
    _write_probe_note(note, identity, found)
    return found


def _read_probe_note(note: Path, identity: dict) -> AudioProbe | None:
    """The probe a note holds for the file of ``identity``; None when there is none, or it is of
    another file or version, damaged, or of the wrong shape (then the file is probed again)."""
    try:
        data = json.loads(note.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(data.get(k) != v for k, v in identity.items()):
        return None
    duration, codec = data.get("duration_s"), data.get("codec")
    if isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration) \
            or duration <= 0 or not isinstance(codec, str) or not codec:
        return None
    return AudioProbe(float(duration), codec)


def _write_probe_note(note: Path, identity: dict, probe: AudioProbe) -> None:
    """Note ``probe`` for the file of ``identity`` (atomically); a cache that cannot take it
    (read-only, a folder in the way) costs the next run a probe, nothing else."""
    from storyboard.files import commit, temporary_sibling

    try:
        note.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_sibling(note, ".json")
        tmp.write_text(json.dumps({**identity, "duration_s": probe.duration_s, "codec": probe.codec}))
        commit(tmp, note)
    except OSError:
        pass


def _probe_with_ffmpeg(path: str) -> AudioProbe:
    """What the bundled ffmpeg finds: the first audio stream's codec and the file's length (s)."""
    info, samples = _ffmpeg_decode(path, PROBE_RATE, "s16le", seconds=0.5)
    stream = re.search(r"Stream #\d+:\d+\S*: Audio: (\w+)", info)
    if stream is None:
        opened = re.search(r"Duration:|Stream #", info)
        if not opened:
            reason = _ffmpeg_reason(info)
            raise AudioProbeError(f"the bundled ffmpeg cannot read it as audio ({reason})" if reason else
                                  "the bundled ffmpeg cannot read it as audio")
        raise AudioProbeError("it has no audio stream")
    if not samples:
        raise AudioProbeError(f"its {stream.group(1)} audio stream holds no samples (an empty or header-only file?)")
    length = re.search(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)", info)
    if length:
        duration = int(length.group(1)) * 3600 + int(length.group(2)) * 60 + float(length.group(3))
    else:  # the container does not say: count the samples
        duration = len(_ffmpeg_decode(path, PROBE_RATE, "s16le")[1]) / (2 * PROBE_RATE)
    return AudioProbe(duration, stream.group(1))


def _ffmpeg_decode(path: str | Path, rate: int, sample_format: str, seconds: float | None = None) -> tuple[str, bytes]:
    """(ffmpeg's report, the first audio stream's samples as mono ``sample_format`` at ``rate`` Hz)."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path), "-map", "0:a:0?", "-vn", "-sn", "-dn"]
    if seconds is not None:
        cmd += ["-t", f"{seconds:g}"]
    cmd += ["-ac", "1", "-ar", str(rate), "-f", sample_format, "pipe:1"]
    try:
        result = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AudioProbeError(f"decoding it took over {PROBE_TIMEOUT_S:g} s") from None
    return result.stderr.decode("utf-8", "replace"), result.stdout


def _ffmpeg_reason(info: str) -> str:
    """ffmpeg's own words for why it failed: its last line that says 'Error' or 'Invalid'."""
    lines = [line.strip() for line in info.splitlines() if re.search(r"error|invalid", line, re.IGNORECASE)]
    if not lines:
        return ""
    return re.sub(r"^(\[[^]]*\]\s*)?(Error opening input files?:\s*)?", "", lines[-1])


def decode_with_ffmpeg(path: str | Path, sample_rate: int):
    """The first audio stream of ``path`` as float32 mono samples at ``sample_rate`` Hz, decoded
    by the bundled ffmpeg (any format it reads: m4a/aac, mp3, flac, ogg, wav, a video's audio)."""
    import numpy as np

    require_regular(path)
    info, raw = _ffmpeg_decode(path, sample_rate, "f32le")
    if not raw:
        reason = _ffmpeg_reason(info)
        raise AudioProbeError(f"no audio could be decoded from '{path}'" + (f" ({reason})" if reason else ""))
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def load_mono(path: str | Path, sample_rate: int):
    """Samples of ``path``, float32 mono at ``sample_rate`` Hz.

    librosa (soundfile) reads what it can, as before; anything else (m4a/aac, a video's
    audio, a file soundfile refuses) is decoded through the bundled ffmpeg to PCM.
    """
    import warnings

    try:
        import soundfile

        soundfile.info(str(path))
    except Exception:  # soundfile cannot read it: librosa would try audioread, which needs a system ffmpeg
        return decode_with_ffmpeg(path, sample_rate)
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa's "PySoundFile failed. Trying audioread instead."
            y, _ = librosa.load(str(path), sr=sample_rate, mono=True)
    except Exception:
        return decode_with_ffmpeg(path, sample_rate)
    return y


def onset_envelope(y, sr: int):
    """Onset strength on the mel bands below ``FMAX``, one value per ``HOP`` samples."""
    return onset_envelopes(y, sr)[0]


def onset_envelopes(y, sr: int):
    """(low-band, full-band) onset strength, one value per ``HOP`` samples, from one STFT.

    The same as ``librosa.onset.onset_strength(y=y, fmax=FMAX, n_mels=64)`` and
    ``librosa.onset.onset_strength(y=y)``, sharing the spectrogram between them.
    """
    import librosa
    import numpy as np

    power = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP)) ** 2
    low = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64, fmax=FMAX)
    full = librosa.feature.melspectrogram(S=power, sr=sr)
    return (librosa.onset.onset_strength(S=librosa.power_to_db(low), sr=sr, hop_length=HOP),
            librosa.onset.onset_strength(S=librosa.power_to_db(full), sr=sr, hop_length=HOP))


LEAD_IN_S = 0.5  # silence put before the audio for analysis
TEMPO_EXCERPT_S = 60.0  # the global tempo is estimated on at most this much, from the middle


_DELAY: list[float] = []


def detector_delay() -> float:
    """Seconds by which the onset envelope's peak trails a click (measured once on impulses)."""
    if not _DELAY:
        import numpy as np

        clicks = (0.5, 1.25, 2.0, 2.75)
        y = np.zeros(int(3.5 * SAMPLE_RATE), dtype=np.float32)
        for t in clicks:
            y[int(t * SAMPLE_RATE)] = 1.0
        env = onset_envelope(y, SAMPLE_RATE)
        from storyboard.music.beats import _refine

        rate = SAMPLE_RATE / HOP
        lags = []
        for t in clicks:
            lo = int(t * rate) - 4
            peak = lo + int(np.argmax(env[lo: lo + 12]))
            lags.append(_refine(env, peak) / rate - t)
        _DELAY.append(float(np.median(lags)))
    return _DELAY[0]


def find_beats(env, full_band, rate: float, hint: tuple[float, float] | None = None, playing=None):
    """(beats, level): beats from the low-band envelope ``env`` (and the full-band one for the
    tempo), seconds; and the :class:`storyboard.music.beats.Level` chosen (None if none fitted).

    The metrical level: librosa's dynamic-programming tracker runs at each candidate tempo
    (librosa's global estimate, the envelopes' periodicities, their doubles and halves, and
    the centre of the ``hint``, a (low, high) BPM range); :func:`storyboard.music.beats.choose_level`
    picks the beats a listener would tap, within the hint's window if there is one.
    Steady music keeps those beats, refined to the envelope's sub-frame peaks. Drifting
    tempo: :func:`storyboard.music.beats.track` follows the drift at the chosen level.
    Beats are kept from the first clear onset to the last where the music plays
    (``playing``: one bool per envelope frame; None: everywhere), see :func:`within_onsets`.
    """
    import librosa
    import numpy as np

    from storyboard.music.beats import (
        TEMPO_RANGE,
        _correct_outliers,
        _refine,
        candidate_tempi,
        choose_level,
        describe,
        level_fit,
        on_the_beat,
        track,
    )

    excerpt = int(TEMPO_EXCERPT_S * rate)
    middle = max(0, (len(full_band) - excerpt) // 2)
    estimate = float(librosa.feature.tempo(onset_envelope=full_band[middle: middle + excerpt], sr=SAMPLE_RATE,
                                           hop_length=HOP)[0])

    def dp(bpm: float) -> np.ndarray:
        _, frames = librosa.beat.beat_track(onset_envelope=env, sr=SAMPLE_RATE, hop_length=HOP, bpm=bpm, trim=False)
        return np.asarray(frames, dtype=int)

    window = hint_window(hint)
    # The hint's centre, tracked within the tempi a tracker can follow: any positive hint,
    # even 1e-320 BPM (whose window squared underflows to 0), gives a finite period.
    lowest, highest = TEMPO_RANGE
    first = [estimate] if window is None else \
        [float(np.clip(np.sqrt(window[0]) * np.sqrt(window[1]), lowest, highest)), estimate]
    tempi = candidate_tempi((env, full_band), rate, first=first)
    tracked = [dp(t) for t in tempi]
    level = choose_level([level_fit(env, frames, rate) for frames in tracked], window)
    pick = level.index if level else 0
    frames, tempo = tracked[pick], level.tempo_bpm if level else tempi[0]
    if abs(tempi[pick] / tempo - 1) > 0.05:  # the tracker was pulled far off the tempo it was asked for:
        frames = dp(tempo)  # track again at the tempo it found, on a smoother path
    delay = detector_delay()
    peaks = np.asarray([_refine(env, _local_peak(env, f)) for f in frames])
    steady = describe(env, rate, _correct_outliers(env, peaks) / rate)
    followed = track(env, rate, tempo, octave_check=False)
    # The follower wins only where it lands on clearly more onset strength: a drifting
    # tempo leaves the fixed-tempo grid off the hits; on steady music the grid is as
    # good and more regular.
    chosen = followed if followed.salience > 1.1 * steady.salience else steady
    times = on_the_beat(env, chosen.times * rate) / rate - delay
    return describe(env, rate, within_onsets(env, rate, times, 60.0 / tempo, playing)), level


def within_onsets(env, rate: float, times, period_s: float, playing=None):
    """Drop beats before the first beat on an onset or after the last (no beats in silence,
    nor in a held chord or noise at either end).

    A beat on an onset (:func:`storyboard.music.beats.supported`) is judged against the
    envelope around it where the music plays, not against the track's loudest onset: one
    loud hit (or a loud first half) no longer ends the beats where it ends.
    """
    import numpy as np

    from storyboard.music.beats import anchored, supported

    times = np.asarray(times)
    ok = np.nonzero(anchored(supported(env, times * rate, rate, playing)))[0]
    if len(ok) == 0:
        return times
    return np.maximum(times[ok[0]: ok[-1] + 1], 0.0)


SILENCE_DB = 50.0  # dB: a frame this far below the music's loud frames (95th percentile) is silence


def playing_frames(y, frame_length: int = 2048):
    """One bool per ``HOP`` samples of ``y`` (aligned with the onset envelope): whether the
    music plays there, i.e. its RMS level is within ``SILENCE_DB`` of the loud part's."""
    import librosa
    import numpy as np

    rms = librosa.feature.rms(y=y, frame_length=frame_length, hop_length=HOP)[0]
    level = 20 * np.log10(np.maximum(rms, 1e-10))
    return level > np.percentile(level, 95) - SILENCE_DB


def _local_peak(env, frame: int, radius: int = 2) -> int:
    import numpy as np

    lo, hi = max(0, frame - radius), min(len(env), frame + radius + 1)
    return lo + int(np.argmax(env[lo:hi]))


def analyse(path: str | Path, *, use_cache: bool = True, bpm: BpmHint = None) -> AudioAnalysis:
    """Analyse a music file (or return its cached analysis made with the same tempo hint).

    ``bpm``: a tempo hint, one tempo (BPM) or a range (low, high): the beats are tracked at
    the metrical level inside it (about ``bpm``, or between low and high).
    """
    path, hint = Path(path), tempo_hint(bpm)
    if use_cache:
        hit = cached_analysis(path, bpm=hint)
        if hit is not None:
            return hit
    import librosa
    import numpy as np

    from storyboard.music.beats import beat_gaps, merge_spans, music_spans, supported, unsupported_spans

    sha = file_hash(path)
    y, sr = load_mono(path, SAMPLE_RATE), SAMPLE_RATE
    duration = len(y) / sr
    # Half a second of silence first: an onset needs audio before it, so a hit on the
    # file's very first sample would otherwise go unseen. Times are shifted back below.
    y = np.concatenate([np.zeros(int(LEAD_IN_S * sr), dtype=y.dtype), y])
    env, full_band = onset_envelopes(y, sr)
    peak = float(env.max()) if env.size and env.max() > 0 else 1.0
    env = env / peak
    playing = playing_frames(y)[: len(env)]
    tempo, times, salience, regularity, clarity, level = 0.0, np.zeros(0), 0.0, 0.0, 0.0, None
    if duration >= 1.0 and np.any(env > 0):
        found, level = find_beats(env, full_band / max(float(full_band.max()), 1e-9), sr / HOP, hint, playing)
        tempo, times, salience, regularity, clarity = (found.tempo_bpm, found.times, found.salience,
                                                       found.regularity, found.clarity)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=sr, hop_length=HOP, units="time") - LEAD_IN_S
    times = np.asarray(times) - LEAD_IN_S
    whole, env = env, env[int(round(LEAD_IN_S * sr / HOP)):]
    spans = [(max(0.0, a - LEAD_IN_S), min(duration, b - LEAD_IN_S)) for a, b in music_spans(playing, sr / HOP)]
    spans = [(a, b) for a, b in spans if b > a]
    music = (spans[0][0], spans[-1][1]) if spans else None
    kept = np.asarray([t for t in times if -0.05 <= t <= duration])
    period = 60.0 / tempo if tempo > 0 else 0.0
    gaps = beat_gaps(kept, spans, period) if spans else []
    ok = supported(whole, (kept + LEAD_IN_S) * sr / HOP, sr / HOP, playing)  # beats that land on onsets
    gaps = merge_spans(gaps + unsupported_spans(kept, ok, period))
    result = AudioAnalysis(
        path=str(path), sha256=sha, duration_s=round(duration, 6), tempo_bpm=round(float(tempo), 4),
        beats=tuple(round(float(t), 5) for t in kept),
        onsets=tuple(round(float(t), 5) for t in onsets if t >= 0),
        envelope=tuple(round(float(v), 4) for v in env),
        hop_s=HOP / SAMPLE_RATE, salience=round(salience, 4), regularity=round(regularity, 4),
        clarity=round(clarity, 4), settings=_settings(hint),
        runner_up_bpm=round(level.runner_up_bpm, 2) if level else 0.0,
        level_margin=round(level.margin, 4) if level else 1.0, bpm_hint=hint,
        music_s=(round(float(music[0]), 3), round(float(music[1]), 3)) if music else None,
        gaps=tuple((round(float(a), 3), round(float(b), 3)) for a, b in gaps),
    )
    if use_cache:
        _store(result)
    return result


def _store(result: AudioAnalysis) -> None:
    """Write ``result`` to its cache entry, replacing a damaged one. An entry that cannot be
    written (a read-only cache, a folder where the file should be) only costs the next
    analysis; when one stands in the way, stderr names it, and the run goes on."""
    import sys

    from storyboard.files import commit, temporary_sibling

    target = _cache_path(result.sha256, result.bpm_hint)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir() and not target.is_symlink():
            try:
                target.rmdir()  # an empty folder in the entry's place (nothing of anyone's is lost)
            except OSError:
                pass
        tmp = temporary_sibling(target, ".json")
        tmp.write_text(json.dumps(result.to_json()))
        commit(tmp, target)
    except OSError as exc:
        if target.exists() or target.is_symlink():  # a damaged entry stays: say which, or every run re-analyses
            what = "a folder" if target.is_dir() else "unreadable or damaged"
            print(f"warning: music analysis cache entry '{target}' is {what} and could not be replaced "
                  f"({type(exc).__name__}: {exc.strerror or exc}); '{result.path}' was analysed again and will be on "
                  "every run until it is removed", file=sys.stderr)
