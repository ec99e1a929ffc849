"""The mix's true peak, measured on the encoded MP4: the AAC encoder must not carry it over the ceiling."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
from helpers import ffmpeg, write

from storyboard.cli import main
from storyboard.render.loudness import true_peak_db

RATE = 44100


def ebur128(path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBFS, 4x oversampled) by ffmpeg's EBU R128 meter."""
    log = subprocess.run([ffmpeg(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a:0", "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True).stderr
    summary = log[log.rindex("Summary:"):]
    return (float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1)))


def write_float_wav(path, samples: np.ndarray) -> None:
    import soundfile

    soundfile.write(str(path), np.asarray(samples, np.float32), RATE, subtype="FLOAT")


def snare_bursts(seconds: float) -> np.ndarray:
    """Four bursts of white noise a second, 50 ms each, peaking at -0.01 dBFS: sparse, dense transients
    that need the limiter and that AAC carried 0.7 dB over it (-0.3 dBTP against a -1 dBTP ceiling)."""
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = np.random.default_rng(1).normal(size=n) * ((t * 4) % 1 < 0.05)
    noise *= 0.999 / np.abs(noise).max()
    return np.stack([noise, noise], axis=1)


def test_true_peak_finds_the_peak_between_samples(tmp_path):
    """A sine at a quarter of the rate, sampled 45 degrees off its crests: every sample is at 0.707 of
    its amplitude (-3.0 dB), its true peak is the amplitude. (Faded in and out over 50 ms: an abrupt
    start would ring, and a true-peak meter rightly counts that.)"""
    t = np.arange(RATE) / RATE
    wave = 0.5 * np.sin(2 * np.pi * RATE / 4 * t + np.pi / 4) * np.clip(np.minimum(t, t[::-1]) / 0.05, 0, 1)
    write_float_wav(tmp_path / "s.wav", np.stack([wave, wave], axis=1))
    assert 20 * np.log10(np.abs(wave).max()) == pytest.approx(-9.03, abs=0.01), "sample peak"
    assert true_peak_db(tmp_path / "s.wav") == pytest.approx(-6.02, abs=0.1), "true peak: the amplitude"


@pytest.mark.slow
def test_a_loud_mix_stays_under_the_true_peak_ceiling_as_encoded(tmp_path):
    write_float_wav(tmp_path / "drums.wav", snare_bursts(4.0))
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 64, height: 64, fps: 12, preset: ultrafast}}
        music: {{path: {tmp_path / 'drums.wav'}}}
        scenes:
          - {{duration: 4s, prompts: a drum kit}}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    _, peak = ebur128(out)
    assert peak <= -1.0, f"true peak {peak} dBFS over the -1 dBTP ceiling"
    assert peak >= -1.5, "lowered by its overshoot and a small margin, no more"
    assert true_peak_db(out) == pytest.approx(peak, abs=0.15), "our meter agrees with ffmpeg's"
