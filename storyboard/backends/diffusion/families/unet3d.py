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
from typing import Any

import torch

from storyboard.backends.diffusion.loading import (
    ModelUnavailable,
    byte_vocab,
    missing_message,
    quiet_libraries,
)
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.errors import UsageError
from storyboard.plan.data import Plan, ShotPlan

NAME = "unet3d"
TINY = "tiny-random"
COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
PULSE_GUIDANCE = 0.25  # a beat pulse of 1 raises that frame's guidance scale by 25 %


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    unet: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str

    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell along each axis (8 for ModelScope and zeroscope)."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    try:
        tokenizer = CLIPTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        scheduler_config = load_scheduler_config(source, kwargs)
        text_encoder = CLIPTextModel.from_pretrained(source, subfolder="text_encoder", torch_dtype=dtype, **kwargs)
        unet = UNet3DConditionModel.from_pretrained(source, subfolder="unet", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
        vae = AutoencoderKL.from_pretrained(source, subfolder="vae", torch_dtype=dtype, low_cpu_mem_usage=False, **kwargs)
    except (OSError, ValueError) as exc:  # huggingface_hub raises OSError subclasses for missing files
        text = str(exc).strip()
        first_line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise ModelUnavailable(missing_message(model_id, first_line, COMPONENTS)) from None
    for module in (text_encoder, unet, vae):
        module.eval().requires_grad_(False)
    return Components(tokenizer, text_encoder, unet, vae, scheduler_config, model_id)


def load_scheduler_config(source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from diffusers import DDIMScheduler

    return dict(DDIMScheduler.load_config(source, subfolder="scheduler", **kwargs))


# --- text, per-frame attention, the denoiser -------------------------------------------------


@torch.no_grad()
def encode_prompts(components: Components, texts: list[str], device: str) -> torch.Tensor:
    """CLIP text embeddings ``[len(texts), 77, D]`` (last hidden state, as ModelScope uses)."""
    tok = components.tokenizer
    ids = tok(texts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    return components.text_encoder(ids.to(device))[0]


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


def check_size(components: Components, plan: Plan) -> None:
    """Width and height must map to latents the UNet can halve at each of its down blocks."""
    factor = components.vae_scale_factor * 2 ** (len(components.unet.config.down_block_types) - 1)
    if plan.width % factor or plan.height % factor:
        raise UsageError(
            f"output {plan.width}x{plan.height} does not fit model '{components.model_id}': width and height must be "
            f"multiples of {factor} (for example {plan.width // factor * factor}x{plan.height // factor * factor})"
        )


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
    import torch
    from diffusers import AutoencoderKL, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    quiet_libraries()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet3DConditionModel(**TINY_UNET)
        vae = AutoencoderKL(**TINY_VAE)
        text_encoder = CLIPTextModel(CLIPTextConfig(**TINY_TEXT))
    tokenizer = CLIPTokenizer(vocab=byte_vocab(), merges=[], model_max_length=77)
    if dtype is not None:
        unet, vae, text_encoder = unet.to(dtype), vae.to(dtype), text_encoder.to(dtype)
    for module in (text_encoder, unet, vae):
        module.eval().requires_grad_(False)
    return Components(tokenizer, text_encoder, unet, vae, dict(SCHEDULER), TINY)


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
