"""Loudness normalisation of the final mix (EBU R128), with the bundled ffmpeg's ``loudnorm``.

Two passes: the first measures the mix (integrated loudness, loudness range, true peak),
the second applies the gain that brings it to the target. With ``linear=true`` that is
one gain for the whole mix, so the ducking and the music's dynamics stay as mixed; ffmpeg
falls back to its dynamic mode only when one gain would push the true peak over the ceiling.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

from storyboard.plan.data import MixPlan
from storyboard.render.encode import EncodeError, ffmpeg_exe

LOUDNESS_RANGE = 11.0  # LU: loudnorm's target range, wide enough to leave speech over music alone


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
    """The filter that brings ``path`` to the plan's loudness, or None when there is nothing to do:
    no target, or a mix too quiet to measure (silence)."""
    if mix.loudness_lufs is None:
        return None
    m = measure(path, mix)
    measured = float(m["input_i"])
    if not math.isfinite(measured) or measured < -70:
        return None
    return (f"loudnorm=I={mix.loudness_lufs}:TP={mix.true_peak_db}:LRA={LOUDNESS_RANGE}:measured_I={m['input_i']}:"
            f"measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}:measured_thresh={m['input_thresh']}:"
            f"offset={m['target_offset']}:linear=true")
