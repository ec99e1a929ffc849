"""Continuity benchmark: the cost and quality of sliding-window latent continuity.

Prints one JSON line with:

* ``denoiser_frame_evals_per_output_frame``: frames the denoiser processes per output
  frame with the default window (16) and overlap (4), over a 1024-frame shot.
* ``seam_ratio_windowed`` / ``seam_ratio_independent``: mean absolute difference between
  consecutive latent frames across window boundaries, divided by the same inside
  windows, for the fused sampler and for naive independent 16-frame clips.
* ``peak_rss_mb`` at 64, 256 and 1024 frames: the real diffusion backend (tiny random
  model, 128x128, 2 steps) rendering one shot, frames streamed out and dropped, each
  size in a fresh process; ``latent_mb`` gives the size of one copy of the shot's
  latent tensor and ``rss_growth_in_latent_copies`` how many such copies the growth
  from 256 to 1024 frames amounts to (the sampler keeps a handful: the latents, the
  noise, the fused prediction and the scheduler's temporaries).

The seam figures use a denoiser whose exact answer is known: the posterior mean
(MMSE) denoiser for a prior in which a window's clean clip is a per-pixel content
``c ~ N(0, 1)`` shared by its frames plus a smooth motion ``g(frame, prompt)``.
Given a window of noisy frames it infers ``c`` from them, so each independent clip
settles on its own content (a seam at every clip boundary), while fused windows
must agree with their neighbours. It measures the sampler, not random weights.

    python benchmarks/continuity.py            # about a minute on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from storyboard.backends.diffusion.families.unet3d import SCHEDULER  # noqa: E402
from storyboard.backends.diffusion.loading import make_scheduler  # noqa: E402
from storyboard.backends.diffusion.sampler import sample  # noqa: E402
from storyboard.plan.windows import windows_for  # noqa: E402

WINDOW, OVERLAP = 16, 4
SHAPE = (4, 8, 8)  # latent channels, height, width for the seam measurement
SIZE = 128  # pixels, for the memory measurement (latents SIZE / 8)


def motion(frames: torch.Tensor, prompt_phase: float) -> torch.Tensor:
    """The smooth part of the ideal clean latent: ``[1, C, n, h, w]`` for absolute frame indices."""
    c, h, w = SHAPE
    f = frames.float().view(1, 1, -1, 1, 1)
    ch = torch.arange(c).view(1, -1, 1, 1, 1)
    ij = torch.arange(h * w).view(1, 1, 1, h, w)
    return 0.5 * torch.sin(2 * torch.pi * f / 48.0 + 0.7 * ch + 0.13 * ij + prompt_phase)


class ContentDenoiser:
    """Exact epsilon for the prior ``x0[k] = c + g(k)``, ``c ~ N(0, I)`` shared by the window."""

    def __init__(self, scheduler, prompt_phase: float = 0.3):
        self.alphas = scheduler.alphas_cumprod
        self.phase = prompt_phase

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        s, e = window
        ab = float(self.alphas[int(t)])
        g = motion(torch.arange(s, e), self.phase)
        n = e - s
        residual = x - ab ** 0.5 * g
        c_hat = ab ** 0.5 * residual.sum(dim=2, keepdim=True) / (n * ab + (1 - ab))
        x0_hat = c_hat + g
        return (x - ab ** 0.5 * x0_hat) / (1 - ab) ** 0.5


def seam_ratio(latents: torch.Tensor, boundaries: set[int]) -> float:
    """Mean |x[f] - x[f-1]| over f in ``boundaries``, over the same for all other f."""
    diffs = (latents[0, :, 1:] - latents[0, :, :-1]).abs().mean(dim=(0, 2, 3))  # diffs[f-1] = |x[f] - x[f-1]|
    seam = [float(diffs[f - 1]) for f in sorted(boundaries)]
    inside = [float(diffs[f - 1]) for f in range(1, latents.shape[2]) if f not in boundaries]
    return (sum(seam) / len(seam)) / (sum(inside) / len(inside))


def seam_figures(frames: int = 256, steps: int = 25, seed: int = 0) -> dict[str, float]:
    noise = torch.randn((1, *SHAPE[:1], frames, *SHAPE[1:]), generator=torch.Generator().manual_seed(seed))
    # Fused: the sampler as the backend runs it.
    windows = windows_for(0, frames, WINDOW, OVERLAP)
    scheduler = make_scheduler("ddim", SCHEDULER)
    fused = sample(ContentDenoiser(scheduler), scheduler, noise, windows, steps=steps)
    edges = {s for s, _ in windows if s > 0} | {e for _, e in windows if e < frames}
    # Independent: each 16-frame clip sampled on its own, as stock pipelines would.
    clips = []
    for start in range(0, frames, WINDOW):
        end = min(start + WINDOW, frames)
        scheduler = make_scheduler("ddim", SCHEDULER)
        part = noise[:, :, start:end]
        denoiser = ContentDenoiser(scheduler)
        clips.append(sample(lambda x, t, w, s0=start: denoiser(x, t, (s0 + w[0], s0 + w[1])), scheduler, part,
                            [(0, end - start)], steps=steps))
    independent = torch.cat(clips, dim=2)
    cuts = set(range(WINDOW, frames, WINDOW))
    return {
        "seam_ratio_windowed": round(seam_ratio(fused, edges), 4),
        "seam_ratio_independent": round(seam_ratio(independent, cuts), 4),
    }


def peak_rss_child(frames: int) -> None:
    """Render one shot of ``frames`` frames with the tiny model; print peak RSS (MB) and seconds."""
    from storyboard.backends.diffusion.backend import DiffusionBackend
    from storyboard.backends.diffusion.families.unet3d import tiny_components
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script_text

    text = (f"output: {{width: {SIZE}, height: {SIZE}, fps: 24}}\nmodel: {{id: tiny-random, steps: 2}}\n"
            f"scenes:\n  - {{duration: {frames}f, prompts: [a red room, a blue sea]}}\n")
    plan = compile_plan(load_script_text(text, "bench.yaml"))
    backend = DiffusionBackend(tiny_components(), plan, "cpu", torch.float32)
    started = time.perf_counter()
    count = sum(1 for _ in backend.render_shot(plan, plan.shots[0]))
    assert count == frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "peak_rss_mb": round(peak, 1), "seconds": round(time.perf_counter() - started, 2)}))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        peak_rss_child(int(sys.argv[2]))
        return
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    long = windows_for(0, 1024, WINDOW, OVERLAP)
    evals = sum(e - s for s, e in long) / 1024
    figures = seam_figures()
    rss, seconds = {}, {}
    for frames in (64, 256, 1024):
        out = subprocess.run([sys.executable, __file__, "--child", str(frames)], capture_output=True, text=True, check=True)
        child = json.loads(out.stdout.strip().splitlines()[-1])
        rss[str(frames)] = child["peak_rss_mb"]
        seconds[str(frames)] = child["seconds"]
    latent_mb = {str(n): round(4 * n * (SIZE // 8) ** 2 * 4 / 2**20, 2) for n in (64, 256, 1024)}
    growth = rss["1024"] - rss["256"]
    print(json.dumps({
        "window": WINDOW,
        "overlap": OVERLAP,
        "denoiser_frame_evals_per_output_frame": round(evals, 4),
        **figures,
        "peak_rss_mb": rss,
        "peak_rss_growth_256_to_1024_mb": round(growth, 1),
        "latent_mb": latent_mb,
        "rss_growth_in_latent_copies": round(growth / (latent_mb["1024"] - latent_mb["256"]), 1),
        f"render_seconds_tiny_{SIZE}px_2_steps": seconds,
        "benchmark_seconds": round(time.perf_counter() - started, 1),
    }))


if __name__ == "__main__":
    main()
