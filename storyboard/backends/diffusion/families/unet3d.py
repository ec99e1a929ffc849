"""The ``unet3d`` family: ModelScope (``damo-vilab/text-to-video-ms-1.7b``), zeroscope and their fine-tunes.

How to drive a diffusers ``UNet3DConditionModel`` text-to-video model: its components
(``unet/``, ``vae/`` an ``AutoencoderKL`` applied frame by frame, ``text_encoder/`` CLIP,
``tokenizer/``, ``scheduler/``), how to load them, encode text, condition each frame
on its own prompt, call the denoiser with guidance, check sizes and decode; and a
tiny random model of the same structure for offline tests.

Per-frame prompts: UNet3D repeats one text embedding per clip over its frames.
:class:`PerFrameCrossAttention` replaces that, in the spatial cross-attention
layers only, with an embedding per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from storyboard.backends.diffusion.families.base import (
    FrameDenoiser,
    TextEncoding,
    build_tiny,
    byte_clip_tokenizer,
    freeze,
    load_errors,
)
from storyboard.backends.diffusion.loading import make_scheduler
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.registry import FAMILIES, rule_from_configs, size_errors_text
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "unet3d"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
TIMING = FAMILIES[NAME].timing  # a latent frame per frame, at any frame rate


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    unet: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str
    context: "FrameContext | None" = None  # set when per-frame attention is installed

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each axis (8 for ModelScope and zeroscope)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    with load_errors(model_id, COMPONENTS):
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        scheduler_config = load_scheduler_config(source, kwargs)
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", torch_dtype=dtype, **kwargs)
        unet = UNet3DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
    freeze(text_encoder, unet, vae)
    return Components(tokenizer, text_encoder, unet, vae, scheduler_config, model_id)


def load_scheduler_config(source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from diffusers import DDIMScheduler

    return dict(DDIMScheduler.load_config(source, subfolder="scheduler", **kwargs))


# --- text, per-frame attention, the denoiser -------------------------------------------------


@torch.no_grad()
def encode_prompts(components: Components, texts: list[str], device: str) -> TextEncoding:
    """CLIP text embeddings ``[len(texts), 77, D]`` (last hidden state, as ModelScope uses; the UNet
    attends to every position, so the masks are for the record)."""
    tok = components.tokenizer
    tokens = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt")
    hidden = components.text_encoder(tokens.input_ids.to(device))[0]
    return TextEncoding(hidden, tokens.attention_mask.bool().to(device))


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


class UNetDenoiser(FrameDenoiser):
    """The sampler's denoiser: UNet3D noise prediction with per-frame prompts and guidance.

    ``conds``: one :class:`FrameCond` per latent frame (here, per frame) of the shot.
    """

    def __init__(self, unet: Any, context: FrameContext, table: PromptTable, conds: Sequence[FrameCond],
                 guidance: float, dtype: torch.dtype):
        super().__init__(table, conds, guidance, dtype)
        self.unet, self.context = unet, context

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        n = len(conds)
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
        return self.guide(eps_uncond, eps_cond, self.guidance, conds)


def Denoiser(c: Components, table: PromptTable, conds: Sequence[FrameCond], guidance: float,  # noqa: N802
             dtype: torch.dtype) -> UNetDenoiser:
    """The family's denoiser for one shot (installs per-frame attention on first use)."""
    if c.context is None:
        c.context = install_per_frame_attention(c.unet)
    return UNetDenoiser(c.unet, c.context, table, conds, guidance, dtype)


def latent_channels(c: Components) -> int:
    return int(c.unet.config.in_channels)


def spatial_factor(c: Components) -> int:
    """Pixels per latent cell along each axis."""
    return c.vae_scale_factor


def scheduler(c: Components, name: str, latent_shape: tuple[int, int, int] | None = None):  # noqa: ANN201, ARG001
    """DDIM (``auto``) or DPM-Solver++ from the model's own scheduler config (``latent_shape``,
    a window's size, does not matter to them)."""
    if name not in FAMILIES[NAME].schedulers:
        raise UsageError(f"model '{c.model_id}' (UNet3D, epsilon prediction) samples with ddim or dpm++, not {name}")
    return make_scheduler("ddim" if name == "auto" else name, c.scheduler_config)


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height must map to latents the UNet can halve at each of its down blocks (the
    registry's rule on the model's configs); ``UsageError`` in the registry's words."""
    rule = rule_from_configs(NAME, dict(c.vae.config), dict(c.unet.config))
    problem = size_errors_text(c.model_id, NAME, rule, width, height)
    if problem:
        raise UsageError(problem)


@torch.no_grad()
def decode(c: Components, latents: torch.Tensor, device: str, dtype: torch.dtype,
           chunk: int = 16) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 from latents ``[1, C, F, h, w]``: the VAE is per frame, so
    ``chunk`` frames at a time keep memory flat in the shot's length."""
    scale = c.vae.config.scaling_factor
    for start in range(0, latents.shape[2], chunk):
        z = latents[0, :, start:start + chunk].permute(1, 0, 2, 3).to(device, dtype) / scale
        images = c.vae.decode(z).sample.float()
        yield from ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


# --- the tiny offline model ---------------------------------------------------------------


TINY_UNET = dict(
    block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=32, cross_attention_dim=32,
    attention_head_dim=8, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
    up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), in_channels=4, out_channels=4, sample_size=8,
)
TINY_VAE = dict(  # few channels at full resolution: decoding is most of a tiny render's time
    block_out_channels=(8, 16, 32, 32), layers_per_block=1, norm_num_groups=8, latent_channels=4,
    in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64, scaling_factor=0.18215,
)
TINY_TEXT = dict(hidden_size=32, intermediate_size=64, num_attention_heads=4, num_hidden_layers=2,
                 vocab_size=514, max_position_embeddings=77, bos_token_id=512, eos_token_id=513, pad_token_id=513)
SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                 clip_sample=False, set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon")


def tiny_components(dtype: Any = None, seed: int = 0) -> Components:
    """Random tiny components with ModelScope's structure: runs on a CPU in seconds; output is noise."""
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet, vae, text_encoder = build_tiny(seed, lambda: (
        UNet3DConditionModel(**TINY_UNET), AutoencoderKL(**TINY_VAE), CLIPTextModel(CLIPTextConfig(**TINY_TEXT))))
    unet, vae, text_encoder = freeze(unet, vae, text_encoder, dtype=dtype)
    return Components(byte_clip_tokenizer(), text_encoder, unet, vae, dict(SCHEDULER), TINY)


def save_components(components: Components, folder: str | Path) -> Path:
    """Write components in the diffusers text-to-video layout (loadable by :func:`load_components`)."""
    import json

    from diffusers import DDIMScheduler

    folder = Path(folder)
    components.unet.save_pretrained(folder / "unet")
    components.vae.save_pretrained(folder / "vae")
    components.text_encoder.save_pretrained(folder / "text_encoder")
    components.tokenizer.save_pretrained(folder / "tokenizer")
    DDIMScheduler.from_config(components.scheduler_config).save_pretrained(folder / "scheduler")
    index = {"_class_name": "TextToVideoSDPipeline", "_diffusers_version": "0.42.0",
             "unet": ["diffusers", "UNet3DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
             "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
             "scheduler": ["diffusers", "DDIMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index, indent=2))
    return folder
