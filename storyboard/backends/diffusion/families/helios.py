"""The ``helios`` family: Helios (Base, Mid, Distilled), a Wan 2.1 14B fine-tune for minute-scale video.

How to drive a diffusers ``HeliosPipeline`` model (and a ``HeliosPyramidPipeline`` folder, which
holds the same components): ``transformer/`` a ``HeliosTransformer3DModel`` (a Wan DiT that also
reads compressed history), ``vae/`` Wan's causal ``AutoencoderKLWan``, ``text_encoder/`` UMT5,
``tokenizer/``, ``scheduler/`` a ``HeliosScheduler``; and a tiny random model of the same structure.

The shot loop is autoregressive (:func:`rollout`): a shot is generated chunk after chunk,
:data:`CHUNK_LATENTS` (9) latent frames each, and every chunk is denoised from its own noise for
the full schedule while the transformer reads, as clean context at timestep 0, the history the
model keeps (``HeliosPipeline``'s ``history_sizes=[16, 2, 1]``, ``keep_first_frame=True``):

- *long*: the 16 latent frames before the last 3, patched 4 x 8 x 8 (``patch_long``: 4 tokens
  frames of 1/16 the spatial tokens);
- *mid*: the 2 latent frames before the last, patched 2 x 4 x 4 (``patch_mid``);
- *short*: the last latent frame at full resolution, with the shot's first latent frame in front
  of it (the anchor every chunk sees; zeros while the first chunk is made).

So a chunk sees the last 19 latent frames (73 frames, 3 s at 24 fps) and the shot's first one;
memory and time per chunk are flat in the shot's length. The scheduler is the model's own
(``HeliosScheduler``, UniPC or Euler on flow sigmas ``linspace(0.999, 0, steps)``, shifted by
``mu`` from the chunk's token count when the model's config asks), set afresh for each chunk.

Time: the VAE encodes each chunk of 33 frames on its own (9 latent frames: the first holds one
frame, the others 4 each), and the stock pipeline decodes each chunk on its own, so a shot of
``K`` chunks is ``9 K`` latent frames and ``33 K`` frames at 24 fps (the registry's
:class:`LatentTiming` with ``chunked``, which ``plan`` and ``validate`` read too).

Per-frame prompts: Helios' cross-attention sees only the chunk's own tokens (``guidance_cross_attn``;
the history tokens bypass it), frame-major with a temporal patch of 1, so
:class:`PerFrameCrossAttention` attends each latent frame of a chunk to its own interpolated text
embedding: a morph glides per latent frame, inside a chunk and across chunks alike, and the rollout
carries on with the new prompt while the history holds what was made. (A model without
``guidance_cross_attn`` sends its history tokens through cross-attention too; they attend to the
chunk's first latent frame's text.) Beat pulses raise guidance per latent frame
(:meth:`FrameDenoiser.guide`).

The pyramid sampler (``HeliosPyramidPipeline``, what Helios' checkpoints are published with) runs
too, per chunk, when the model's scheduler has stages (:func:`sample_pyramid_chunk`): the chunk's
noise is shrunk (bilinear, x2) to 1/4 of the size, denoised a third of the steps, enlarged (nearest)
and re-noised with block noise for the next stage, up to full size; with CFG-zero* when the model
asks it (``is_cfg_zero_star``) and the DMD scheduler's re-noising for Helios-Distilled
(``is_distilled``). The block noise is extra randomness the shot's noise does not hold: drawn from
a generator seeded with the shot's seed (or from ``block_noise``, which the equivalence test feeds
in the stock pipeline's order). Its sizes are multiples of 64 pixels (16 x 2 ** (stages - 1)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

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
from storyboard.backends.registry import FAMILIES, LatentTiming, SizeRule, rule_from_configs, size_errors_text
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "helios"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
TIMING = FAMILIES[NAME].timing
SCHEDULERS = FAMILIES[NAME].schedulers
TEXT_LENGTH = 512  # UMT5 tokens per prompt, HeliosPipeline's max_sequence_length
CHUNK_LATENTS = TIMING.clip_latents  # 9: HeliosPipeline's num_latent_frames_per_chunk, 33 frames
HISTORY_SIZES = FAMILIES[NAME].history  # latent frames of long, mid and short history (HeliosPipeline's)


# --- time -----------------------------------------------------------------------------------


def timing(c: Any = None) -> LatentTiming:  # noqa: ARG001
    """Helios' time, the registry's: chunked, 33 frames (9 latent frames) a chunk at 24 fps."""
    return TIMING


def chunk_spans(latent_frames: int, chunk: int = CHUNK_LATENTS) -> list[tuple[int, int]]:
    """The chunks ``[start, end)`` (latent frames) of a shot of ``latent_frames`` latent frames."""
    if latent_frames % chunk:
        raise ValueError(f"{latent_frames} latent frames are not whole chunks of {chunk}")
    return [(s, s + chunk) for s in range(0, latent_frames, chunk)]


# --- components -----------------------------------------------------------------------------


@dataclass
class FrameSlots:
    """Which text embedding each latent frame of the chunk in progress attends to: the transformer is
    called with ``slots`` embeddings side by side (``[B, slots * L, D]``) and ``index[k]`` is latent frame
    ``k``'s; ``index`` None: stock cross-attention."""

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
    text_length: int = TEXT_LENGTH
    chunk_latents: int = CHUNK_LATENTS
    history_sizes: tuple[int, int, int] = HISTORY_SIZES
    pipeline: str = "HeliosPipeline"  # the pipeline that saved the model
    distilled: bool = False  # HeliosPyramidPipeline's is_distilled: DMD re-noising between steps
    cfg_zero_star: bool = False  # HeliosPyramidPipeline's is_cfg_zero_star: CFG-zero* guidance
    slots: FrameSlots = field(default_factory=FrameSlots)


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load a Helios model from a hub id or a diffusers folder; configs are checked before any weights."""
    from diffusers import AutoencoderKLWan, DiffusionPipeline, HeliosTransformer3DModel
    from transformers import AutoTokenizer, UMT5EncoderModel

    with load_errors(model_id, COMPONENTS):
        index = dict(DiffusionPipeline.load_config(source, **kwargs))
        HeliosTransformer3DModel.load_config(source, subfolder="transformer", **kwargs)
        AutoencoderKLWan.load_config(source, subfolder="vae", **kwargs)
        scheduler_config = load_scheduler_config(source, kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        transformer = HeliosTransformer3DModel.from_pretrained(source, subfolder="transformer", dtype=dtype, **kwargs)
        vae = AutoencoderKLWan.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
        text_encoder = UMT5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
    c = Components(tokenizer, text_encoder, transformer, vae, scheduler_config, model_id,
                   text_length=min(TEXT_LENGTH, int(tokenizer.model_max_length)),
                   pipeline=str(index.get("_class_name") or "HeliosPipeline"),
                   distilled=bool(index.get("is_distilled", False)),
                   cfg_zero_star=bool(index.get("is_cfg_zero_star", False)))
    return prepare(c)


def load_scheduler_config(source: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    from diffusers import HeliosScheduler

    return dict(HeliosScheduler.load_config(source, subfolder="scheduler", **kwargs))  # any class: a plain dict


def prepare(c: Components) -> Components:
    """Inference mode, and per-frame cross-attention in every block."""
    freeze(c.text_encoder, c.vae, c.transformer)
    install_per_frame_attention(c.transformer, c.slots)
    return c


# --- text -----------------------------------------------------------------------------------


@torch.no_grad()
def encode_prompts(c: Components, texts: list[str], device: str) -> TextEncoding:
    """UMT5 embeddings ``[len(texts), text_length, D]`` as HeliosPipeline makes them: cleaned text
    (ftfy, HTML entities, whitespace), ``text_length`` tokens with their mask, the hidden states
    past each prompt's own tokens zeroed (the DiT attends to those zeros, unmasked)."""
    from diffusers.pipelines.helios.pipeline_helios import prompt_clean

    tokens = c.tokenizer([prompt_clean(t) for t in texts], padding="max_length", max_length=c.text_length,
                         truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    hidden = c.text_encoder(ids, mask).last_hidden_state
    kept = torch.arange(c.text_length, device=device).view(1, -1) < mask.gt(0).sum(dim=1).view(-1, 1)
    return TextEncoding(hidden.masked_fill(~kept.unsqueeze(-1), 0.0), kept)


# --- per-frame cross-attention ----------------------------------------------------------------


class PerFrameCrossAttention:
    """Helios cross-attention where each latent frame of the chunk attends to its own text.

    The chunk's tokens (the last ``original_context_length`` of ``hidden_states``, frame-major,
    ``n`` a latent frame) become ``[B * F, n, C]``; text ``[B, slots * L, C]`` is projected once per
    slot and each frame takes its slot's keys and values. History tokens in front (a model without
    ``guidance_cross_attn``) attend to the first frame's slot. ``slots.index`` None: the stock
    ``HeliosAttnProcessor``.
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self, slots: FrameSlots):
        from diffusers.models.transformers.transformer_helios import HeliosAttnProcessor

        self.slots = slots
        self.stock = HeliosAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, rotary_emb: Any = None,
                 original_context_length: int | None = None) -> torch.Tensor:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        index = self.slots.index
        if index is None or encoder_hidden_states is None:
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb,
                              original_context_length)
        if attn.add_k_proj is not None:
            raise UsageError("per-frame prompts are for text-to-video Helios; this transformer also takes an image")
        batch, tokens, _ = hidden_states.shape
        own = tokens if original_context_length is None else int(original_context_length)
        frames, slots = index.numel(), self.slots.slots
        if own % frames or encoder_hidden_states.shape[1] % slots:
            raise RuntimeError(f"{own} chunk tokens do not split into {frames} latent frames, "
                               f"or {encoder_hidden_states.shape[1]} text tokens into {slots} prompts")
        query = attn.norm_q(attn.to_q(hidden_states))
        if getattr(attn, "fused_projections", False):
            key, value = attn.to_kv(encoder_hidden_states).chunk(2, dim=-1)
        else:
            key, value = attn.to_k(encoder_hidden_states), attn.to_v(encoder_hidden_states)
        key = attn.norm_k(key)
        length = encoder_hidden_states.shape[1] // slots
        heads = attn.heads

        def of_slots(x: torch.Tensor, which: torch.Tensor) -> torch.Tensor:  # [B, slots*L, C] -> [B*n, L, h, c]
            x = x.unflatten(1, (slots, length)).index_select(1, which.to(x.device))
            return x.flatten(0, 1).unflatten(2, (heads, -1))

        def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            out = dispatch_attention_fn(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False,
                                        backend=self._attention_backend, parallel_config=None)
            return out.flatten(2, 3).type_as(q)

        history = tokens - own
        chunk_query = query[:, history:].reshape(batch * frames, own // frames, heads, -1)
        out = attend(chunk_query, of_slots(key, index), of_slots(value, index)).reshape(batch, own, -1)
        if history:
            first = index[:1]
            past = attend(query[:, :history].unflatten(2, (heads, -1)), of_slots(key, first), of_slots(value, first))
            out = torch.cat([past, out], dim=1)
        return attn.to_out[1](attn.to_out[0](out))


def install_per_frame_attention(transformer: Any, slots: FrameSlots) -> int:
    """Put :class:`PerFrameCrossAttention` on every cross-attention layer (``attn2``); returns how many."""
    if tuple(transformer.config.patch_size)[0] != 1:
        raise UsageError(f"per-frame prompts need a temporal patch size of 1, not {transformer.config.patch_size[0]}")
    for block in transformer.blocks:
        block.attn2.set_processor(PerFrameCrossAttention(slots))
    if not len(transformer.blocks):
        raise UsageError("this Helios transformer has no cross-attention layers to condition per frame")
    return len(transformer.blocks)


# --- history ----------------------------------------------------------------------------------


@dataclass
class ChunkContext:
    """What the transformer reads besides the chunk: the history latents (clean, normalised
    ``[1, C, n, h, w]``: short = first frame + last 1, mid = 2, long = 16) and the rotary frame
    indices of each part and of the chunk (``[1, n]``), as HeliosPipeline lays them out."""

    short: torch.Tensor
    mid: torch.Tensor
    long: torch.Tensor
    indices: dict[str, torch.Tensor]

    def inputs(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The transformer's keyword arguments for this context."""
        return {
            "latents_history_short": self.short.to(dtype), "latents_history_mid": self.mid.to(dtype),
            "latents_history_long": self.long.to(dtype), **{f"indices_{k}": v for k, v in self.indices.items()},
        }


def history_indices(sizes: Sequence[int], chunk: int) -> dict[str, torch.Tensor]:
    """Rotary frame indices: 0 the first frame, then long, mid, the last frame, then the chunk
    (``[prefix, *sizes, chunk]`` counted from 0, as HeliosPipeline with ``keep_first_frame``)."""
    long, mid, short = sizes
    split = torch.arange(1 + long + mid + short + chunk).split([1, long, mid, short, chunk])
    return {
        "hidden_states": split[4].unsqueeze(0),
        "latents_history_short": torch.cat([split[0], split[3]]).unsqueeze(0),
        "latents_history_mid": split[2].unsqueeze(0),
        "latents_history_long": split[1].unsqueeze(0),
    }


class History:
    """The latent frames a rollout keeps (``sum(sizes)`` = 19, zeros before the shot starts) and the
    shot's first latent frame (zeros until the first chunk is made): flat in the shot's length."""

    def __init__(self, shape: tuple[int, int, int, int], sizes: Sequence[int], chunk: int, device: Any):
        channels, h, w = shape[0], shape[2], shape[3]
        self.sizes = tuple(sizes)
        self.recent = torch.zeros(1, channels, sum(self.sizes), h, w, device=device)
        self.first = torch.zeros(1, channels, 1, h, w, device=device)
        self.indices = {k: v.to(device) for k, v in history_indices(self.sizes, chunk).items()}

    def context(self) -> ChunkContext:
        long, mid, short = self.recent.split(self.sizes, dim=2)
        return ChunkContext(torch.cat([self.first, short], dim=2), mid, long, self.indices)

    def add(self, chunk: torch.Tensor, first_chunk: bool) -> None:
        """Keep the newest ``sum(sizes)`` latent frames; the first chunk's first frame anchors the rest."""
        if first_chunk:
            self.first = chunk[:, :, :1].clone()
        self.recent = torch.cat([self.recent, chunk.float()], dim=2)[:, :, -self.recent.shape[2]:]


# --- the denoiser -----------------------------------------------------------------------------


class Denoiser(FrameDenoiser):
    """Helios flow prediction for one chunk, with per-latent-frame prompts and guidance.

    ``conds`` holds one :class:`FrameCond` per latent frame of the shot; :attr:`context` (set by
    :func:`rollout` before each chunk) is the history the transformer reads, None for none. A call on
    ``x`` ``[1, C, F, h, w]`` (the chunk's latent frames ``[start, end)``) runs the transformer with the
    prompts (and, when guided, once more with the negative prompt, as HeliosPipeline does) and returns
    ``uncond + s_k (cond - uncond)`` per latent frame ``k``, ``s_k`` raised by the frame's beat pulse.
    """

    def __init__(self, c: Components, table: PromptTable, conds: Sequence[FrameCond], guidance: float,
                 dtype: torch.dtype):
        super().__init__(table, conds, guidance, dtype)
        self.c = c
        self.context: ChunkContext | None = None
        self.zero_init = False  # CFG-zero*'s first steps: the rollout sets it, the prediction is zero

    def text(self, conds: list[FrameCond]) -> tuple[torch.Tensor, torch.Tensor]:
        """Distinct embeddings ``[slots, L, D]`` of the chunk's latent frames and each frame's slot ``[F]``."""
        slot_of: dict[tuple[int, int, float], int] = {}
        index, distinct = [], []
        for cond in conds:
            key = (cond.a, cond.b, round(cond.w, 6))
            if key not in slot_of:
                slot_of[key] = len(distinct)
                distinct.append(cond)
            index.append(slot_of[key])
        return self.table.window(distinct), torch.tensor(index, dtype=torch.long)

    def predict(self, x: torch.Tensor, t: torch.Tensor, text: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """One transformer call: ``text`` ``[slots, L, D]``, ``index`` each latent frame's slot."""
        extra = self.context.inputs(self.dtype) if self.context is not None else {}
        self.c.slots.index, self.c.slots.slots = index.to(x.device), text.shape[0]
        try:
            encoder = text.flatten(0, 1).unsqueeze(0).expand(x.shape[0], -1, -1)
            out = self.c.transformer(hidden_states=x.to(self.dtype), timestep=t.expand(x.shape[0]),
                                     encoder_hidden_states=encoder.to(device=x.device, dtype=self.dtype),
                                     return_dict=False, **extra)[0]
        finally:
            self.c.slots.index, self.c.slots.slots = None, 1
        self.calls += 1
        return out.float()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        guided = self.guidance > 1.0
        if guided and self.c.cfg_zero_star and self.zero_init:
            return torch.zeros_like(x, dtype=torch.float32)  # the pipeline zeroes it (we skip its two calls)
        text, index = self.text(conds)
        cond = self.predict(x, t, text, index)
        if not guided:
            return cond
        uncond = self.predict(x, t, self.table.negative.unsqueeze(0), torch.zeros(len(conds), dtype=torch.long))
        if self.c.cfg_zero_star:  # CFG-zero* (Fan et al., 2025): the unconditional prediction projected onto the other
            cond_flat, uncond_flat = cond.flatten(1), uncond.flatten(1)
            alpha = (cond_flat * uncond_flat).sum(1) / ((uncond_flat ** 2).sum(1) + 1e-8)
            uncond = uncond * alpha.view(-1, 1, 1, 1, 1)
        return self.guide(uncond, cond, self.guidance, conds)


# --- the shot loop ------------------------------------------------------------------------------


def shift_mu(c: Components, chunk_shape: Sequence[int]) -> float:
    """The dynamic shift ``mu`` for a chunk ``[C, F, h, w]``: linear in its tokens between the
    scheduler config's ``base_image_seq_len`` (256 -> ``base_shift`` 0.5) and ``max_image_seq_len``
    (4096 -> ``max_shift`` 1.15), as HeliosPipeline computes it (used when ``use_dynamic_shifting``)."""
    config = c.scheduler_config
    pt, ph, pw = c.transformer.config.patch_size
    tokens = chunk_shape[1] * chunk_shape[2] * chunk_shape[3] // (pt * ph * pw)
    base, most = config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096)
    low, high = config.get("base_shift", 0.5), config.get("max_shift", 1.15)
    slope = (high - low) / (most - base)
    return tokens * slope + (low - slope * base)


def rollout(c: Components, denoiser: Denoiser, scheduler: Any, noise: torch.Tensor, mapped: Any, steps: int,
            on_step: Callable[[int, int], None] | None = None, *, stage_steps: Sequence[int] | None = None,
            block_noise: Callable[[int], torch.Tensor] | None = None) -> torch.Tensor:
    """The shot's latents ``[1, C, 9 K, h, w]`` (float32), made chunk by chunk as HeliosPipeline does.

    ``noise`` ``[1, C, 9 K, h, w]``: chunk ``k`` starts from ``noise[:, :, 9k:9k + 9]`` (HeliosPipeline
    draws each chunk's noise from its generator in chunk order, ``[B, C, 9, h, w]`` at a time, and
    draws nothing else for text-to-video; its ``latents`` argument is not used, so equal noise is a
    generator seeded alike, drawn chunk by chunk). For each chunk the scheduler is set to
    ``steps`` sigmas ``linspace(0.999, 0)`` (``mu`` from the chunk's tokens), the denoiser reads
    the history (:class:`History`) and is stepped ``steps`` times; the chunk then joins the history.
    ``mapped`` (a :class:`~storyboard.backends.latents.LatentShot` in :func:`timing`'s time) gives
    the shot's latent frames; its sliding windows are not used: the chunks are. ``on_step(done,
    total)`` after each step, ``total`` = chunks x steps.

    A scheduler with stages (a ``HeliosPyramidPipeline`` model) samples each chunk with
    :func:`sample_pyramid_chunk` instead: ``steps`` split over the stages (or ``stage_steps``, one
    count a stage), ``block_noise(n)`` giving ``[n, 4]`` unit Gaussian draws for the re-noising
    between stages (default: a generator seeded with the shot's first seed).
    """
    latent = mapped.latent if mapped is not None else noise.shape[2]
    if noise.shape[2] != latent:
        raise ValueError(f"noise has {noise.shape[2]} latent frames, the shot {latent}")
    spans = chunk_spans(latent, c.chunk_latents)
    history = History(tuple(noise.shape[1:]), c.history_sizes, c.chunk_latents, noise.device)
    stages = int(getattr(scheduler.config, "stages", 1))
    if stages > 1:
        per_stage = list(stage_steps) if stage_steps is not None else split_steps(steps, stages)
        if block_noise is None:
            seed = mapped.conds[0].seed if mapped is not None else 0
            generator = torch.Generator().manual_seed(int(seed) ^ 0xB10C)
            block_noise = lambda n: torch.randn(n, 4, generator=generator)  # noqa: E731
        total = len(spans) * sum(per_stage)
    else:
        total = len(spans) * steps
    out = torch.empty(noise.shape, dtype=torch.float32, device=noise.device)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_step is not None:
            on_step(done, total)

    for k, (start, end) in enumerate(spans):
        denoiser.context = history.context()
        x = noise[:, :, start:end].float()
        if stages > 1:
            x = sample_pyramid_chunk(c, denoiser, scheduler, x, (start, end), per_stage, block_noise, tick)
        else:
            x = sample_chunk(c, denoiser, scheduler, x, (start, end), steps, tick)
        out[:, :, start:end] = x
        history.add(x, first_chunk=k == 0)
    denoiser.context = None
    return out


def sample_chunk(c: Components, denoiser: Denoiser, scheduler: Any, x: torch.Tensor, span: tuple[int, int],
                 steps: int, tick: Callable[[], None]) -> torch.Tensor:
    """One chunk, HeliosPipeline's way: ``steps`` sigmas ``linspace(0.999, 0)`` (shifted by ``mu`` when
    the scheduler's config asks), the denoiser called at each, the scheduler stepped."""
    sigmas = np.linspace(0.999, 0.0, steps + 1)[:-1]
    scheduler.set_timesteps(steps, device=x.device, sigmas=sigmas, mu=shift_mu(c, x.shape[1:]))
    for t in scheduler.timesteps:
        x = scheduler.step(denoiser(x, t, span), t, x, return_dict=False)[0]
        tick()
    return x


def split_steps(steps: int, stages: int) -> list[int]:
    """``steps`` over ``stages`` as evenly as can be, the earlier stages taking the rest, at least one each."""
    return [max(1, steps // stages + (1 if i < steps % stages else 0)) for i in range(stages)]


def resize_frames(x: torch.Tensor, height: int, width: int, mode: str) -> torch.Tensor:
    """``x`` ``[B, C, F, h, w]`` resized frame by frame to ``height`` x ``width`` (``bilinear`` or ``nearest``)."""
    import torch.nn.functional as F

    b, ch, f = x.shape[:3]
    flat = x.permute(0, 2, 1, 3, 4).reshape(b * f, ch, *x.shape[3:])
    return F.interpolate(flat, size=(height, width), mode=mode).reshape(b, f, ch, height, width).permute(0, 2, 1, 3, 4)


def block_noise_like(x: torch.Tensor, gamma: float, patch: Sequence[int],
                     draw: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """Gaussian noise shaped as ``x``, correlated inside each ``ph x pw`` patch (covariance ``(1 + gamma) I -
    gamma 11^T``), as the pyramid re-noises an enlarged stage (so the patches do not show as blocks)."""
    b, ch, f, h, w = x.shape
    _, ph, pw = patch
    size = ph * pw
    cov = torch.eye(size, dtype=torch.float64) * (1 + gamma + 1e-8) - gamma  # in float64: at gamma = 1/3 it is
    lower = torch.linalg.cholesky(cov).float()  # singular but for the 1e-8, which float32 (the pipeline's) loses
    z = draw(b * ch * f * (h // ph) * (w // pw)).float() @ lower.T
    z = z.view(b, ch, f, h // ph, w // pw, ph, pw).permute(0, 1, 2, 3, 5, 4, 6)
    return z.reshape(b, ch, f, h, w).to(x.device)


def sample_pyramid_chunk(c: Components, denoiser: Denoiser, scheduler: Any, x: torch.Tensor, span: tuple[int, int],
                         stage_steps: Sequence[int], block_noise: Callable[[int], torch.Tensor],
                         tick: Callable[[], None]) -> torch.Tensor:
    """One chunk, HeliosPyramidPipeline's way (Helios' pyramid, after Pyramidal Flow, Jin et al. 2024).

    The noise is shrunk ``stages - 1`` times (bilinear, halving, scaled by 2 to keep unit variance);
    stage ``s`` sets the scheduler to its part of the schedule (``mu`` from the stage's tokens) and,
    past the first, enlarges ``x`` (nearest, x2) and re-noises it, ``alpha x + beta n`` with block
    noise ``n``, ``alpha`` and ``beta`` from the stage's start sigma and the scheduler's ``gamma``.
    CFG-zero*'s zero-init covers the first stage's first two steps. A distilled model's DMD
    scheduler re-noises each step's clean estimate with the stage's starting point.
    """
    stages = len(stage_steps)
    height, width = x.shape[3:]
    for _ in range(stages - 1):
        height, width = height // 2, width // 2
        x = resize_frames(x, height, width, "bilinear") * 2
    starts = [x] if c.distilled else None
    patch = tuple(c.transformer.config.patch_size)
    gamma = float(scheduler.config.gamma)
    for stage, count in enumerate(stage_steps):
        scheduler.set_timesteps(count, stage, device=x.device, mu=shift_mu(c, x.shape[1:]))
        timesteps = scheduler.timesteps
        if stage > 0:
            height, width = height * 2, width * 2
            x = resize_frames(x, height, width, "nearest")
            kept = 1 - scheduler.ori_start_sigmas[stage]  # the signal's share where the stage starts
            alpha = 1 / (math.sqrt(1 + 1 / gamma) * (1 - kept) + kept)
            beta = alpha * (1 - kept) / math.sqrt(gamma)
            x = alpha * x + beta * block_noise_like(x, gamma, patch, block_noise)
            if starts is not None:
                starts.append(x)
        for i, t in enumerate(timesteps):
            denoiser.zero_init = stage == 0 and i <= 1  # HeliosPyramidPipeline's use_zero_init, zero_steps=1
            prediction = denoiser(x, t.to(torch.int64).expand(1), span)
            extra = {} if starts is None else {
                "cur_sampling_step": i, "dmd_noisy_tensor": starts[stage], "dmd_sigmas": scheduler.sigmas,
                "dmd_timesteps": scheduler.timesteps, "all_timesteps": timesteps}
            x = scheduler.step(prediction, t, x, return_dict=False, **extra)[0].float()
            tick()
    denoiser.zero_init = False
    return x


# --- schedulers, sizes ------------------------------------------------------------------------


def scheduler(c: Components, name: str, latent_shape: tuple[int, int, int] | None = None) -> Any:  # noqa: ARG001
    """The model's own scheduler. ``auto``: as saved (``HeliosScheduler``, UniPC or Euler; a distilled
    model's ``HeliosDMDScheduler``), in the stages its pipeline runs (``HeliosPipeline``: one; a
    ``HeliosPyramidPipeline`` model: its pyramid's); ``unipc`` or ``euler``: a ``HeliosScheduler`` of
    that solver in the same stages. Sigmas and shift are set per chunk (and stage) by :func:`rollout`."""
    import diffusers

    config = {k: v for k, v in c.scheduler_config.items() if not k.startswith("_")}
    saved = c.scheduler_config.get("_class_name", "HeliosScheduler")
    known = ("HeliosScheduler", "HeliosDMDScheduler")
    kind = getattr(diffusers, saved if saved in known else "HeliosScheduler")
    if name in ("unipc", "euler"):
        kind, config["scheduler_type"] = diffusers.HeliosScheduler, name
    elif name != "auto":
        raise UsageError(f"scheduler '{name}' is not one Helios models use: choose {', '.join(SCHEDULERS)}")
    if kind.__name__ == "HeliosDMDScheduler" and c.pipeline != "HeliosPyramidPipeline":
        raise UsageError(f"model '{c.model_id}' has a distilled (DMD) scheduler, which samples in the pyramid of a "
                         "HeliosPyramidPipeline model, but was saved by HeliosPipeline: choose model.scheduler "
                         "unipc or euler")
    if c.pipeline != "HeliosPyramidPipeline":
        config["stages"] = 1  # HeliosPipeline samples in one stage
    return kind.from_config(config)


def latent_channels(c: Components) -> int:
    """Channels of the DiT's input latents (16, Wan 2.1's VAE)."""
    return int(c.transformer.config.in_channels)


def spatial_factor(c: Components) -> int:
    """Pixels per latent cell along each axis, from the VAE's config (8)."""
    return int(getattr(c.vae.config, "scale_factor_spatial", None) or 8)


def pyramid_stages(c: Components) -> int:
    """Spatial stages the model samples in: its scheduler's ``stages`` for a ``HeliosPyramidPipeline``
    model, else 1."""
    return int(c.scheduler_config.get("stages", 1)) if c.pipeline == "HeliosPyramidPipeline" else 1


def size_rule(c: Components) -> SizeRule:
    """The sizes the model renders (the registry's rule on its configs): whole patches of latent cells,
    multiples of 16 pixels; a pyramid halves them ``stages - 1`` times, so 64 for three stages."""
    rule = rule_from_configs(NAME, dict(c.vae.config), dict(c.transformer.config))
    scale = 2 ** (pyramid_stages(c) - 1)
    return SizeRule(rule.width_step * scale, rule.height_step * scale, rule.max_width, rule.max_height)


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height (pixels) must fit :func:`size_rule`; ``UsageError`` in the registry's words."""
    problem = size_errors_text(c.model_id, NAME, size_rule(c), width, height)
    if problem:
        raise UsageError(problem)


# --- decoding -----------------------------------------------------------------------------------


@torch.no_grad()
def decode_chunks(c: Components, latents: torch.Tensor, device: str) -> Iterator[torch.Tensor]:
    """The video ``[B, 3, frames, H, W]`` in ``[-1, 1]``: each chunk of 9 latent frames decoded on its
    own (1 frame, then 4 for each later latent frame: 33), as HeliosPipeline decodes, latent frame
    by latent frame with the causal decoder's cache carried within the chunk (memory: one chunk's cache)."""
    from storyboard.backends.diffusion.families.wan import decode_chunks as wan_decode

    for start in range(0, latents.shape[2], c.chunk_latents):
        yield from wan_decode(c, latents[:, :, start:start + c.chunk_latents], device)


def decode(c: Components, latents: torch.Tensor, device: str, dtype: Any = None) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 at the native rate (24 fps), 33 per chunk, decoded in pieces.

    ``latents`` ``[1, C, 9 K, h, w]``, one video as :func:`rollout` returns it (normalised). The VAE
    runs in its own dtype (``dtype``, the backend's compute dtype, is not needed here).
    """
    if latents.shape[0] != 1:
        raise ValueError(f"decode takes one video's latents, not a batch of {latents.shape[0]}")
    for piece in decode_chunks(c, latents, device):
        pixels = ((piece[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        yield from pixels.permute(1, 2, 3, 0).contiguous().cpu().numpy()


# --- the tiny offline model -----------------------------------------------------------------------


TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=32, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    rope_dim=(4, 4, 4), guidance_cross_attn=True, zero_history_timestep=True, has_multi_term_memory_patch=True,
    is_amplify_history=True,
)
TINY_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
TINY_TEXT = dict(vocab_size=259, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
                 decoder_start_token_id=0)
TINY_TEXT_LENGTH = 32
SCHEDULER = {  # one stage of HeliosScheduler, UniPC on flow sigmas (as diffusers' tiny Helios test model)
    "_class_name": "HeliosScheduler", "num_train_timesteps": 1000, "shift": 1.0, "stages": 1,
    "stage_range": [0, 1 / 3, 2 / 3, 1], "gamma": 1 / 3, "prediction_type": "flow_prediction", "solver_order": 2,
    "predict_x0": True, "solver_type": "bh2", "lower_order_final": True, "use_flow_sigmas": True,
    "scheduler_type": "unipc", "use_dynamic_shifting": False, "time_shift_type": "exponential",
}


def tiny_components(dtype: Any = None, seed: int = 0, *, scheduler_config: dict[str, Any] | None = None,
                    pipeline: str = "HeliosPipeline", distilled: bool = False, cfg_zero_star: bool = False,
                    **transformer: Any) -> Components:
    """Random tiny components with Helios' structure: two chunks (66 frames) at 64 x 64 pixels in
    2 steps take about a second on a CPU; output is noise. ``transformer`` overrides the DiT's config."""
    from diffusers import AutoencoderKLWan, HeliosTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    model, vae, text_encoder = build_tiny(seed, lambda: (
        HeliosTransformer3DModel(**{**TINY_TRANSFORMER, **transformer}), AutoencoderKLWan(**TINY_VAE),
        UMT5EncoderModel(UMT5Config(**TINY_TEXT))))
    model, vae, text_encoder = freeze(model, vae, text_encoder, dtype=dtype)
    c = Components(byte_t5_tokenizer(TINY_TEXT_LENGTH), text_encoder, model, vae,
                   dict(scheduler_config or SCHEDULER), TINY, text_length=TINY_TEXT_LENGTH, pipeline=pipeline,
                   distilled=distilled, cfg_zero_star=cfg_zero_star)
    return prepare(c)


def save_components(c: Components, folder: str | Path, pipeline: str | None = None) -> Path:
    """Write the model as the stock ``HeliosPipeline.save_pretrained`` does (``HeliosPyramidPipeline``'s
    when ``pipeline`` or ``c.pipeline`` says so, with its ``is_distilled`` and ``is_cfg_zero_star``),
    loadable by :func:`load`."""
    import diffusers

    pipeline = pipeline or c.pipeline
    kind = getattr(diffusers, c.scheduler_config.get("_class_name", "HeliosScheduler"))
    parts = dict(tokenizer=c.tokenizer, text_encoder=c.text_encoder, vae=c.vae, transformer=c.transformer,
                 scheduler=kind.from_config(c.scheduler_config))
    if pipeline == "HeliosPyramidPipeline":
        parts.update(is_distilled=c.distilled, is_cfg_zero_star=c.cfg_zero_star)
    pipe = getattr(diffusers, pipeline)(**parts)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder
