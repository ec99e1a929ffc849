"""The ``skyreels`` family: SkyReels-V2 diffusion forcing (DF 1.3B 540P, DF 14B 540P and 720P).

How to drive a diffusers ``SkyReelsV2DiffusionForcingPipeline`` model: its components
(``transformer/`` a ``SkyReelsV2Transformer3DModel``, a Wan-like DiT that takes one timestep per
latent frame; ``vae/`` Wan's causal ``AutoencoderKLWan``; ``text_encoder/`` UMT5; ``tokenizer/``;
``scheduler/`` UniPC on flow sigmas), how to load them, encode text as the stock pipeline does,
and sample a shot of any length chunk by chunk with diffusion forcing (:func:`rollout`).

Time: as Wan, 4 frames a latent frame after a first of its own; the models are trained at 24
frames a second on clips of 97 frames (25 latent frames; the 720P models on 121, which a loaded
model cannot tell: storyboard uses 97). Space: 8 pixels a latent cell, 2 x 2 cells a patch, so
sizes are multiples of 16 pixels.

Diffusion forcing (Chen et al., 2024; SkyReels-V2, 2025): every latent frame has its own noise
level, and the levels never decrease along the video (a frame is at least as clean as any frame
after it). A shot is made in chunks of the model's clip (``base_num_frames``): the first chunk from
noise, each later one carrying the last latent frames of what is made as clean history
(``overlap_history``), optionally re-noised a little (``addnoise_condition``), while its new
frames are denoised. Within a chunk, frames are grouped in causal blocks (``causal_block_size``)
and a block may lag the one before it by ``ar_step`` steps (asynchronous; 0: synchronous, the
stock default, every new frame at the same level).

Storyboard's settings: ``base_num_frames`` is the registry timing's ``clip_frames`` (97 frames:
25 latent frames), ``overlap_history`` is the script's ``model.window.overlap`` (latent frames;
default 4, about 16 frames: SkyReels suggests 17 or 37 frames, ``overlap: 5`` or ``10``). The
chunks are the shot's windows (:func:`storyboard.backends.latents.shot_latents`): the last one is
aligned to the shot's end, so it carries more history than the others (the stock pipeline makes it
shorter instead); where a shot's length fills whole chunks both are the same. ``ar_step``,
``causal_block_size`` and ``addnoise_condition`` are :class:`Forcing`, on the components
(defaults: synchronous, the transformer's own block size, 20 as SkyReels recommends for long
videos).

Per-frame prompts: the DiT's tokens are frame-major with one latent frame per temporal patch, and
text enters by cross-attention only, so each latent frame attends to its own interpolated prompt
(:class:`FrameCrossAttention`, Wan's :class:`~storyboard.backends.diffusion.families.wan.PerFrameCrossAttention`
on SkyReels' stock processor): a morph glides per latent frame, inside and across chunks. Beat
pulses raise each latent frame's guidance (:meth:`FrameDenoiser.guide`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from storyboard.backends.diffusion.families import wan
from storyboard.backends.diffusion.families.base import (
    FrameDenoiser,
    TextEncoding,
    build_tiny,
    byte_t5_tokenizer,
    freeze,
    load_errors,
)
from storyboard.backends.diffusion.families.wan import FrameSlots, PerFrameCrossAttention
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.forcing import Forcing, forcing_rows, rollout_calls  # the rollout's arithmetic, torch-free
from storyboard.backends.latents import LatentShot
from storyboard.backends.registry import FAMILIES, SizeRule, rule_from_configs, size_errors_text
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond
from storyboard.plan.windows import windows_for

NAME = "skyreels"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
TIMING = FAMILIES[NAME].timing
TEXT_LENGTH = 512  # UMT5 tokens per prompt, as the stock pipeline pads them
SCHEDULERS = FAMILIES[NAME].schedulers


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    transformer: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str
    text_length: int = TEXT_LENGTH
    forcing: Forcing = field(default_factory=Forcing)
    slots: FrameSlots = field(default_factory=FrameSlots)

    @property
    def denoisers(self) -> list[Any]:
        return [self.transformer]


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load a SkyReels-V2 DF model from a hub id or a diffusers folder; configs are checked before weights."""
    from diffusers import AutoencoderKLWan, SkyReelsV2Transformer3DModel, UniPCMultistepScheduler
    from transformers import AutoTokenizer, UMT5EncoderModel

    with load_errors(model_id, COMPONENTS):
        SkyReelsV2Transformer3DModel.load_config(source, subfolder="transformer", **kwargs)
        AutoencoderKLWan.load_config(source, subfolder="vae", **kwargs)
        scheduler_config = dict(UniPCMultistepScheduler.load_config(source, subfolder="scheduler", **kwargs))
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        transformer = SkyReelsV2Transformer3DModel.from_pretrained(source, subfolder="transformer", dtype=dtype,
                                                                   **kwargs)
        vae = AutoencoderKLWan.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
        text_encoder = UMT5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
    c = Components(tokenizer, text_encoder, transformer, vae, scheduler_config, model_id,
                   text_length=min(TEXT_LENGTH, int(tokenizer.model_max_length)))
    return prepare(c)


def prepare(c: Components) -> Components:
    """Inference mode, and per-frame cross-attention in every block."""
    freeze(c.text_encoder, c.vae, c.transformer)
    install_frame_attention(c.transformer, c.slots)
    return c


# --- text ---------------------------------------------------------------------------------


@torch.no_grad()
def encode_prompts(c: Components, texts: list[str], device: str) -> TextEncoding:
    """UMT5 embeddings ``[len(texts), text_length, D]`` as the stock pipeline makes them: texts
    cleaned (ftfy, HTML entities, whitespace), padded to ``text_length`` tokens, the hidden states
    past each prompt's own tokens zeroed; the masks say which tokens are the prompt's."""
    from diffusers.pipelines.skyreels_v2.pipeline_skyreels_v2_diffusion_forcing import prompt_clean

    tokens = c.tokenizer([prompt_clean(t) for t in texts], padding="max_length", max_length=c.text_length,
                         truncation=True, add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    ids, mask = tokens.input_ids.to(device), tokens.attention_mask.to(device)
    hidden = c.text_encoder(ids, mask).last_hidden_state
    kept = torch.arange(c.text_length, device=device).view(1, -1) < mask.gt(0).sum(dim=1).view(-1, 1)
    return TextEncoding(hidden.masked_fill(~kept.unsqueeze(-1), 0.0), kept)


# --- per-frame cross-attention ------------------------------------------------------------


class FrameCrossAttention(PerFrameCrossAttention):
    """Wan's per-frame cross-attention on a SkyReels-V2 block: the same projections and norms
    (``to_q``, ``to_k``/``to_v`` or fused ``to_kv``, ``norm_q``, ``norm_k``), with SkyReels' own
    processor when no frame has a prompt of its own (``slots.index`` None)."""

    def __init__(self, slots: FrameSlots):
        from diffusers.models.transformers.transformer_skyreels_v2 import SkyReelsV2AttnProcessor

        self.slots = slots
        self.stock = SkyReelsV2AttnProcessor()


def install_frame_attention(transformer: Any, slots: FrameSlots) -> int:
    """Put :class:`FrameCrossAttention` on every block's cross-attention (``attn2``); returns how many."""
    if tuple(transformer.config.patch_size)[0] != 1:
        raise UsageError(f"per-frame prompts need a temporal patch size of 1, not {transformer.config.patch_size[0]}")
    for block in transformer.blocks:
        block.attn2.set_processor(FrameCrossAttention(slots))
    if not len(transformer.blocks):
        raise UsageError("this SkyReels-V2 transformer has no blocks to condition per frame")
    return len(transformer.blocks)


# --- the denoiser ---------------------------------------------------------------------------


class Denoiser(FrameDenoiser):
    """Flow prediction for a chunk of latent frames, each at its own timestep, with per-frame prompts and guidance.

    Called ``(x, t, (start, end))``: ``x`` ``[1, C, end - start, h, w]`` the chunk's model input
    (latent frames ``start`` to ``end`` of the shot), ``t`` one timestep (0 to 1000) for all of
    them or one per latent frame ``[end - start]``. Runs the DiT with the prompts, then with the
    negative prompt (two calls, as the stock pipeline makes them, since its frame-rate embedding
    does not take a batch of two), and returns ``uncond + s_k (cond - uncond)``, ``s_k`` the
    guidance raised by frame ``k``'s beat pulse.
    """

    def __init__(self, c: Components, table: PromptTable, conds: Sequence[FrameCond], guidance: float,
                 dtype: torch.dtype):
        super().__init__(table, conds, guidance, dtype)
        self.c = c
        self.fps = [0 if TIMING.native_fps == 16 else 1]  # the DiT's frame-rate flag: 0 for 16 fps, 1 for 24

    def window_conds(self, x: torch.Tensor, window: tuple[int, int]) -> list[FrameCond]:
        """The conditions of latent frames ``[start, end)``; frames past the shot's end (a causal block's
        padding) keep its last frame's."""
        start, end = window
        past = max(0, end - len(self.conds))
        conds = self.conds[start:end] + [self.conds[-1]] * past
        if len(conds) != x.shape[2]:
            raise ValueError(f"window ({start}, {end}) covers {x.shape[2]} latent frames, conditions for {len(conds)}")
        return conds

    def text(self, conds: list[FrameCond]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The distinct embeddings ``[1, slots * L, D]`` of the chunk's frames side by side, and each
        frame's slot ``[F]`` (None when all frames share one: the stock cross-attention)."""
        slot_of: dict[tuple[int, int, float], int] = {}
        index, distinct = [], []
        for cond in conds:
            key = (cond.a, cond.b, round(cond.w, 6))
            if key not in slot_of:
                slot_of[key] = len(distinct)
                distinct.append(cond)
            index.append(slot_of[key])
        text = self.table.window(distinct).flatten(0, 1).unsqueeze(0)
        return text, (torch.tensor(index, dtype=torch.long) if len(distinct) > 1 else None)

    def run(self, x: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor,
            index: torch.Tensor | None) -> torch.Tensor:
        """One DiT call; ``index`` the frames' slots in ``text`` (None: one text for all)."""
        self.c.slots.index = None if index is None else index.to(x.device)
        self.c.slots.slots = 1 if index is None else int(index.max()) + 1
        try:
            out = self.c.transformer(hidden_states=x.to(self.dtype), timestep=timestep,
                                     encoder_hidden_states=text.to(device=x.device, dtype=self.dtype),
                                     enable_diffusion_forcing=True, fps=self.fps, return_dict=False)[0]
        finally:
            self.c.slots.index, self.c.slots.slots = None, 1
        self.calls += 1
        return out.float()

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ValueError(f"the SkyReels-V2 denoiser takes one video, not a batch of {x.shape[0]}")
        conds = self.window_conds(x, window)
        frames = x.shape[2]
        t = torch.as_tensor(t, device=x.device)
        timestep = (t.reshape(1).expand(frames) if t.numel() == 1 else t.reshape(frames)).unsqueeze(0)
        text, index = self.text(conds)
        cond = self.run(x, timestep, text, index)
        if self.guidance <= 1.0:
            return cond
        uncond = self.run(x, timestep, self.table.negative.unsqueeze(0), None)
        return self.guide(uncond, cond, self.guidance, conds)


# --- the rollout --------------------------------------------------------------------------


def block_size(c: Components) -> int:
    """The causal block, in latent frames: :class:`Forcing`'s, else the transformer's ``num_frame_per_block``."""
    return int(c.forcing.causal_block_size or c.transformer.config.num_frame_per_block or 1)


def rollout(c: Components, denoiser: Denoiser, scheduler: Any, noise: torch.Tensor, mapped: LatentShot,
            steps: int, on_step: Callable[[int, int], None] | None = None, *,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """Sample a shot chunk by chunk with diffusion forcing (:func:`forcing_sample`, with the components'
    :class:`Forcing` and the transformer's block-causal attention over :func:`block_size` latent frames):
    latents ``[1, C, mapped.latent, h, w]`` (float32) from ``noise`` of that shape, over ``mapped.windows``.
    ``generator`` (CPU) draws the history's fresh noise and any padding; by default it is seeded from the
    shot's first seed, so a shot renders the same every time. ``on_step(done, total)`` after each call."""
    if noise.shape[2] != mapped.latent:
        raise ValueError(f"noise has {noise.shape[2]} latent frames, the shot {mapped.latent}")
    if generator is None:
        generator = torch.Generator().manual_seed((denoiser.conds[0].seed if denoiser.conds else 0) ^ 0xD1F0)
    block = block_size(c)
    own_block = c.transformer.config.num_frame_per_block
    c.transformer.register_to_config(num_frame_per_block=block)  # the DiT's block-causal self-attention mask
    try:
        return forcing_sample(denoiser, scheduler, noise, mapped.windows, steps=steps, forcing=c.forcing, block=block,
                              generator=generator, on_step=on_step)
    finally:
        c.transformer.register_to_config(num_frame_per_block=own_block)


def forcing_sample(denoise: Callable[[torch.Tensor, torch.Tensor, tuple[int, int]], torch.Tensor], scheduler: Any,
                   noise: torch.Tensor, windows: Sequence[tuple[int, int]], *, steps: int,
                   forcing: Forcing = Forcing(), block: int = 1, generator: torch.Generator | None = None,
                   on_step: Callable[[int, int], None] | None = None) -> torch.Tensor:
    """Diffusion forcing over a latent video of any length, chunk by chunk: the clean latents (float32).

    Model-agnostic, as :func:`~storyboard.backends.diffusion.sampler.sample` is: ``denoise(x, t, (start,
    end))`` predicts (flow velocity) for the chunk ``x`` ``[B, C, end - start, h, w]`` (latent frames
    ``start`` to ``end``, which may run past the video's end by a padded block), ``t`` ``[end - start]``
    each frame's timestep. ``noise`` ``[B, C, F, h, w]`` is each frame's starting noise. The chunks come
    from ``windows`` (:func:`chunks_for`); each starts from its frames' noise with its history put in
    place (re-noised by ``forcing.addnoise_condition`` at each call, with fresh noise from
    ``generator``), and each latent frame steps its own copy of ``scheduler`` as its level rises
    (:func:`forcing_rows`). Memory: the video's latents and one chunk's schedulers.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    frames = noise.shape[2]
    plan = rollout_calls(windows, steps, forcing, block)
    padded = max(chunk.end for chunk, _ in plan)
    x_all = noise.float()
    if padded > frames:  # whole causal blocks past the video's end: noise of their own, dropped at the end
        extra = torch.randn((noise.shape[0], noise.shape[1], padded - frames, *noise.shape[3:]), generator=generator)
        x_all = torch.cat([x_all, extra.to(noise.device)], dim=2)
    out = torch.empty_like(x_all)
    total, done = sum(calls for _, calls in plan), 0
    scheduler.set_timesteps(steps, device=noise.device)
    schedule = scheduler.timesteps
    top = int(scheduler.config.num_train_timesteps) - 1  # what a frame not started is fed (999)
    levels = torch.cat([torch.tensor([top]), schedule.cpu(), torch.tensor([0])]).to(schedule.dtype).to(noise.device)
    noise_level = forcing.addnoise_condition / 1000.0
    for chunk, _ in plan:
        s, e, ready = chunk.start, chunk.end, chunk.history
        x = x_all[:, :, s:e].clone()
        x[:, :, :ready] = out[:, :, s:s + ready]
        schedulers = [frame_scheduler(scheduler, steps, noise.device) for _ in range(e - s)]
        for row in forcing_rows(e - s, steps, history=ready, ar_step=forcing.ar_step, block=block):
            t = levels[list(row.levels)]
            model_input, fed = x, t.clone()
            if noise_level > 0 and ready:
                model_input = x.clone()
                fresh = torch.randn(x[:, :, :ready].shape, generator=generator).to(x.device)
                model_input[:, :, :ready] = x[:, :, :ready] * (1.0 - noise_level) + fresh * noise_level
                fed[:ready] = int(forcing.addnoise_condition)
            prediction = denoise(model_input, fed, (s, e))
            for k, stepped in enumerate(row.update):
                if stepped:
                    x[:, :, k] = schedulers[k].step(prediction[:, :, k], t[k], x[:, :, k], return_dict=False)[0]
            done += 1
            if on_step is not None:
                on_step(done, total)
        out[:, :, s + ready:e] = x[:, :, ready:]
    return out[:, :, :frames]


def frame_scheduler(scheduler: Any, steps: int, device: Any) -> Any:
    """A fresh copy of ``scheduler`` for one latent frame, set to ``steps`` steps from the first."""
    own = copy.deepcopy(scheduler)
    own.set_timesteps(steps, device=device)
    if hasattr(own, "set_begin_index"):
        own.set_begin_index(0)
    return own


# --- schedulers, sizes --------------------------------------------------------------------


def scheduler(c: Components, name: str, latent_shape: tuple[int, int, int] | None = None) -> Any:  # noqa: ARG001
    """``auto``/``unipc``: UniPC on flow sigmas with the model's ``flow_shift`` (the saved config as
    is when it is UniPC, as the stock pipeline samples); ``euler``: flow-matching Euler, same shift.
    Each latent frame steps its own copy (:func:`rollout`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

    config = dict(c.scheduler_config)
    saved = config.get("_class_name")
    shift = float(config.get("flow_shift", config.get("shift", 1.0)))
    train = int(config.get("num_train_timesteps", 1000))
    if name in ("auto", "unipc"):
        if saved == "UniPCMultistepScheduler":
            return UniPCMultistepScheduler.from_config(config)
        return UniPCMultistepScheduler(num_train_timesteps=train, prediction_type="flow_prediction",
                                       use_flow_sigmas=True, flow_shift=shift)
    if name == "euler":
        return FlowMatchEulerDiscreteScheduler(num_train_timesteps=train, shift=shift)
    raise UsageError(f"scheduler '{name}' is not one SkyReels-V2 models use: choose {', '.join(SCHEDULERS)}")


def latent_channels(c: Components) -> int:
    """Channels of the DiT's input latents (16)."""
    return int(c.transformer.config.in_channels)


def spatial_factor(c: Components) -> int:
    """Pixels per latent cell along each axis, from the VAE's config (8)."""
    return int(getattr(c.vae.config, "scale_factor_spatial", None) or 8)


def size_rule(c: Components) -> SizeRule:
    """The sizes the model renders: whole patches of latent cells (multiples of 16 pixels), at most
    ``rope_max_seq_len`` patches a side."""
    return rule_from_configs(NAME, dict(c.vae.config), dict(c.transformer.config))


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height (pixels) must fit :func:`size_rule`; ``UsageError`` in the registry's words."""
    problem = size_errors_text(c.model_id, NAME, size_rule(c), width, height)
    if problem:
        raise UsageError(problem)


# --- decoding -----------------------------------------------------------------------------


def decode(c: Components, latents: torch.Tensor, device: str, dtype: Any = None) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 at the native rate (24 fps), decoded latent frame by latent frame with
    the causal VAE's cache carried over (Wan's :func:`~storyboard.backends.diffusion.families.wan.decode`):
    memory flat in the shot's length. ``latents`` ``[1, C, latent frames, h, w]``, normalised."""
    return wan.decode(c, latents, device, dtype)  # it reads only c.vae


# --- the tiny offline model ---------------------------------------------------------------


TINY_TRANSFORMER = dict(
    patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
    text_dim=32, freq_dim=32, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
    rope_max_seq_len=1024, inject_sample_info=True, num_frame_per_block=1,  # the DF models' frame-rate embedding
)
TINY_TEXT_LENGTH = 32
SCHEDULER = {  # UniPC on flow sigmas, shifted by 8 as SkyReels-V2 samples text-to-video
    "_class_name": "UniPCMultistepScheduler", "num_train_timesteps": 1000, "prediction_type": "flow_prediction",
    "use_flow_sigmas": True, "flow_shift": 8.0, "solver_order": 2, "solver_type": "bh2", "predict_x0": True,
    "lower_order_final": True, "final_sigmas_type": "zero", "timestep_spacing": "linspace", "steps_offset": 0,
    "beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02,
}


def tiny_components(dtype: Any = None, seed: int = 0, **transformer: Any) -> Components:
    """Random tiny components with SkyReels-V2 DF's structure (Wan's tiny VAE and UMT5, a two-block DiT
    with the frame-rate embedding); ``transformer`` overrides the DiT's config. Output is noise."""
    from diffusers import AutoencoderKLWan, SkyReelsV2Transformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    model, vae, text_encoder = build_tiny(seed, lambda: (
        SkyReelsV2Transformer3DModel(**{**TINY_TRANSFORMER, **transformer}),
        AutoencoderKLWan(**wan.TINY_VAE), UMT5EncoderModel(UMT5Config(**wan.TINY_TEXT))))
    model, vae, text_encoder = freeze(model, vae, text_encoder, dtype=dtype)
    c = Components(byte_t5_tokenizer(TINY_TEXT_LENGTH), text_encoder, model, vae, dict(SCHEDULER), TINY,
                   text_length=TINY_TEXT_LENGTH)
    return prepare(c)


def save_components(c: Components, folder: str | Path) -> Path:
    """Write the model as the stock ``SkyReelsV2DiffusionForcingPipeline.save_pretrained`` does
    (loadable by :func:`load`)."""
    from diffusers import SkyReelsV2DiffusionForcingPipeline, UniPCMultistepScheduler

    pipe = SkyReelsV2DiffusionForcingPipeline(tokenizer=c.tokenizer, text_encoder=c.text_encoder, vae=c.vae,
                                              transformer=c.transformer,
                                              scheduler=UniPCMultistepScheduler.from_config(c.scheduler_config))
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder


def evaluations_per_output_frame(output_frames: int, overlap: int, steps: int = 1, forcing: Forcing = Forcing(),
                                 block: int = 1) -> float:
    """Latent frames the DiT processes per output frame (at the native 24 fps, before guidance's
    doubling), per denoising step, for a shot of ``output_frames`` with ``overlap`` latent frames of history."""
    latent = TIMING.latent_frames(output_frames)
    size = min(latent, TIMING.clip_latents)
    windows = windows_for(0, latent, size, min(overlap, size - 1))
    cost = sum((chunk.end - chunk.start) * calls for chunk, calls in rollout_calls(windows, steps, forcing, block))
    return cost / steps / output_frames if output_frames else math.nan
