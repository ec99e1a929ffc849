"""The ``wan`` family: Wan 2.1 T2V (1.3B, 14B), Wan 2.2 T2V A14B (two experts) and TI2V-5B.

How to drive a diffusers ``WanPipeline`` model: its components (``transformer/`` a
``WanTransformer3DModel`` DiT, optional ``transformer_2/`` the low-noise expert of Wan 2.2
A14B, ``vae/`` the causal video ``AutoencoderKLWan``, ``text_encoder/`` UMT5, ``tokenizer/``,
``scheduler/``), how to load them, encode text as the stock pipeline does, condition each
latent frame on its own prompt, denoise with guidance (switching experts at the boundary
timestep), check sizes and decode in chunks; and a tiny random model of the same structure
for offline tests.

Time: the VAE compresses 4 frames into a latent frame, the first latent frame holding one
frame (causal), so 81 frames (Wan's clip at 16 fps) are 21 latent frames. Space: 8 pixels
per latent cell (Wan 2.1, 2.2 A14B) or 16 (TI2V-5B), read from the VAE's config; the DiT
patches 2 x 2 latent cells, so sizes are multiples of 16 or 32 pixels.

Per-frame prompts: the DiT's tokens are ordered frame-major (patch size 1 in time), so
:class:`PerFrameCrossAttention` regroups the video tokens of a window by latent frame and
attends each latent frame to its own text embedding, in every cross-attention layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from storyboard.backends.diffusion.families.base import (
    FrameDenoiser,
    TextEncoding,
    build_tiny,
    byte_t5_tokenizer,
    freeze,
    load_errors,
)
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.registry import (
    FAMILIES,
    TI2V_TIMING,
    LatentTiming,
    SizeRule,
    rule_from_configs,
    size_errors_text,
)
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "wan"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
TIMING = FAMILIES[NAME].timing
TEXT_LENGTH = 512  # UMT5 tokens per prompt, as WanPipeline pads them
SCHEDULERS = FAMILIES[NAME].schedulers


@dataclass
class FrameSlots:
    """Which text embedding each latent frame of the window in progress attends to.

    The DiT is called with ``encoder_hidden_states`` ``[B, slots * L, D]``: ``slots``
    distinct embeddings of ``L`` tokens side by side; ``index[k]`` is the slot of latent
    frame ``k`` of the window. ``index`` None: stock cross-attention (one embedding per sample).
    """

    index: torch.Tensor | None = None
    slots: int = 1


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    transformer: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str
    transformer_2: Any = None  # Wan 2.2 A14B: the low-noise expert
    boundary_ratio: float | None = None  # timesteps below boundary_ratio * num_train_timesteps use transformer_2
    expand_timesteps: bool = False  # Wan 2.2 TI2V: a timestep per video token
    guidance_2: float | None = None  # guidance scale of the low-noise expert, if the model names one
    text_length: int = TEXT_LENGTH
    slots: FrameSlots = field(default_factory=FrameSlots)

    @property
    def denoisers(self) -> list[Any]:
        return [m for m in (self.transformer, self.transformer_2) if m is not None]


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load a Wan model from a hub id or a diffusers folder; configs are checked before any weights."""
    from diffusers import AutoencoderKLWan, DiffusionPipeline, WanTransformer3DModel
    from transformers import AutoTokenizer, UMT5EncoderModel

    with load_errors(model_id, COMPONENTS):
        index = dict(DiffusionPipeline.load_config(source, **kwargs))
        has_second = bool((index.get("transformer_2") or [None])[0])
        experts = ("transformer", "transformer_2") if has_second else ("transformer",)
        for name in experts:
            WanTransformer3DModel.load_config(source, subfolder=name, **kwargs)
        AutoencoderKLWan.load_config(source, subfolder="vae", **kwargs)
        scheduler_config = load_scheduler_config(source, kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        models = [WanTransformer3DModel.from_pretrained(source, subfolder=name, dtype=dtype, **kwargs)
                  for name in experts]
        vae = AutoencoderKLWan.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
        text_encoder = UMT5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
    c = Components(
        tokenizer, text_encoder, models[0], vae, scheduler_config, model_id,
        transformer_2=models[1] if has_second else None,
        boundary_ratio=index.get("boundary_ratio") if has_second else None,
        expand_timesteps=bool(index.get("expand_timesteps", False)),
        guidance_2=index.get("guidance_scale_2"),
        text_length=min(TEXT_LENGTH, int(tokenizer.model_max_length)),
    )
    return prepare(c)


def load_scheduler_config(source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from diffusers import UniPCMultistepScheduler

    return dict(UniPCMultistepScheduler.load_config(source, subfolder="scheduler", **kwargs))


def prepare(c: Components) -> Components:
    """Inference mode, and per-frame cross-attention on every expert."""
    freeze(c.text_encoder, c.vae, *c.denoisers)
    for model in c.denoisers:
        install_per_frame_attention(model, c.slots)
    return c


# --- text ---------------------------------------------------------------------------------


@torch.no_grad()
def encode_prompts(c: Components, texts: list[str], device: str) -> TextEncoding:
    """UMT5 embeddings ``[len(texts), text_length, D]`` as WanPipeline makes them.

    Texts are cleaned like the pipeline's (HTML entities, whitespace), tokenized to
    ``text_length`` tokens with their attention mask, and the hidden states past each
    prompt's own tokens are zeroed (the DiT attends to those zeros, unmasked).
    """
    from diffusers.pipelines.wan.pipeline_wan import prompt_clean

    tokens = c.tokenizer([prompt_clean(t) for t in texts], padding="max_length", max_length=c.text_length,
                         truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    hidden = c.text_encoder(ids, mask).last_hidden_state
    kept = torch.arange(c.text_length, device=device).view(1, -1) < mask.gt(0).sum(dim=1).view(-1, 1)
    return TextEncoding(hidden.masked_fill(~kept.unsqueeze(-1), 0.0), kept)


# --- per-frame cross-attention ------------------------------------------------------------


class PerFrameCrossAttention:
    """Wan cross-attention where each latent frame's tokens attend to their own text.

    Video tokens ``[B, F * n, C]`` (frame-major, ``n`` tokens per latent frame) become
    ``[B * F, n, C]``; text ``[B, slots * L, C]`` is projected once per slot, then each
    frame takes its slot's keys and values, ``[B * F, L, C]``. With ``slots.index`` None
    this is the stock ``WanAttnProcessor``.
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self, slots: FrameSlots):
        from diffusers.models.transformers.transformer_wan import WanAttnProcessor

        self.slots = slots
        self.stock = WanAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, rotary_emb: Any = None, **kwargs: Any) -> torch.Tensor:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        index = self.slots.index
        if index is None or encoder_hidden_states is None:
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        if attn.add_k_proj is not None:
            raise UsageError("per-frame prompts are for text-to-video Wan; this transformer also takes an image")
        batch, tokens, _ = hidden_states.shape
        frames, slots = index.numel(), self.slots.slots
        if tokens % frames or encoder_hidden_states.shape[1] % slots:
            raise RuntimeError(f"{tokens} video tokens do not split into {frames} latent frames, "
                               f"or {encoder_hidden_states.shape[1]} text tokens into {slots} prompts")
        query = attn.norm_q(attn.to_q(hidden_states))
        if getattr(attn, "fused_projections", False):
            key, value = attn.to_kv(encoder_hidden_states).chunk(2, dim=-1)
        else:
            key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        key = attn.norm_k(key)
        length = encoder_hidden_states.shape[1] // slots

        def per_frame(x: torch.Tensor) -> torch.Tensor:  # [B, slots * L, C] -> [B * F, L, heads, C / heads]
            x = x.unflatten(1, (slots, length)).index_select(1, index.to(x.device))
            return x.flatten(0, 1).unflatten(2, (attn.heads, -1))

        query = query.reshape(batch * frames, tokens // frames, attn.heads, -1)
        out = dispatch_attention_fn(query, per_frame(key), per_frame(value), attn_mask=None, dropout_p=0.0,
                                    is_causal=False, backend=self._attention_backend, parallel_config=None)
        out = out.flatten(2, 3).type_as(query).reshape(batch, tokens, -1)
        return attn.to_out[1](attn.to_out[0](out))


def install_per_frame_attention(transformer: Any, slots: FrameSlots) -> int:
    """Put :class:`PerFrameCrossAttention` on every cross-attention layer (``attn2``); returns how many."""
    if tuple(transformer.config.patch_size)[0] != 1:
        raise UsageError(f"per-frame prompts need a temporal patch size of 1, not {transformer.config.patch_size[0]}")
    count = 0
    for block in transformer.blocks:
        block.attn2.set_processor(PerFrameCrossAttention(slots))
        count += 1
    if count == 0:
        raise UsageError("this Wan transformer has no cross-attention layers to condition per frame")
    return count


# --- the denoiser ---------------------------------------------------------------------------


class Denoiser(FrameDenoiser):
    """The sampler's denoiser: Wan flow prediction with per-latent-frame prompts and guidance.

    ``conds`` holds one :class:`FrameCond` per latent frame of the shot. A call on a window
    ``x`` ``[B, C, end - start, h, w]`` (latent frames) runs the expert for ``t`` (Wan 2.2:
    ``transformer`` from the boundary timestep up, ``transformer_2`` below) once on the
    batch ``[uncond, cond]`` and returns ``uncond + s_k (cond - uncond)`` per latent frame
    ``k``, ``s_k`` the expert's guidance scale raised by the frame's beat pulse.
    """

    def __init__(self, c: Components, table: PromptTable, conds: list[FrameCond] | tuple[FrameCond, ...],
                 guidance: float, dtype: torch.dtype, guidance_2: float | None = None):
        super().__init__(table, conds, guidance, dtype)
        self.c = c
        if guidance_2 is None:  # the low-noise expert's scale: the caller's, the model's, else the same
            guidance_2 = c.guidance_2 if c.guidance_2 is not None else guidance
        self.guidance_2 = guidance_2
        train_steps = int(c.scheduler_config.get("num_train_timesteps", 1000))
        self.boundary = None if c.boundary_ratio is None or c.transformer_2 is None else c.boundary_ratio * train_steps

    def expert(self, t: torch.Tensor) -> tuple[Any, float]:
        """The model and guidance scale for timestep ``t`` (the stock pipeline's switch)."""
        if self.boundary is None or t >= self.boundary:
            return self.c.transformer, self.guidance
        return self.c.transformer_2, self.guidance_2

    def text(self, conds: list[FrameCond]) -> tuple[torch.Tensor, torch.Tensor]:
        """Distinct embeddings ``[slots, L, D]`` of the window's latent frames, and each frame's slot ``[F]``."""
        slot_of: dict[tuple[int, int, float], int] = {}
        index, distinct = [], []
        for cond in conds:
            key = (cond.a, cond.b, round(cond.w, 6))
            if key not in slot_of:
                slot_of[key] = len(distinct)
                distinct.append(cond)
            index.append(slot_of[key])
        return self.table.window(distinct), torch.tensor(index, dtype=torch.long)

    def timestep(self, t: torch.Tensor, batch: torch.Tensor, model: Any) -> torch.Tensor:
        """``t`` per sample (``[B]``), or per video token (``[B, tokens]``) for TI2V, as WanPipeline passes it."""
        if not self.c.expand_timesteps:
            return t.expand(batch.shape[0])
        _, ph, pw = model.config.patch_size
        tokens = batch.shape[2] * (batch.shape[3] // ph) * (batch.shape[4] // pw)
        return t.to(torch.float32).expand(batch.shape[0], tokens)

    def batch(self, x: torch.Tensor, conds: list[FrameCond],
              guided: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The DiT's input (``[uncond, cond]`` when guided), its text ``[B, slots * L, D]`` and each latent
        frame's slot ``[F]`` (on the CPU)."""
        text, index = self.text(conds)
        slots = text.shape[0]
        text = text.flatten(0, 1).unsqueeze(0).expand(x.shape[0], -1, -1)  # slots side by side
        if not guided:
            return x, text, index
        negative = self.table.negative.repeat(slots, 1).unsqueeze(0).expand(x.shape[0], -1, -1)
        return torch.cat([x, x]), torch.cat([negative, text]), index

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        model, scale = self.expert(t)
        guided = scale > 1.0
        batch, text, index = self.batch(x, conds, guided)
        self.c.slots.index, self.c.slots.slots = index.to(x.device), int(index.max()) + 1
        try:
            out = model(hidden_states=batch.to(self.dtype), timestep=self.timestep(t, batch, model),
                        encoder_hidden_states=text.to(device=x.device, dtype=self.dtype), return_dict=False)[0].float()
        finally:
            self.c.slots.index, self.c.slots.slots = None, 1
        self.calls += 1
        if not guided:
            return out
        uncond, cond = out.chunk(2)
        return self.guide(uncond, cond, scale, conds)


# --- schedulers, sizes --------------------------------------------------------------------


def scheduler(c: Components, name: str, latent_shape: tuple[int, int, int] | None = None) -> Any:  # noqa: ARG001
    """``auto``/``unipc``: UniPC on flow sigmas with the model's ``flow_shift`` (the saved
    config as is when it is UniPC); ``euler``: flow-matching Euler with the same shift.
    ``latent_shape`` (a window's size) does not matter: Wan's shift is fixed."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    config = dict(c.scheduler_config)
    saved = config.get("_class_name")
    shift = float(config.get("flow_shift", config.get("shift", 1.0)))
    steps = int(config.get("num_train_timesteps", 1000))
    if name in ("auto", "unipc"):
        if saved == "UniPCMultistepScheduler":
            return UniPCMultistepScheduler.from_config(config)
        return UniPCMultistepScheduler(num_train_timesteps=steps, prediction_type="flow_prediction",
                                       use_flow_sigmas=True, flow_shift=shift)
    if name == "euler":
        if saved == "FlowMatchEulerDiscreteScheduler":
            return FlowMatchEulerDiscreteScheduler.from_config(config)
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=steps, shift=shift)
    raise UsageError(f"scheduler '{name}' is not one Wan models use: choose {', '.join(SCHEDULERS)}")


def timing(c: Components) -> LatentTiming:
    """:data:`TIMING`, or TI2V-5B's: 24 frames a second in clips of 121 frames."""
    return TI2V_TIMING if c.expand_timesteps else TIMING


def latent_channels(c: Components) -> int:
    """Channels of the DiT's input latents (16 for Wan 2.1 and 2.2 A14B, 48 for TI2V-5B)."""
    return int(c.denoisers[0].config.in_channels)


def spatial_factor(c: Components) -> int:
    """Pixels per latent cell along each axis, from the VAE's config (8, or 16 for TI2V-5B)."""
    return int(getattr(c.vae.config, "scale_factor_spatial", None) or 8)


def size_rule(c: Components) -> SizeRule:
    """The sizes the model renders (the registry's rule on its configs): whole patches of latent
    cells (multiples of 16, or 32 for TI2V-5B), at most ``rope_max_seq_len`` patches a side."""
    return rule_from_configs(NAME, dict(c.vae.config), dict(c.denoisers[0].config))


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height (pixels) must fit :func:`size_rule`; ``UsageError`` in the registry's words."""
    problem = size_errors_text(c.model_id, NAME, size_rule(c), width, height)
    if problem:
        raise UsageError(problem)


# --- decoding -----------------------------------------------------------------------------


@torch.no_grad()
def decode_chunks(c: Components, latents: torch.Tensor, device: str) -> Iterator[torch.Tensor]:
    """The video ``[B, 3, frames, H, W]`` in ``[-1, 1]``, one latent frame at a time (1 frame, then 4 each).

    The causal VAE decoder runs on each latent frame with its feature cache (the last
    frames each causal convolution saw) carried over, as ``AutoencoderKLWan`` does inside
    one ``decode`` call; memory is the cache, flat in the shot's length.
    """
    from diffusers.models.autoencoders.autoencoder_kl_wan import (
        WanCausalConv3d,
        unpatchify,
    )

    vae = c.vae
    config = vae.config
    vae_dtype = next(vae.parameters()).dtype
    z_dim = config.z_dim
    mean = torch.tensor(config.latents_mean).view(1, z_dim, 1, 1, 1).to(device, vae_dtype)
    inverse_std = 1.0 / torch.tensor(config.latents_std).view(1, z_dim, 1, 1, 1).to(device, vae_dtype)
    cache: list[Any] = [None] * sum(isinstance(m, WanCausalConv3d) for m in vae.decoder.modules())
    for i in range(latents.shape[2]):
        z = latents[:, :, i:i + 1].to(device, vae_dtype) / inverse_std + mean  # as WanPipeline un-normalises
        out = vae.decoder(vae.post_quant_conv(z), feat_cache=cache, feat_idx=[0], first_chunk=i == 0)
        if config.patch_size is not None:
            out = unpatchify(out, patch_size=config.patch_size)
        yield out.clamp(-1.0, 1.0)


def decode(c: Components, latents: torch.Tensor, device: str, dtype: Any = None) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 at the native rate (16 fps), decoded latent frame by latent frame.

    ``latents`` ``[1, C, latent frames, h, w]``, one video as the sampler returns it
    (normalised). The VAE runs in its own dtype (the ``dtype`` it was loaded in; the
    backend's compute ``dtype`` is not needed here).
    """
    if latents.shape[0] != 1:
        raise ValueError(f"decode takes one video's latents, not a batch of {latents.shape[0]}")
    for chunk in decode_chunks(c, latents, device):
        pixels = ((chunk[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        yield from pixels.permute(1, 2, 3, 0).contiguous().cpu().numpy()  # [frames, H, W, 3]


# --- the tiny offline model ---------------------------------------------------------------


TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=32, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    rope_max_seq_len=1024,  # Wan's own: the rotary table covers 1024 patches a side (16384 pixels), not 512 pixels
)
TINY_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
TINY_TEXT = dict(vocab_size=259, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
                 decoder_start_token_id=0)
TINY_TEXT_LENGTH = 32
SCHEDULER = {  # Wan 2.1 T2V 1.3B's scheduler config
    "_class_name": "UniPCMultistepScheduler", "num_train_timesteps": 1000, "prediction_type": "flow_prediction",
    "use_flow_sigmas": True, "flow_shift": 3.0, "solver_order": 2, "solver_type": "bh2", "predict_x0": True,
    "lower_order_final": True, "final_sigmas_type": "zero", "timestep_spacing": "linspace", "steps_offset": 0,
    "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
}


def tiny_components(dtype: Any = None, seed: int = 0, *, experts: int = 1, boundary_ratio: float = 0.875,
                    **transformer: Any) -> Components:
    """Random tiny components with Wan's structure: a 2-step render of 17 frames at 64 x 64 pixels
    takes about a second on a CPU; output is noise. ``experts=2``: a Wan 2.2 A14B-like pair
    switching at ``boundary_ratio``; ``transformer`` overrides the DiT's config."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    models, vae, text_encoder = build_tiny(seed, lambda: (
        [WanTransformer3DModel(**{**TINY_TRANSFORMER, **transformer}) for _ in range(experts)],
        AutoencoderKLWan(**TINY_VAE), UMT5EncoderModel(UMT5Config(**TINY_TEXT))))
    *models, vae, text_encoder = freeze(*models, vae, text_encoder, dtype=dtype)
    c = Components(byte_t5_tokenizer(TINY_TEXT_LENGTH), text_encoder, models[0], vae, dict(SCHEDULER), TINY,
                   transformer_2=models[1] if experts > 1 else None,
                   boundary_ratio=boundary_ratio if experts > 1 else None, text_length=TINY_TEXT_LENGTH)
    return prepare(c)


def save_components(c: Components, folder: str | Path) -> Path:
    """Write the model as the stock ``WanPipeline.save_pretrained`` does (loadable by :func:`load`)."""
    from diffusers import (
        FlowMatchEulerDiscreteScheduler,
        UniPCMultistepScheduler,
        WanPipeline,
    )

    saved = c.scheduler_config.get("_class_name")
    kind = FlowMatchEulerDiscreteScheduler if saved == "FlowMatchEulerDiscreteScheduler" else UniPCMultistepScheduler
    pipe = WanPipeline(tokenizer=c.tokenizer, text_encoder=c.text_encoder, vae=c.vae,
                       scheduler=kind.from_config(c.scheduler_config), transformer=c.transformer,
                       transformer_2=c.transformer_2, boundary_ratio=c.boundary_ratio,
                       expand_timesteps=c.expand_timesteps)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder
