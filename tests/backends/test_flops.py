"""benchmarks/flops.py: FLOPs counted on the meta device, and forwards counted as the sampler runs them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")


def load_flops():
    """benchmarks/flops.py as a module (benchmarks/ is not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "flops.py"
    spec = importlib.util.spec_from_file_location("bench_flops", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flops = load_flops()


def test_a_linear_layer_and_attention_count_their_multiply_adds_twice():
    with torch.device("meta"):
        layer = torch.nn.Linear(64, 32)
    x = torch.empty(10, 64, device="meta")
    assert flops.count_flops(lambda: layer(x)) == 2 * 10 * 64 * 32  # 2 M N K; the bias is not counted
    q = torch.empty(2, 3, 50, 16, device="meta")  # batch, heads, tokens, head dim
    attention = flops.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert attention == 2 * (2 * 2 * 3 * 50 * 50 * 16)  # Q K^T, then the weights times V


def test_forwards_of_a_two_window_shot_equal_the_samplers_calls():
    """An 8 s Wan shot at 16 fps: 128 frames, 33 latent frames, windows (0, 21) and (12, 33)."""
    from diffusers import DDIMScheduler

    from storyboard.backends.diffusion.families import wan
    from storyboard.backends.diffusion.sampler import sample

    plan = flops.plan_shot("wan", 64, 64, 16, 8)
    windows, latent, native = flops.shot_windows(wan.TIMING, plan)
    assert (windows, latent, native) == (((0, 21), (12, 33)), 33, 128)
    steps, guidance = plan.model.steps, plan.model.guidance
    assert (steps, guidance) == (25, 9.0)  # the schema's defaults
    seen = []

    def denoise(x, t, window):
        seen.append(window)
        return torch.zeros_like(x)

    sample(denoise, DDIMScheduler(), torch.zeros(1, 1, latent, 1, 1), windows, steps=steps)
    counts = flops.render_counts(windows, steps, guided=guidance > 1)
    assert counts == {"calls": len(seen), "forwards": 2 * len(seen),
                      "latent_frames": 2 * sum(e - s for s, e in seen)}
    assert counts == {"calls": 50, "forwards": 100, "latent_frames": 2 * 42 * 25}


def test_tiny_wan_on_meta_counts_as_the_same_model_run_for_real():
    """The meta device's count equals the CPU's on real tensors (math attention, which the counter sees),
    a guided batch of two costs twice one branch, and measure() multiplies forwards by that cost."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from storyboard.backends.diffusion.families import wan

    with torch.device("meta"):
        meta = wan.tiny_components()
    real = wan.tiny_components()
    one = flops.forward_flops("wan", wan, meta, 21, 64, 64)
    x, text = torch.randn(1, 16, 21, 8, 8), torch.randn(1, 512, real.transformer.config.text_dim)
    with sdpa_kernel(SDPBackend.MATH):
        on_cpu = flops.count_flops(lambda: real.transformer(hidden_states=x, timestep=torch.tensor([500.0]),
                                                            encoder_hidden_states=text, return_dict=False))
    assert one == on_cpu > 0
    assert flops.forward_flops("wan", wan, meta, 21, 64, 64, batch=2) == 2 * one

    figures = flops.measure("wan", wan, meta, 64, 64, 16, 8)
    assert figures["ours_windows"] == 2 and figures["stock_clips"] == 2  # 128 frames: two 81-frame clips
    assert figures["ours_denoiser_forwards_per_output_s"] == 100 / 8
    assert figures["denoiser_tflop_per_forward"] == pytest.approx(one / 1e12, rel=1e-3)
    assert figures["ours_denoiser_tflop_per_output_s"] == pytest.approx(100 * one / 8 / 1e12, rel=1e-3)
    assert figures["ours_over_stock_forwards"] == 1.0
    assert figures["ours_h200_bound_frames_per_s"] == pytest.approx(16 / figures["ours_h200_s_per_output_s"], rel=1e-3)
