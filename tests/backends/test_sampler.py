"""The windowed sampler with denoisers whose exact answer is known."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from storyboard.backends.diffusion.families.unet3d import SCHEDULER  # noqa: E402
from storyboard.backends.diffusion.loading import make_scheduler  # noqa: E402
from storyboard.backends.diffusion.sampler import (  # noqa: E402
    fused_prediction,
    sample,
    window_weights,
)
from storyboard.plan.windows import windows_for  # noqa: E402


def frame_field(frames: int) -> torch.Tensor:
    """A fixed smooth latent video ``[1, 4, frames, 4, 4]``."""
    f = torch.arange(frames, dtype=torch.float32).view(1, 1, -1, 1, 1)
    c = torch.arange(4, dtype=torch.float32).view(1, -1, 1, 1, 1)
    ij = torch.arange(16, dtype=torch.float32).view(1, 1, 1, 4, 4)
    return torch.sin(0.1 * f + c + 0.3 * ij)


def test_window_weights_fall_off_towards_the_edges():
    w = window_weights(16)
    torch.testing.assert_close(w, w.flip(0), rtol=0, atol=1e-6)  # symmetric
    assert bool((w[1:8] > w[:7]).all()), "rising to the middle"
    assert float(w.min()) > 0.09 and float(w.max()) <= 1.0
    assert window_weights(5).tolist() == pytest.approx([math.sin(math.pi * (k + 0.5) / 5) for k in range(5)])
    assert window_weights(1).tolist() == [1.0]


def test_fusion_is_exact_where_windows_agree():
    target = frame_field(50)

    def agreeing(x, t, window):  # the same answer for a frame, whichever window asks
        s, e = window
        return target[:, :, s:e] + 0.0 * x

    fused = fused_prediction(agreeing, torch.zeros_like(target), torch.tensor(10), windows_for(0, 50, 16, 4))
    torch.testing.assert_close(fused, target, rtol=0, atol=1e-6)


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++"])
def test_windowed_sampling_equals_one_pass_when_windows_agree(scheduler):
    """Elementwise denoisers agree across windows, so 16/4 windows give the one-pass result."""
    target = frame_field(40)

    def denoiser(x, t, window):
        s, e = window
        return 0.3 * x + 0.5 * target[:, :, s:e] * (t.float() / 1000)

    noise = torch.randn(1, 4, 40, 4, 4, generator=torch.Generator().manual_seed(3))
    one = sample(denoiser, make_scheduler(scheduler, SCHEDULER), noise, [(0, 40)], steps=8)
    windowed = sample(denoiser, make_scheduler(scheduler, SCHEDULER), noise, windows_for(0, 40, 16, 4), steps=8)
    torch.testing.assert_close(windowed, one, rtol=1e-5, atol=1e-5)


def test_overlapping_predictions_are_blended_by_the_weights():
    calls = []

    def by_window(x, t, window):
        calls.append(window)
        return torch.full_like(x, float(len(calls)))  # window 1 says 1, window 2 says 2

    fused = fused_prediction(by_window, torch.zeros(1, 1, 12, 1, 1), torch.tensor(1), [(0, 8), (4, 12)])
    values = fused.flatten().tolist()
    assert values[:4] == [1, 1, 1, 1] and values[8:] == [2, 2, 2, 2]
    w = window_weights(8).tolist()
    for frame in range(4, 8):  # window 1 at its position frame, window 2 at frame - 4
        a, b = w[frame], w[frame - 4]
        assert values[frame] == pytest.approx((a * 1 + b * 2) / (a + b))


def test_the_denoiser_never_sees_more_than_one_window():
    seen = []

    def spy(x, t, window):
        seen.append(x.shape[2])
        return torch.zeros_like(x)

    sample(spy, make_scheduler("ddim", SCHEDULER), torch.randn(1, 4, 300, 2, 2), windows_for(0, 300, 16, 4), steps=3)
    assert max(seen) == 16
    assert len(seen) == 3 * len(windows_for(0, 300, 16, 4))


def test_a_frame_in_no_window_is_an_error():
    with pytest.raises(ValueError, match="frame 10 is in no window"):
        fused_prediction(lambda x, t, w: x, torch.zeros(1, 1, 20, 1, 1), torch.tensor(1), [(0, 10), (11, 20)])
