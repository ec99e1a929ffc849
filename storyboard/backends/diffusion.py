"""The diffusion backend: a diffusers UNet3D text-to-video model driven by our own sampler.

``render_shot`` reads top to bottom as the algorithm: prepare noise for the shot,
denoise it with sliding windows (each frame conditioned on its own interpolated
prompt embedding, classifier-free guidance with the negative prompt), then decode
the latents window by window and stream the frames out.

Per-frame prompts: UNet3D repeats one text embedding per clip over its frames.
:class:`PerFrameCrossAttention` replaces that, in the spatial cross-attention
layers only, with an embedding per frame.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np
import torch

from storyboard.errors import UsageError
from storyboard.interp import slerp
from storyboard.models import Components, load_components, make_scheduler, resolve_device, resolve_dtype
from storyboard.noise import shot_noise
from storyboard.plan import FrameCond, Plan, ShotPlan
from storyboard.sampler import sample

PULSE_GUIDANCE = 0.25  # a beat pulse of 1 raises that frame's guidance scale by 25 %


@dataclass
class FrameContext:
    """Per-frame text embeddings ``[B * F, L, D]`` for the UNet call in progress (batch-major)."""

    embeddings: torch.Tensor | None = None


class PerFrameCrossAttention:
    """Cross-attention that attends each frame to its own text embedding.

    UNet3D reshapes video to ``[B * F, tokens, C]`` for spatial attention and repeats
    the clip's single text embedding ``F`` times; this processor ignores that
    repeat and uses ``context.embeddings`` (same ``B * F`` order) instead.
    """

    def __init__(self, context: FrameContext):
        from diffusers.models.attention_processor import AttnProcessor2_0

        self.context = context
        self.inner = AttnProcessor2_0()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, **kwargs: Any) -> torch.Tensor:
        per_frame = self.context.embeddings
        if per_frame is not None:
            if per_frame.shape[0] != hidden_states.shape[0]:
                raise RuntimeError(f"per-frame embeddings for {per_frame.shape[0]} frames, attention over {hidden_states.shape[0]}")
            encoder_hidden_states = per_frame.to(hidden_states.dtype)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb)


def install_per_frame_attention(unet: Any) -> FrameContext:
    """Put :class:`PerFrameCrossAttention` on every cross-attention layer of ``unet``."""
    from diffusers.models.attention_processor import Attention

    context = FrameContext()
    count = 0
    for _, module in unet.named_modules():
        if isinstance(module, Attention) and module.is_cross_attention:
            module.set_processor(PerFrameCrossAttention(context))
            count += 1
    if count == 0:
        raise UsageError("this UNet has no cross-attention layers to condition per frame")
    return context


@dataclass
class PromptTable:
    """Text embeddings ``[L, D]`` of the plan's prompts and of the negative prompt.

    Per-frame embeddings are computed when a window needs them (a slerp is cheap
    next to a UNet call); a small cache serves holds and repeated weights without
    letting memory grow with a glide's length.
    """

    prompts: torch.Tensor  # [P, L, D]
    negative: torch.Tensor  # [L, D]
    cache_size: int = 64
    _cache: OrderedDict[tuple[int, int, float], torch.Tensor] = field(default_factory=OrderedDict)

    def frame(self, cond: FrameCond) -> torch.Tensor:
        """The frame's embedding: slerp between prompts ``a`` and ``b`` at weight ``w``."""
        key = (cond.a, cond.b, round(cond.w, 6))
        hit = self._cache.get(key)
        if hit is None:
            hit = slerp(self.prompts[cond.a], self.prompts[cond.b], cond.w)
            self._cache[key] = hit
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return hit

    def window(self, conds: list[FrameCond]) -> torch.Tensor:
        return torch.stack([self.frame(c) for c in conds])


@torch.no_grad()
def encode_prompts(components: Components, texts: list[str], device: str) -> torch.Tensor:
    """CLIP text embeddings ``[len(texts), 77, D]`` (last hidden state, as ModelScope uses)."""
    tok = components.tokenizer
    ids = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    return components.text_encoder(ids.to(device))[0]


class UNetDenoiser:
    """The sampler's denoiser: UNet3D noise prediction with per-frame prompts and guidance."""

    def __init__(self, unet: Any, context: FrameContext, table: PromptTable, shot: ShotPlan, guidance: float, dtype: torch.dtype):
        self.unet, self.context, self.table, self.shot = unet, context, table, shot
        self.guidance, self.dtype = guidance, dtype
        self.calls = 0

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        start, end = window
        conds = list(self.shot.frames[start:end])
        n = end - start
        cond = self.table.window(conds)
        guided = self.guidance > 1.0
        if guided:
            uncond = self.table.negative.unsqueeze(0).expand(n, -1, -1)
            embeddings, batch = torch.cat([uncond, cond]), torch.cat([x, x])
        else:
            embeddings, batch = cond, x
        self.context.embeddings = embeddings
        try:
            clip_embedding = embeddings[::n]  # [B, L, D]: what UNet3D expects; replaced per frame
            out = self.unet(batch.to(self.dtype), t, encoder_hidden_states=clip_embedding.to(self.dtype)).sample.float()
        finally:
            self.context.embeddings = None
        self.calls += 1
        if not guided:
            return out
        eps_uncond, eps_cond = out.chunk(2)
        scale = torch.tensor([self.guidance * (1 + PULSE_GUIDANCE * c.pulse) for c in conds], device=out.device)
        return eps_uncond + scale.view(1, 1, -1, 1, 1) * (eps_cond - eps_uncond)


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


def check_size(components: Components, plan: Plan) -> None:
    """Width and height must map to latents the UNet can halve at each of its down blocks."""
    factor = components.vae_scale_factor * 2 ** (len(components.unet.config.down_block_types) - 1)
    if plan.width % factor or plan.height % factor:
        raise UsageError(
            f"output {plan.width}x{plan.height} does not fit model '{components.model_id}': width and height must be "
            f"multiples of {factor} (for example {plan.width // factor * factor}x{plan.height // factor * factor})"
        )
