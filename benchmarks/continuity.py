"""Continuity benchmark, per model family: the cost and quality of sliding-window latent continuity.

Prints one JSON line with, for each family (``unet3d``: ModelScope's epsilon-prediction
DDIM, 16-frame windows; ``wan``: flow matching, 21-latent-frame windows, 4 frames a
latent frame; ``ltx``: flow matching, 16-latent-frame windows, 8 frames a latent frame;
``cogvideox``: v-prediction DDIM, 13-latent-frame windows, 4 frames a latent frame):

* ``evals_per_output_frame``: latent frames the denoiser processes per output frame,
  with the family's window and an overlap of 4 latent frames, over a long shot;
* ``seam_ratio`` for three ways to make a long video, each at the same cost:
  ``windowed`` (our fused sliding windows), ``independent`` (clips sampled on their own,
  as stock pipelines make them) and ``tail_conditioned`` (the scheme of diffusers'
  ``LTXI2VLongMultiPromptPipeline``: windows one after another, each conditioned on the
  previous window's last latent frames, re-noised to the current noise level at every
  step, with as much overlap as ours): the mean absolute difference between consecutive
  latent frames across window boundaries over the same inside windows (1 = no seam);
* ``peak_rss_mb`` at four lengths: the real diffusion backend with the family's tiny
  random model rendering one shot, frames streamed out and dropped, each in a fresh
  process (``null`` where a family's tiny model is not available).

The seam figures use a denoiser whose exact answer is known: the posterior mean
(MMSE) denoiser for a prior in which a window's clean clip is a per-pixel content
``c ~ N(0, 1)`` shared by its frames plus a smooth motion ``g(frame, prompt)``, in the
family's parameterisation (noise for epsilon models, velocity for flow matching). Given
a window of noisy frames it infers ``c`` from them, so each independent clip settles on
its own content (a seam at every clip boundary), while fused windows must agree with
their neighbours. It measures the samplers, not random weights.

    python benchmarks/continuity.py            # a few minutes on 2 CPU cores
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
from storyboard.backends import registry  # noqa: E402
from storyboard.plan.windows import windows_for  # noqa: E402

OVERLAP = 4  # latent frames shared by neighbouring windows
SHAPE = (4, 8, 8)  # latent channels, height, width for the seam measurement
SIZE = 128  # pixels, for the memory measurement
LENGTHS = (64, 256, 512, 1024)  # output frames, for the memory measurement
FAMILIES = {"unet3d": ("epsilon", 16), "wan": ("flow", 21), "ltx": ("flow", 16),
            "cogvideox": ("v", 13)}  # parameterisation, window (latent frames)


def motion(frames: torch.Tensor, prompt_phase: float) -> torch.Tensor:
    """The smooth part of the ideal clean latent: ``[1, C, n, h, w]`` for absolute frame indices."""
    c, h, w = SHAPE
    f = frames.float().view(1, 1, -1, 1, 1)
    ch = torch.arange(c).view(1, -1, 1, 1, 1)
    ij = torch.arange(h * w).view(1, 1, 1, h, w)
    return 0.5 * torch.sin(2 * torch.pi * f / 48.0 + 0.7 * ch + 0.13 * ij + prompt_phase)


class ContentDenoiser:
    """The exact prediction for the prior ``x0[k] = c + g(k)``, ``c ~ N(0, I)`` shared by the window.

    ``epsilon``: ``x_t = sqrt(ab) x0 + sqrt(1 - ab) e``, predicts ``e``; ``v``: the same
    ``x_t``, predicts ``v = sqrt(ab) e - sqrt(1 - ab) x0``; ``flow``:
    ``x_t = (1 - s) x0 + s e``, predicts the velocity ``e - x0``. ``offset``: the absolute
    index of the window's first frame (for clips sampled on their own).
    """

    def __init__(self, scheduler, kind: str, offset: int = 0, prompt_phase: float = 0.3):
        self.scheduler, self.kind, self.offset, self.phase = scheduler, kind, offset, prompt_phase

    def signal_noise(self, t: torch.Tensor) -> tuple[float, float]:
        if self.kind in ("epsilon", "v"):
            ab = float(self.scheduler.alphas_cumprod[int(t)])
            return ab ** 0.5, (1 - ab) ** 0.5
        sigma = float(t) / self.scheduler.config.num_train_timesteps
        return 1 - sigma, sigma

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        s, e = window[0] + self.offset, window[1] + self.offset
        a, b = self.signal_noise(t)
        g = motion(torch.arange(s, e), self.phase)
        residual = x - a * g
        c_hat = a * residual.sum(dim=2, keepdim=True) / ((e - s) * a * a + b * b)
        x0_hat = c_hat + g
        eps = (x - a * x0_hat) / max(b, 1e-6)
        if self.kind == "v":
            return a * eps - b * x0_hat
        return eps if self.kind == "epsilon" else eps - x0_hat


def make(kind: str):
    """A fresh scheduler of the family's kind: DDIM (v: CogVideoX-2b's), or flow-matching Euler with a shift of 3."""
    if kind == "epsilon":
        return make_scheduler("ddim", SCHEDULER)
    if kind == "v":
        from diffusers import CogVideoXDDIMScheduler

        from storyboard.backends.diffusion.families.cogvideox import SCHEDULER as COGVIDEOX_SCHEDULER

        return CogVideoXDDIMScheduler.from_config(COGVIDEOX_SCHEDULER)
    from diffusers import FlowMatchEulerDiscreteScheduler

    return FlowMatchEulerDiscreteScheduler(shift=3.0)


def seam_ratio(latents: torch.Tensor, boundaries: set[int]) -> float:
    """Mean |x[f] - x[f-1]| over f in ``boundaries``, over the same for all other f."""
    diffs = (latents[0, :, 1:] - latents[0, :, :-1]).abs().mean(dim=(0, 2, 3))  # diffs[f-1] = |x[f] - x[f-1]|
    seam = [float(diffs[f - 1]) for f in sorted(boundaries)]
    inside = [float(diffs[f - 1]) for f in range(1, latents.shape[2]) if f not in boundaries]
    return (sum(seam) / len(seam)) / (sum(inside) / len(inside))


def independent(noise: torch.Tensor, kind: str, window: int, steps: int) -> torch.Tensor:
    """Clips of ``window`` latent frames sampled on their own, one after another."""
    clips = []
    for start in range(0, noise.shape[2], window):
        part = noise[:, :, start:start + window]
        scheduler = make(kind)
        clips.append(sample(ContentDenoiser(scheduler, kind, start), scheduler, part, [(0, part.shape[2])], steps=steps))
    return torch.cat(clips, dim=2)


def tail_conditioned(noise: torch.Tensor, kind: str, window: int, overlap: int, steps: int) -> tuple[torch.Tensor, set[int]]:
    """Windows one after another; each window's first ``overlap`` latent frames are the previous
    window's last, clean, re-noised to the current level at every step (inpainting-style
    conditioning, as the LTX long multi-prompt pipeline conditions on a window's tail)."""
    frames = noise.shape[2]
    out = torch.empty_like(noise)
    start, edges = 0, set()
    while start < frames:
        begin = max(0, start - overlap) if start else 0
        end = min(begin + window, frames)
        scheduler = make(kind)
        denoiser = ContentDenoiser(scheduler, kind, begin)
        known = out[:, :, begin:start].clone()
        part = noise[:, :, begin:end]

        def conditioned(x, t, w, known=known, part=part, denoiser=denoiser):
            a, b = denoiser.signal_noise(t)
            x = x.clone()
            x[:, :, :known.shape[2]] = a * known + b * part[:, :, :known.shape[2]]
            return denoiser(x, t, w)

        result = sample(conditioned, scheduler, part, [(0, end - begin)], steps=steps)
        out[:, :, start:end] = result[:, :, start - begin:]
        if start:
            edges.add(start)
        start = end
    return out, edges


def seam_figures(family: str, latent_frames: int = 128, steps: int = 25, seed: int = 0) -> dict[str, float]:
    kind, window = FAMILIES[family]
    noise = torch.randn((1, SHAPE[0], latent_frames, *SHAPE[1:]), generator=torch.Generator().manual_seed(seed))
    windows = windows_for(0, latent_frames, window, OVERLAP)
    scheduler = make(kind)
    fused = sample(ContentDenoiser(scheduler, kind), scheduler, noise, windows, steps=steps)
    edges = {s for s, _ in windows if s > 0} | {e for _, e in windows if e < latent_frames}
    tail, tail_edges = tail_conditioned(noise, kind, window, OVERLAP, steps)
    return {
        "windowed": round(seam_ratio(fused, edges), 4),
        "independent": round(seam_ratio(independent(noise, kind, window, steps), set(range(window, latent_frames, window))), 4),
        "tail_conditioned": round(seam_ratio(tail, tail_edges), 4),
    }


class LevelDenoiser(ContentDenoiser):
    """:class:`ContentDenoiser`'s exact answer when each frame has its own noise level (flow matching,
    ``t`` ``[n]`` per frame), as diffusion forcing feeds a chunk: the content ``c`` is inferred from all
    frames, each weighted by its precision ``a_k^2 / b_k^2`` (a clean history frame fixes it)."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        s, e = window[0] + self.offset, window[1] + self.offset
        sigma = (torch.as_tensor(t, dtype=torch.float64).reshape(-1) / self.scheduler.config.num_train_timesteps)
        a = (1 - sigma).view(1, 1, -1, 1, 1)
        b = sigma.clamp_min(1e-6).view(1, 1, -1, 1, 1)
        g = motion(torch.arange(s, e), self.phase).double()
        residual = x.double() - a * g
        c_hat = (a / b ** 2 * residual).sum(dim=2, keepdim=True) / (1 + (a ** 2 / b ** 2).sum(dim=2, keepdim=True))
        x0_hat = c_hat + g
        return ((x.double() - a * x0_hat) / b - x0_hat).float()


def content_drift(latents: torch.Tensor, span: int) -> float:
    """How far the content of the last ``span`` frames is from the first ``span``'s: mean |c_last - c_first|
    over mean |c_first|, ``c`` a span's mean of ``x0 - g`` (0: the content held; about 1.4 for two
    independent draws)."""
    frames = latents.shape[2]
    g = motion(torch.arange(frames), 0.3)
    first = (latents[:, :, :span] - g[:, :, :span]).mean(dim=2)
    last = (latents[:, :, -span:] - g[:, :, -span:]).mean(dim=2)
    return float((last - first).abs().mean() / first.abs().mean())


def forcing_figures(latent_frames: int = 128, steps: int = 25, seed: int = 0) -> dict[str, dict[str, float]]:
    """Seam ratio and drift of SkyReels-V2's diffusion forcing (the ``skyreels`` family's own rollout,
    chunks of 25 latent frames with :data:`OVERLAP` of history) beside the other three ways, all on the
    same known-answer denoiser; seams at each chunk's first new frame."""
    from storyboard.backends.diffusion.families.skyreels import forcing_sample
    from storyboard.backends.forcing import Forcing, chunks_for

    window = 25
    noise = torch.randn((1, SHAPE[0], latent_frames, *SHAPE[1:]), generator=torch.Generator().manual_seed(seed))
    windows = windows_for(0, latent_frames, window, OVERLAP)
    out: dict[str, dict[str, float]] = {}
    for name, forcing in (("forcing", Forcing(addnoise_condition=0)), ("forcing_addnoise20", Forcing())):
        scheduler = make("flow")
        latents = forcing_sample(LevelDenoiser(scheduler, "flow"), scheduler, noise, windows, steps=steps,
                                 forcing=forcing, generator=torch.Generator().manual_seed(seed + 1))
        seams = {c.start + c.history for c in chunks_for(windows)[1:]}
        out[name] = {"seam_ratio": round(seam_ratio(latents, seams), 4),
                     "drift": round(content_drift(latents, window), 4)}
    scheduler = make("flow")
    fused = sample(ContentDenoiser(scheduler, "flow"), scheduler, noise, windows, steps=steps)
    edges = {s for s, _ in windows if s > 0} | {e for _, e in windows if e < latent_frames}
    out["windowed"] = {"seam_ratio": round(seam_ratio(fused, edges), 4),
                       "drift": round(content_drift(fused, window), 4)}
    clips = independent(noise, "flow", window, steps)
    out["independent"] = {"seam_ratio": round(seam_ratio(clips, set(range(window, latent_frames, window))), 4),
                          "drift": round(content_drift(clips, window), 4)}
    tail, tail_edges = tail_conditioned(noise, "flow", window, OVERLAP, steps)
    out["tail_conditioned"] = {"seam_ratio": round(seam_ratio(tail, tail_edges), 4),
                               "drift": round(content_drift(tail, window), 4)}
    return out


def evals_per_output_frame(family: str, output_frames: int = 4096) -> float:
    """Latent frames the denoiser processes per output frame, with the family's window and overlap."""
    timing = registry.FAMILIES[family].timing
    latent = timing.latent_frames(output_frames)
    windows = windows_for(0, latent, min(latent, FAMILIES[family][1]), OVERLAP)
    return sum(e - s for s, e in windows) / output_frames


def peak_rss_child(family: str, frames: int) -> None:
    """Render one shot of ``frames`` frames with the family's tiny model; print peak RSS (MB) and seconds."""
    from storyboard.backends.diffusion.backend import DiffusionBackend
    from storyboard.backends.diffusion.families import load_components
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script_text

    tiny = registry.FAMILIES[family].tiny
    text = (f"output: {{width: {SIZE}, height: {SIZE}, fps: 24}}\nmodel: {{id: {tiny}, steps: 2}}\n"
            f"scenes:\n  - {{duration: {frames}f, prompts: [a red room, a blue sea]}}\n")
    plan = compile_plan(load_script_text(text, "bench.yaml"))
    module, components = load_components(tiny, dtype=torch.float32)
    backend = DiffusionBackend(module, components, plan, "cpu", torch.float32)
    started = time.perf_counter()
    count = sum(1 for _ in backend.render_shot(plan, plan.shots[0]))
    assert count == frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"frames": frames, "peak_rss_mb": round(peak, 1), "seconds": round(time.perf_counter() - started, 2)}))


def memory(family: str) -> dict[str, float | None]:
    """Peak RSS (MB) of a fresh process rendering one shot at each of :data:`LENGTHS`."""
    rss: dict[str, float | None] = {}
    for frames in LENGTHS:
        out = subprocess.run([sys.executable, __file__, "--child", family, str(frames)], capture_output=True, text=True)
        lines = out.stdout.strip().splitlines()
        rss[str(frames)] = json.loads(lines[-1])["peak_rss_mb"] if out.returncode == 0 and lines else None
    return rss


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        peak_rss_child(sys.argv[2], int(sys.argv[3]))
        return
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    started = time.perf_counter()
    families = {}
    for family in FAMILIES:
        families[family] = {"window_latent_frames": FAMILIES[family][1], "overlap_latent_frames": OVERLAP,
                            "evals_per_output_frame": round(evals_per_output_frame(family), 4),
                            "seam_ratio": seam_figures(family), "peak_rss_mb": memory(family)}
    families["helios"] = {**helios_evaluations(), "seams": helios_seams()}  # chunks with history, not windows
    from storyboard.backends.diffusion.families.skyreels import evaluations_per_output_frame

    families["skyreels"] = {"window_latent_frames": 25, "overlap_latent_frames": OVERLAP,
                            "evals_per_output_frame": round(evaluations_per_output_frame(4096, OVERLAP), 4),
                            "evals_per_output_frame_1000": round(evaluations_per_output_frame(1000, OVERLAP), 4),
                            "diffusion_forcing": forcing_figures(), "peak_rss_mb": memory("skyreels")}
    print(json.dumps({"families": families, "size_px": SIZE, "benchmark_seconds": round(time.perf_counter() - started, 1)}))


# --- helios: chunks with history (an autoregressive rollout, not sliding windows) -----------------


def helios_evaluations(output_frames: int = 1000, fps: int = 24) -> dict[str, float]:
    """Helios' cost for one shot of ``output_frames`` frames at ``fps`` (24: its native rate): chunks of
    33 frames (9 latent frames), each chunk's latent frames denoised once a step, plus the history
    tokens it reads (short: 2 latent frames in full; mid: 2 patched 2 x 4 x 4 = 1/4 of a latent
    frame's tokens; long: 16 patched 4 x 8 x 8 = 1/4), counted in latent frames' worth of tokens."""
    from storyboard.backends.diffusion.families.helios import HISTORY_SIZES, timing

    t = timing()
    native = round(output_frames * t.native_fps / fps)
    chunks = t.latent_frames(native) // t.clip_latents
    long, mid, short = HISTORY_SIZES
    history = (short + 1) + mid / 8 + long / 64  # tokens of a latent frame: 1x2x2 patches; mid 2x4x4, long 4x8x8
    return {"chunks": chunks, "latent_frames": chunks * t.clip_latents, "frames_generated": chunks * t.clip_frames,
            "evals_per_output_frame": round(chunks * t.clip_latents / output_frames, 4),
            "with_history_tokens_per_output_frame": round(chunks * (t.clip_latents + history) / output_frames, 4),
            "history_latent_frames": {"long": long, "mid": mid, "short": short, "first_frame": 1}}


class HistoryDenoiser:
    """The exact flow prediction for the prior ``x0[k] = c + g(k)``, ``c ~ N(0, I)`` shared by the whole
    shot, for a chunk that also sees the rollout's history (clean latent frames at known positions):
    ``c`` is read from the real history frames (the shot's first frame and the last ones) when there
    are any, else inferred from the chunk's noisy frames as :class:`ContentDenoiser` does. With
    ``use_history=False`` each chunk is on its own (a stock clip)."""

    def __init__(self, use_history: bool = True):
        self.use_history, self.context = use_history, None

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        s, e = window
        sigma = float(t) / 1000
        a, b = 1 - sigma, sigma
        g = motion(torch.arange(s, e), 0.3)
        if self.use_history and s > 0:
            long, mid, short = 16, 2, 1
            recent = torch.cat([self.context.long, self.context.mid, self.context.short[:, :, 1:]], dim=2)
            positions = torch.arange(s - long - mid - short, s)
            real = positions >= 0
            seen = torch.cat([self.context.short[:, :, :1], recent[:, :, real]], dim=2)
            at = torch.cat([torch.zeros(1, dtype=torch.long), positions[real]])
            c_hat = (seen - motion(at, 0.3)).mean(dim=2, keepdim=True)
        else:
            c_hat = a * (x - a * g).sum(dim=2, keepdim=True) / ((e - s) * a * a + b * b)
        x0_hat = c_hat + g
        return (x - a * x0_hat) / max(b, 1e-6) - x0_hat


def helios_seams(chunks: int = 12, steps: int = 25, seed: int = 0) -> dict[str, float]:
    """Seam ratio (chunk boundaries over inside differences, 1 = no seam) and drift (mean |content of
    the last chunk - content of the first|) of a Helios rollout with :class:`HistoryDenoiser`, against
    the same chunks sampled on their own. Known-answer: it checks that the rollout hands each chunk
    the right history at the right positions (a history off by a frame shows as seams), not a model."""
    from types import SimpleNamespace

    from storyboard.backends.diffusion.families.helios import (
        CHUNK_LATENTS,
        HISTORY_SIZES,
        SCHEDULER,
        rollout,
        scheduler,
    )

    c = SimpleNamespace(chunk_latents=CHUNK_LATENTS, history_sizes=HISTORY_SIZES,
                        scheduler_config={**SCHEDULER, "scheduler_type": "euler"},
                        transformer=SimpleNamespace(config=SimpleNamespace(patch_size=(1, 2, 2))))
    latent = chunks * CHUNK_LATENTS
    noise = torch.randn((1, SHAPE[0], latent, *SHAPE[1:]), generator=torch.Generator().manual_seed(seed))
    edges = set(range(CHUNK_LATENTS, latent, CHUNK_LATENTS))
    out = {}
    for name, use in (("rollout", True), ("independent_chunks", False)):
        x = rollout(c, HistoryDenoiser(use), scheduler(c, "euler"), noise, None, steps=steps)
        content = x - motion(torch.arange(latent), 0.3)
        first, last = content[:, :, :CHUNK_LATENTS].mean(dim=2), content[:, :, -CHUNK_LATENTS:].mean(dim=2)
        drift = float((last - first).abs().mean())
        out[name] = {"seam_ratio": round(seam_ratio(x, edges), 4), "drift": round(drift, 4)}
    return out


if __name__ == "__main__":
    main()
