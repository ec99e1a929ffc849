"""Loudness normalisation of the final mix (EBU R128) with the bundled ffmpeg.

The mix is measured (``loudnorm``'s analysis: integrated loudness and true peak), then
brought to the target by one gain, so the ducking and the music's dynamics stay as
mixed. Where that gain would push peaks over the ceiling (speech peaks near full
scale; quieter mixes need several dB), a limiter on a 4x oversampled signal catches
them: the true-peak ceiling holds and only those peaks change.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

from storyboard.plan.data import MixPlan
from storyboard.render.encode import EncodeError, ffmpeg_exe

LOUDNESS_RANGE = 11.0  # LU: loudnorm's target range (its analysis needs one)
PEAK_MARGIN_DB = 0.3  # below the ceiling, for what the AAC encoder adds to peaks
AUDIO_RATE = 44100


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
