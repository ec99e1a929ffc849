"""Loudness normalisation of the final mix (EBU R128) with the bundled ffmpeg.

The mix is measured (``loudnorm``'s analysis: integrated loudness and true peak), then
brought to the target by one gain, so the ducking and the music's dynamics stay as
mixed. Where that gain would push peaks over the ceiling (speech peaks near full
scale; quieter mixes need several dB), a limiter on a 4x oversampled signal catches
them, and only those peaks change.

The AAC encoder then adds to the peaks (by up to about half a dB on dense transients),
so the ceiling is checked on the encoded file itself: decoded, 4x oversampled as
ITU-R BS.1770-4 (annex 2) measures true peak. If it is over, the mix is encoded again
with its level lowered by the overshoot and a margin (:func:`encode_mix`).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path
from typing import Callable

from storyboard.files import ffmpeg_exe
from storyboard.plan.data import MixPlan
from storyboard.render.encode import EncodeError

LOUDNESS_RANGE = 11.0  # LU: loudnorm's target range (its analysis needs one)
PEAK_MARGIN_DB = 0.3  # below the ceiling, for what the AAC encoder adds to peaks
TRIM_MARGIN_DB = 0.1  # below the ceiling, when an encoded mix is lowered by its overshoot
ENCODES = 3  # tries at encoding the mix under its ceiling
AUDIO_RATE = 44100
OVERSAMPLING = 4  # true peak: samples at 4x the rate, as ITU-R BS.1770-4 annex 2 does
AAC_BITRATE = "192k"


def measure(path: Path, mix: MixPlan) -> dict[str, str]:
    """loudnorm's first pass over an audio file: ``input_i`` (LUFS), ``input_tp`` (dBTP), ... as text."""
    assert mix.loudness_lufs is not None
    result = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-af",
                             f"loudnorm=I={mix.loudness_lufs}:TP={mix.true_peak_db}:LRA={LOUDNESS_RANGE}:print_format=json",
                             "-f", "null", "-"], capture_output=True, text=True)
    found = re.search(r"\{[^{}]*\"input_i\"[^{}]*\}", result.stderr)
    if result.returncode != 0 or not found:
        raise EncodeError(f"ffmpeg could not measure the mix's loudness: {result.stderr.strip()[-1000:]}")
    return json.loads(found.group(0))


def loudnorm_filter(path: Path, mix: MixPlan) -> str | None:
    """The filter that brings ``path`` to the plan's loudness and true-peak ceiling, or None when
    there is nothing to do: no target, or a mix too quiet to measure (silence)."""
    if mix.loudness_lufs is None:
        return None
    m = measure(path, mix)
    measured = float(m["input_i"])
    if not math.isfinite(measured) or measured < -70:
        return None
    gain_db = mix.loudness_lufs - measured
    ceiling = 10 ** ((mix.true_peak_db - PEAK_MARGIN_DB) / 20)
    return (f"volume={gain_db:.3f}dB,aresample={4 * AUDIO_RATE},"
            f"alimiter=limit={ceiling:.5f}:attack=1:release=50:level=disabled,aresample={AUDIO_RATE}")


def true_peak_db(path: Path) -> float:
    """The true peak of a media file's audio in dBTP: decoded and resampled by ffmpeg to
    :data:`OVERSAMPLING` times 44.1 kHz (its windowed-sinc resampler), the largest sample
    magnitude on any channel. ``-inf`` for silence.

    Streamed in blocks, so memory does not grow with the length.
    """
    import numpy as np

    proc = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-i", str(path),
                             "-map", "0:a:0", "-af", f"aresample={OVERSAMPLING * AUDIO_RATE}", "-f", "f32le",
                             "-acodec", "pcm_f32le", "pipe:1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    peak = 0.0
    try:
        while block := proc.stdout.read(1 << 22):
            samples = np.frombuffer(block[: len(block) // 4 * 4], np.float32)
            if samples.size:
                peak = max(peak, float(np.abs(samples).max()))
        error = proc.stderr.read().decode(errors="replace").strip()
    finally:
        proc.stdout.close()
        proc.stderr.close()
        code = proc.wait()
    if code != 0:
        raise EncodeError(f"ffmpeg could not measure the true peak of {path}: {error[-1000:]}")
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def encode_mix(wav: Path, target: Path, mix: MixPlan, warn: Callable[[str], None] | None = None) -> float | None:
    """Encode the mixed WAV as AAC (``AAC_BITRATE``, 44.1 kHz, MP4 container) into ``target``, at the
    plan's loudness with its true peak at or under the ceiling *as encoded*.

    The encoded file is measured (:func:`true_peak_db`); while it is over ``mix.true_peak_db``
    the mix is encoded again, lowered after the limiter by the overshoot plus
    :data:`TRIM_MARGIN_DB` (AAC scales almost linearly, so one more try is usually enough).
    Returns the encoded true peak in dBTP, or None when the plan sets no loudness (levels as
    mixed, no ceiling). ``warn`` hears if :data:`ENCODES` tries still leave it over.
    """
    loudness = loudnorm_filter(wav, mix)
    trim_db = 0.0
    for _ in range(ENCODES):
        filters = ",".join(f for f in (loudness, f"volume={-trim_db:.3f}dB" if trim_db else None) if f)
        result = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                                 *(["-af", filters] if filters else []), "-ar", str(AUDIO_RATE),
                                 "-c:a", "aac", "-b:a", AAC_BITRATE, "-f", "mp4", str(target)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise EncodeError(f"ffmpeg could not encode the music: {result.stderr.strip()[-2000:]}")
        if mix.loudness_lufs is None:
            return None
        peak = true_peak_db(target)
        over = peak - mix.true_peak_db
        if over <= 0:
            return peak
        trim_db += over + TRIM_MARGIN_DB
    if warn:
        warn(f"warning: the encoded mix peaks at {peak:.1f} dBTP, over the {mix.true_peak_db:g} dBTP ceiling "
             f"after {ENCODES} encodes")
    return peak
