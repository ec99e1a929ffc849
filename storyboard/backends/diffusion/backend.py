"""The diffusion backend: a diffusers text-to-video model driven by our own sampler.

``render_shot`` reads top to bottom as the algorithm: prepare noise for the shot,
denoise it with sliding windows (each frame conditioned on its own interpolated
prompt embedding, classifier-free guidance with the negative prompt), then decode
the latents window by window and stream the frames out. What is particular to a
model's architecture lives in its family module
(:mod:`storyboard.backends.diffusion.families`).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch

from storyboard.backends.diffusion.families import load_components
from storyboard.backends.diffusion.families.unet3d import (
    Components,
    UNetDenoiser,
    check_size,
    encode_prompts,
    install_per_frame_attention,
)
from storyboard.backends.diffusion.loading import (
    make_scheduler,
    resolve_device,
    resolve_dtype,
)
from storyboard.backends.diffusion.noise import shot_noise
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.diffusion.sampler import sample
from storyboard.plan.data import Plan, ShotPlan


class DiffusionBackend:
    """Renders shots with a diffusers text-to-video model."""

    name = "diffusion"
    version = "1"

    def __init__(self, components: Components, plan: Plan, device: str, dtype: torch.dtype):
        self.components, self.plan, self.device, self.dtype = components, plan, device, dtype
        model = plan.model
        self.offload = bool(model.get("offload")) and device != "cpu"
        self.scheduler_name = model["scheduler"]
        if model.get("vae_slicing"):
            components.vae.enable_slicing()
        if model.get("vae_tiling"):
            components.vae.enable_tiling()
        self.context = install_per_frame_attention(components.unet)
        if not self.offload:
            for module in (components.text_encoder, components.unet, components.vae):
                module.to(device)
        with self._on_device(components.text_encoder):
            prompts = encode_prompts(components, list(plan.prompts), device)
            negative = encode_prompts(components, [plan.negative], device)[0]
        self.table = PromptTable(prompts.to(dtype), negative.to(dtype))
        self.version = f"1:{model['id']}:{model.get('revision')}"  # as backend_identity() says

    @classmethod
    def open(cls, model_id: str, plan: Plan) -> "DiffusionBackend":
        """Load the model the plan names and check the plan fits it; fails before any work."""
        model = plan.model
        device = resolve_device(model.get("device", "auto"))
        dtype = resolve_dtype(model.get("dtype", "auto"), device)
        components = load_components(model_id, revision=model.get("revision"), dtype=dtype)
        check_size(components, plan)
        return cls(components, plan, device, dtype)

    def close(self) -> None:
        self.table = None  # type: ignore[assignment]
        if self.device == "cuda":
            torch.cuda.empty_cache()

    def _on_device(self, module: Any):
        backend = self

        class _Scope:
            def __enter__(self) -> None:
                if backend.offload:
                    module.to(backend.device)

            def __exit__(self, *exc: Any) -> None:
                if backend.offload:
                    module.to("cpu")
                    if backend.device == "cuda":
                        torch.cuda.empty_cache()

        return _Scope()

    @torch.no_grad()
    def latents(self, shot: ShotPlan, on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Denoised latents ``[1, C, shot.length, h, w]`` (float32) for one shot."""
        c, model = self.components, self.plan.model
        factor = c.vae_scale_factor
        shape = (c.unet.config.in_channels, self.plan.height // factor, self.plan.width // factor)
        window = model["window"]
        noise = shot_noise(shot, shape, mode=model.get("noise", "independent"),
                           window=window["frames"], overlap=window["overlap"]).to(self.device)
        windows = [(s - shot.start, e - shot.start) for s, e in shot.windows]
        denoiser = UNetDenoiser(c.unet, self.context, self.table, shot, float(model["guidance"]), self.dtype)
        scheduler = make_scheduler(self.scheduler_name, c.scheduler_config)
        with self._on_device(c.unet):
            return sample(denoiser, scheduler, noise, windows, steps=int(model["steps"]), on_step=on_step)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, windows: list[tuple[int, int]]) -> Iterator[np.ndarray]:
        """Decode latents window by window (no frame twice) and yield ``H x W x 3`` uint8 frames."""
        vae = self.components.vae
        scale = vae.config.scaling_factor
        done = 0
        with self._on_device(vae):
            for _, end in windows:
                if end <= done:
                    continue
                z = latents[0, :, done:end].permute(1, 0, 2, 3).to(self.device, self.dtype) / scale
                images = vae.decode(z).sample.float()
                pixels = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
                yield from pixels
                done = end

    def render_shot(self, plan: Plan, shot: ShotPlan, progress: Callable[[float], None] | None = None) -> Iterator[np.ndarray]:
        on_step = (lambda done, total: progress(done / total)) if progress else None
        latents = self.latents(shot, on_step)
        windows = [(s - shot.start, e - shot.start) for s, e in shot.windows]
        yield from self.decode(latents, windows)
