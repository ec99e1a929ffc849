"""Short narration in the mix: speech under a second renders, and is heard where the plan puts it.

MoviePy's file reader split any request longer than half its buffer (a buffer never longer than
the file) and then read the halves wrongly: a 0.62 s "Yes." ended every render with an
``OSError`` at the mix, and a 0.3 s WAV mixed as silence.
"""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from helpers import probe, read_audio, write

from storyboard.cli import main
from storyboard.pipeline import plan_script
from storyboard.plan.data import MixPlan, NarrationPlan
from storyboard.render.compose import AUDIO_RATE, mix_audio
from storyboard.script.load import load_script


@pytest.mark.parametrize("seconds", [0.05, 0.3, 0.62, 0.95, 2.5])
def test_a_short_voice_is_mixed_sample_for_sample(tmp_path, seconds):
    """A ramp (any misread sample shows) at 0.5 s into a 4 s mix comes out where it was put (in both
    channels at -3 dB, as ffmpeg spreads mono)."""
    n = int(seconds * AUDIO_RATE)
    ramp = (np.arange(n) / n * 0.8 - 0.4).astype(np.float32)
    soundfile.write(tmp_path / "voice.wav", ramp, AUDIO_RATE, subtype="FLOAT")
    voice = NarrationPlan(0, str(tmp_path / "voice.wav"), 0.5, seconds, 1.0, (("x", 0.5, 0.5 + seconds),))
    mix_audio([], 4.0, tmp_path / "mix.wav", [voice], MixPlan(duck_db=0))
    out, rate = soundfile.read(tmp_path / "mix.wav")
    assert rate == AUDIO_RATE and out.shape == (4 * AUDIO_RATE, 2)
    at = int(0.5 * AUDIO_RATE)
    assert np.abs(out[at:at + n - 1] - ramp[:-1, None] * 0.5 ** 0.5).max() < 1e-4
    assert np.abs(out[:at]).max() == 0 and np.abs(out[at + n + 1:]).max() == 0


@pytest.mark.slow
@pytest.mark.parametrize("text", ["Hello there.", "Yes.", "Thanks."])
def test_a_preview_render_of_narration_under_a_second_has_its_voice(tmp_path, private_cache, text):
    script = write(tmp_path / "short.yaml", f"""\
        output: {{width: 160, height: 96, fps: 24, loudness: null}}
        scenes:
          - id: only
            duration: auto + 0.5s
            prompts: a quiet room
            narration: "{text}"
        """)
    assert main(["render", str(script), "--quiet"]) == 0
    plan = plan_script(load_script(script)).plan
    (voice,) = plan.narration
    assert voice.duration_s < 1.0  # what broke the mix
    video = probe(tmp_path / "short.mp4")
    assert video.frames == plan.total_frames
    assert video.audio_s == pytest.approx(plan.total_frames / 24, abs=0.003)
    heard, spoken = read_audio(tmp_path / "short.mp4"), read_audio(voice.path)
    span = slice(0, len(spoken))  # the voice starts the scene, at volume 1, not levelled, -3 dB a channel
    rms = np.sqrt(np.mean(heard[span] ** 2))
    assert rms == pytest.approx(np.sqrt(np.mean(spoken ** 2)) * 0.5 ** 0.5, rel=0.05)
    assert np.sqrt(np.mean(heard[len(spoken) + 2048:] ** 2)) < 1e-3  # and then the padding is silent
