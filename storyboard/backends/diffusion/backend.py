"""The diffusion backend: a diffusers text-to-video model driven by our own sampler.

``render_shot`` reads top to bottom as the algorithm: map the shot to the model's time
(native frames, latent frames, each latent frame's prompt), prepare seeded noise,
denoise it with sliding windows (each latent frame conditioned on its own interpolated
prompt embedding, classifier-free guidance with the negative prompt), then decode the
latents in chunks and stream the frames out, each output frame showing the native
frame nearest its time. What is particular to an architecture lives in its family
module (:mod:`storyboard.backends.diffusion.families`).
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Iterator

from storyboard.backends.diffusion.families import family_name, load_components
from storyboard.backends.diffusion.loading import check_available, resolve_device, resolve_dtype
from storyboard.backends.latents import LatentShot, shot_latents
from storyboard.backends.registry import LatentTiming
from storyboard.plan.data import Plan, ShotPlan

if TYPE_CHECKING:  # torch loads with the model (DiffusionBackend.open), after the checks that need none
    import numpy as np
    import torch

MODULES = ("text_encoder", "image_encoder", "unet", "transformer", "transformer_2", "vae")  # the components with weights


class DiffusionBackend:
    """Renders shots with a diffusers text-to-video model of any supported family."""

    name = "diffusion"
    version = "1"

    def __init__(self, family: ModuleType, components: Any, plan: Plan, device: str, dtype: torch.dtype):
        from storyboard.backends.diffusion.prompts import PromptTable

        self.family, self.components, self.plan, self.device, self.dtype = family, components, plan, device, dtype
        model = plan.model
        self.offload = model.offload and device != "cpu"
        self.scheduler_name = model.scheduler
        vae = components.vae
        if model.vae_slicing and hasattr(vae, "enable_slicing"):
            vae.enable_slicing()
        if model.vae_tiling and hasattr(vae, "enable_tiling"):
            vae.enable_tiling()
        if not self.offload:
            for module in self._modules():
                module.to(device)
        with self._on_device(components.text_encoder):
            prompts = family.encode_prompts(components, list(plan.prompts), device)
            negative = family.encode_prompts(components, [plan.negative], device)
        self.table = PromptTable.of(prompts, negative, dtype)
        self.version = f"1:{model.id}:{model.revision}"  # as backend_identity() says

    @classmethod
    def open(cls, model_id: str, plan: Plan) -> "DiffusionBackend":
        """Load the model the plan names and check the plan fits it; fails before any work, and
        before torch is imported when a hub id is neither in the cache nor to be had from the hub."""
        model = plan.model
        check_available(model_id, model.revision)
        name = family_name(model_id, model.revision)  # a hub id the hub does not have ends here
        device = resolve_device(model.device)  # torch from here on
        dtype = resolve_dtype(model.dtype, device)
        family, components = load_components(model_id, revision=model.revision, dtype=dtype, family=name)
        family.check_size(components, plan.width, plan.height)
        family.scheduler(components, model.scheduler)  # a sampler this family cannot use fails now
        return cls(family, components, plan, device, dtype)

    def close(self) -> None:
        import torch

        self.table = None  # type: ignore[assignment]
        if self.device == "cuda":
            torch.cuda.empty_cache()

    @property
    def timing(self) -> LatentTiming:
        """The loaded model's time (a family may read it from the model's configs)."""
        read = getattr(self.family, "timing", None)
        return read(self.components) if read else self.family.TIMING

    def _modules(self) -> list[Any]:
        return [m for m in (getattr(self.components, n, None) for n in MODULES) if m is not None]

    def _on_device(self, *modules: Any):
        backend = self

        class _Scope:
            def __enter__(self) -> None:
                if backend.offload:
                    for module in modules:
                        module.to(backend.device)

            def __exit__(self, *exc: Any) -> None:
                import torch

                if backend.offload:
                    for module in modules:
                        module.to("cpu")
                    if backend.device == "cuda":
                        torch.cuda.empty_cache()

        return _Scope()

    def timeline(self, shot: ShotPlan) -> LatentShot:
        """The shot in the model's time. A model with a latent frame per frame at any rate
        (UNet3D) keeps the plan's own windows."""
        timing, window = self.timing, self.plan.model.window
        mapped = shot_latents(shot, self.plan.fps, timing, window.overlap)
        if timing.keeps_plan_windows:
            return replace(mapped, windows=tuple((s - shot.start, e - shot.start) for s, e in shot.windows))
        return mapped

    def latents(self, shot: ShotPlan, on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """Denoised latents ``[1, C, latent frames, h, w]`` (float32) for one shot."""
        import torch

        with torch.no_grad():
            return self._latents(shot, on_step)

    def _latents(self, shot: ShotPlan, on_step: Callable[[int, int], None] | None) -> torch.Tensor:
        from storyboard.backends.diffusion.noise import shot_noise
        from storyboard.backends.diffusion.sampler import sample

        c, model, family = self.components, self.plan.model, self.family
        mapped = self.timeline(shot)
        factor = family.spatial_factor(c)
        shape = (family.latent_channels(c), self.plan.height // factor, self.plan.width // factor)
        window = model.window
        in_latent_time = replace(shot, frames=mapped.conds, render_end=shot.start + mapped.latent)
        noise = shot_noise(in_latent_time, shape, mode=model.noise,
                           window=mapped.windows[0][1] - mapped.windows[0][0], overlap=window.overlap)
        denoiser = family.Denoiser(c, self.table, mapped.conds, model.guidance, self.dtype,
                                   **self._image_conditioning(shot, mapped))
        scheduler = family.scheduler(c, self.scheduler_name, latent_shape=(mapped.windows[0][1] - mapped.windows[0][0],
                                                                          *shape[1:]))
        denoisers = [m for m in (getattr(c, n, None) for n in ("unet", "transformer", "transformer_2")) if m is not None]
        with self._on_device(*denoisers):
            rollout = getattr(family, "rollout", None)
            if rollout is not None:  # an autoregressive family samples the shot chunk by chunk, its own way
                return rollout(c, denoiser, scheduler, noise.to(self.device), mapped, steps=model.steps,
                               on_step=on_step)
            return sample(denoiser, scheduler, noise.to(self.device), mapped.windows, steps=model.steps,
                          on_step=on_step)

    def _image_conditioning(self, shot: ShotPlan, mapped: LatentShot) -> dict[str, Any]:
        """``images=``: the shot's start image, keyframes and last image encoded for each window, for a
        family that takes images (validate refused them for one that does not); nothing otherwise."""
        encode = getattr(self.family, "encode_images", None)
        if encode is None:
            return {}
        from storyboard.backends.media_files import shot_images

        c = self.components
        placed = self.family.native_frames(mapped, shot_images(shot))  # output frame -> native frame
        encoders = [m for m in (c.vae, getattr(c, "image_encoder", None)) if m is not None]
        with self._on_device(*encoders):
            return {"images": encode(c, placed, mapped.windows, self.device, width=self.plan.width,
                                     height=self.plan.height)}

    def decode(self, latents: torch.Tensor, mapped: LatentShot) -> Iterator[np.ndarray]:
        """The shot's output frames: native frames decoded in chunks, each output frame the native
        frame nearest its time (repeated or skipped when the rates differ)."""
        with self._on_device(self.components.vae):
            native = self.family.decode(self.components, latents, self.device, self.dtype)
            index, frame = -1, None
            for wanted in mapped.shown:
                while index < wanted:
                    frame, index = next(native), index + 1
                yield frame
            native.close()

    def render_shot(self, plan: Plan, shot: ShotPlan, progress: Callable[[float], None] | None = None) -> Iterator[np.ndarray]:
        on_step = (lambda done, total: progress(done / total)) if progress else None
        latents = self.latents(shot, on_step)
        yield from self.decode(latents, self.timeline(shot))
