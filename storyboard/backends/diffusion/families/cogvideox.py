"""The ``cogvideox`` family: CogVideoX 2B and 5B (1.0) and CogVideoX 1.5 5B, text to video.

How to drive a diffusers ``CogVideoXPipeline`` model: its components (``transformer/`` a
``CogVideoXTransformer3DModel`` DiT with joint text-video attention, ``vae/`` the causal
``AutoencoderKLCogVideoX``, ``text_encoder/`` T5, ``tokenizer/``, ``scheduler/``), how to load
them, encode text as the stock pipeline does, denoise a window with guidance, step the
model's own scheduler, check sizes and decode in chunks; and a tiny random model of the same
structure for offline tests.

Time: the VAE packs 4 frames into a latent frame after a first latent frame of one frame
(causal), so CogVideoX 1.0's clip of 49 frames at 8 fps is 13 latent frames. CogVideoX 1.5
renders 16 fps and its DiT patches 2 latent frames together (``patch_size_t``): its clip is
taken as 85 frames, 22 latent frames, which is what its DiT sees in the stock pipeline's 81
frames (21 latent frames, padded with one more in front). A window of an odd number of
latent frames (a shot shorter than a clip) is padded the same way, in front, by a copy of its
first latent frame, whose prediction is dropped. :func:`timing` reads which from the
transformer's config.

Space: 8 pixels per latent cell and 2 x 2 cells per patch: multiples of 16 pixels. 2B adds
sin-cos position embeddings, which the DiT recomputes for any window (they extend to any
size); 5B uses 3D RoPE laid over its trained grid (any size); 1.5 slices a RoPE table of
``sample_height / 2`` x ``sample_width / 2`` patches, so it refuses larger sizes
(:func:`storyboard.backends.registry.cogvideox_rule`). Each window is positioned as a
standalone clip, so positions never exceed the native clip's.

Per-frame prompts: text and video tokens share every attention layer (joint attention: the
226 text tokens are in the sequence, and they are updated layer by layer), so a latent frame
cannot attend to its own text the way Wan's cross-attention allows. The denoiser conditions
per window: a window whose latent frames share one prompt embedding runs as the stock
pipeline does; a window across a morph runs the DiT with two anchor embeddings, its first
latent frame's and the one farthest from it, and gives each latent frame the prediction
interpolated between the two at the frame's own place between them (the projection of its
slerped embedding onto the anchors' difference; exactly 0 or 1 on the anchors' own frames).
So a morph moves per latent frame inside a window as well as from window to window, at 1.5
times a plain window's cost (negative, two anchors). Predictions, not embeddings, are
interpolated: it is the sampler's own fusion of overlapping windows, applied along the prompt
path. A window that passes through three prompts (two morphs within one clip, 6 seconds)
sees the middle one only as a blend of the outer two.
Beat pulses raise guidance per latent frame (:meth:`FrameDenoiser.guide`).

Sampling: v-prediction. ``auto`` is the model's own scheduler (2B: ``CogVideoXDDIMScheduler``;
5B and 1.5: ``CogVideoXDPMScheduler``, a stochastic DPM-Solver++ 2M whose step takes the
previous step's x0 prediction and timestep: :class:`DPMSolverStep` keeps them, so the sampler's
one ``step(prediction, t, x)`` per timestep drives it, its noise drawn from a CPU generator
seeded per shot). Guidance is constant, as the stock pipeline's default (``use_dynamic_cfg``
off).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

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
    COGVIDEOX15_TIMING,
    FAMILIES,
    LatentTiming,
    SizeRule,
    rule_from_configs,
    size_errors_text,
)
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "cogvideox"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
TIMING = FAMILIES[NAME].timing  # CogVideoX 1.0: 49 frames at 8 fps, 13 latent frames
TIMING_15 = COGVIDEOX15_TIMING  # 1.5 (a DiT with patch_size_t): 16 fps, 85 frames = 22 latent frames
SCHEDULERS = FAMILIES[NAME].schedulers
TEXT_LENGTH = 226  # T5 tokens per prompt, as CogVideoXPipeline pads them
STEP_SEED = 0  # the seed of the DPM scheduler's step noise, each shot


@dataclass
class Components:
    tokenizer: Any
    text_encoder: Any
    transformer: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str
    text_length: int = TEXT_LENGTH
    rope_cache: dict[tuple[int, int, int, str], Any] = field(default_factory=dict)

    @property
    def patch(self) -> tuple[int, int]:
        """``(patch_size_t or 1, patch_size)``: latent frames and cells per patch."""
        config = self.transformer.config
        return int(config.patch_size_t or 1), int(config.patch_size)


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load a CogVideoX model from a hub id or a diffusers folder; configs are checked before any weights."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
    from transformers import AutoTokenizer, T5EncoderModel

    with load_errors(model_id, COMPONENTS):
        config = CogVideoXTransformer3DModel.load_config(source, subfolder="transformer", **kwargs)
        if config.get("use_learned_positional_embeddings"):
            raise UsageError(f"model '{model_id}' has learned position embeddings (CogVideoX image-to-video); "
                             "storyboard drives the text-to-video CogVideoX models")
        AutoencoderKLCogVideoX.load_config(source, subfolder="vae", **kwargs)
        scheduler_config = dict(CogVideoXDDIMScheduler.load_config(source, subfolder="scheduler", **kwargs))
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        transformer = CogVideoXTransformer3DModel.from_pretrained(source, subfolder="transformer", dtype=dtype,
                                                                  **kwargs)
        vae = AutoencoderKLCogVideoX.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
        text_encoder = T5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
    freeze(transformer, vae, text_encoder)
    return Components(tokenizer, text_encoder, transformer, vae, scheduler_config, model_id,
                      text_length=int(transformer.config.max_text_seq_length))


# --- text ---------------------------------------------------------------------------------


@torch.no_grad()
def encode_prompts(c: Components, texts: list[str], device: str) -> TextEncoding:
    """T5 embeddings ``[len(texts), text_length, D]`` as CogVideoXPipeline makes them: padded to
    ``text_length`` tokens (the transformer's ``max_text_seq_length``, 226), encoded without a mask,
    the padding's hidden states kept (the DiT attends to all of them). The masks say which tokens
    are the prompt's own."""
    tokens = c.tokenizer(list(texts), padding="max_length", max_length=c.text_length, truncation=True,
                         add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    hidden = c.text_encoder(tokens.input_ids.to(device))[0]
    return TextEncoding(hidden, tokens.attention_mask.to(device).bool())


# --- positions ----------------------------------------------------------------------------


def rotary_embedding(c: Components, frames: int, height: int, width: int, device: Any) -> Any:
    """The 3D RoPE ``(cos, sin)`` of a window of ``frames`` latent frames of ``height`` x ``width``
    latent cells, as CogVideoXPipeline makes it for a clip of that size (None for 2B, whose DiT
    adds sin-cos embeddings itself). 1.0 lays the grid over the trained size (crop coordinates);
    1.5 slices its table of ``sample_height / p`` x ``sample_width / p`` patches."""
    from diffusers.models.embeddings import get_3d_rotary_pos_embed
    from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

    config = c.transformer.config
    if not config.use_rotary_positional_embeddings:
        return None
    key = (frames, height, width, str(device))
    if key in c.rope_cache:
        return c.rope_cache[key]
    patch_t, patch = c.patch
    grid = (height // patch, width // patch)
    base = (config.sample_height // patch, config.sample_width // patch)
    if config.patch_size_t is None:
        crops = get_resize_crop_region_for_grid(grid, base[1], base[0])
        rope = get_3d_rotary_pos_embed(embed_dim=config.attention_head_dim, crops_coords=crops, grid_size=grid,
                                       temporal_size=frames, device=device)
    else:
        rope = get_3d_rotary_pos_embed(embed_dim=config.attention_head_dim, crops_coords=None, grid_size=grid,
                                       temporal_size=-(-frames // patch_t), grid_type="slice", max_size=base,
                                       device=device)
    c.rope_cache.clear()  # one window size per shot: keep the latest only
    c.rope_cache[key] = rope
    return rope


# --- the denoiser -------------------------------------------------------------------------


def prompt_path(table: PromptTable, conds: Sequence[FrameCond]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The window's anchor embeddings ``[A, L, D]`` (A = 1 or 2) and each latent frame's place
    between the two ``[F]`` (0: the first anchor, 1: the second; None when A is 1).

    The anchors are the first latent frame's embedding and the one farthest from it (L2); a
    frame's place is the projection of its embedding onto their difference, clamped to [0, 1] (exactly
    0 or 1 where its prompt is an anchor's)."""
    keys = [(c.a, c.b, round(c.w, 6)) for c in conds]
    first = table.frame(conds[0])
    if len(set(keys)) == 1:
        return first.unsqueeze(0), None
    embeddings = torch.stack([table.frame(c) for c in conds]).float().flatten(1)  # [F, L * D]
    offsets = embeddings - embeddings[0]
    far = int(offsets.norm(dim=1).argmax())
    span = offsets[far]
    place = (offsets @ span / span.dot(span).clamp_min(1e-12)).clamp(0.0, 1.0)
    for k, key in enumerate(keys):  # the anchors' own frames exactly, not to rounding
        place[k] = 0.0 if key == keys[0] else 1.0 if key == keys[far] else place[k]
    return torch.stack([first, table.frame(conds[far])]), place


class Denoiser(FrameDenoiser):
    """The sampler's denoiser: CogVideoX v-prediction on a window, with guidance per latent frame.

    ``__call__(x, t, (start, end))`` takes latent frames ``[B, C, end - start, h, w]``, runs the
    DiT (frames first, ``[B, F, C, h, w]``, as the stock pipeline lays them) on
    ``[negative, anchor(s)]`` (:func:`prompt_path`; the negative only when ``guidance`` > 1),
    interpolates the anchors' predictions per latent frame and returns
    ``uncond + s_k (cond - uncond)``, ``s_k`` raised by frame ``k``'s beat pulse. A window of an odd
    number of latent frames, for a DiT that patches two (1.5), is padded in front with a copy of
    its first latent frame, whose prediction is dropped.
    """

    def __init__(self, c: Components, table: PromptTable, conds: Sequence[FrameCond], guidance: float,
                 dtype: torch.dtype):
        super().__init__(table, conds, guidance, dtype)
        self.c = c

    def predict(self, x: torch.Tensor, t: torch.Tensor, texts: torch.Tensor) -> torch.Tensor:
        """The DiT's prediction ``[G * B, C, F, h, w]`` (float32) for window ``x`` ``[B, C, F, h, w]``
        under each of the ``G`` texts ``[G, L, D]`` (group-major, as ``torch.cat([x] * G)``)."""
        patch_t, _ = self.c.patch
        frames_first = x.permute(0, 2, 1, 3, 4)
        pad = (-frames_first.shape[1]) % patch_t
        if pad:
            frames_first = torch.cat([frames_first[:, :1].expand(-1, pad, -1, -1, -1), frames_first], dim=1)
        groups, batch = texts.shape[0], x.shape[0]
        hidden = frames_first.repeat(groups, 1, 1, 1, 1).to(self.dtype)
        text = texts.repeat_interleave(batch, dim=0).to(device=x.device, dtype=self.dtype)
        _, frames, _, height, width = hidden.shape
        out = self.c.transformer(hidden_states=hidden, encoder_hidden_states=text, timestep=t.expand(hidden.shape[0]),
                                 image_rotary_emb=rotary_embedding(self.c, frames, height, width, x.device),
                                 return_dict=False)[0]
        return out[:, pad:].float().permute(0, 2, 1, 3, 4)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        guided = self.guidance > 1.0
        anchors, place = prompt_path(self.table, conds)
        texts = torch.cat([self.table.negative.unsqueeze(0), anchors]) if guided else anchors
        out = self.predict(x, t, texts).unflatten(0, (texts.shape[0], x.shape[0]))
        self.calls += 1
        cond = out[-anchors.shape[0]:]
        if place is None:
            cond = cond[0]
        else:
            weight = place.to(out.device).view(1, 1, -1, 1, 1)
            cond = cond[0] + weight * (cond[1] - cond[0])
        if not guided:
            return cond
        return self.guide(out[0], cond, self.guidance, conds)


# --- schedulers, time, sizes ------------------------------------------------------------------


class DPMSolverStep:
    """``CogVideoXDPMScheduler`` behind the sampler's ``step(prediction, t, x)``.

    Its step also takes the previous step's x0 prediction and timestep, and draws noise (an SDE
    solver): this wrapper keeps those between steps, draws from a CPU generator seeded with
    ``seed`` at :meth:`set_timesteps`, and lays tensors frames first (``[B, F, C, h, w]``) while
    stepping, so the draws are the stock pipeline's for a generator of the same seed."""

    def __init__(self, inner: Any, seed: int = STEP_SEED):
        self.inner, self.seed = inner, seed
        self.previous_x0: torch.Tensor | None = None
        self.previous_t: Any = None
        self.generator = torch.Generator().manual_seed(seed)

    def set_timesteps(self, num_inference_steps: int, device: Any = None) -> None:
        self.inner.set_timesteps(num_inference_steps, device=device)
        self.previous_x0, self.previous_t = None, None
        self.generator = torch.Generator().manual_seed(self.seed)

    def step(self, model_output: torch.Tensor, timestep: Any, sample: torch.Tensor) -> SimpleNamespace:
        prev, x0 = self.inner.step(model_output.permute(0, 2, 1, 3, 4), self.previous_x0, timestep, self.previous_t,
                                   sample.permute(0, 2, 1, 3, 4), generator=self.generator, return_dict=False)
        self.previous_x0, self.previous_t = x0, timestep
        return SimpleNamespace(prev_sample=prev.permute(0, 2, 1, 3, 4))

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def scheduler(c: Components, name: str, latent_shape: tuple[int, int, int] | None = None) -> Any:  # noqa: ARG001
    """``auto``: the model's own scheduler (2B: DDIM; 5B, 1.5: the DPM SDE solver); ``ddim``:
    ``CogVideoXDDIMScheduler`` (deterministic, eta 0); ``dpm++``: ``CogVideoXDPMScheduler`` in
    :class:`DPMSolverStep`. Both from the model's scheduler config (v-prediction, zero terminal
    SNR, ``snr_shift_scale``). ``latent_shape`` does not matter."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler

    if name not in SCHEDULERS:
        raise UsageError(f"scheduler '{name}' is not one CogVideoX models use: choose {', '.join(SCHEDULERS)}")
    if name == "auto":
        name = "dpm++" if c.scheduler_config.get("_class_name") == "CogVideoXDPMScheduler" else "ddim"
    if name == "ddim":
        return CogVideoXDDIMScheduler.from_config(c.scheduler_config)
    return DPMSolverStep(CogVideoXDPMScheduler.from_config(c.scheduler_config))


def timing(c: Components) -> LatentTiming:
    """:data:`TIMING` (1.0: 8 fps, 13 latent frames a clip), or :data:`TIMING_15` for a DiT that
    patches latent frames in pairs (1.5: 16 fps, 22 latent frames a clip)."""
    return TIMING_15 if c.transformer.config.patch_size_t else TIMING


def latent_channels(c: Components) -> int:
    """Channels of the DiT's input latents (16)."""
    return int(c.transformer.config.in_channels)


def spatial_factor(c: Components) -> int:
    """Pixels per latent cell: ``2 ** (len(vae.block_out_channels) - 1)`` (8), as the pipeline computes it."""
    return 2 ** (len(c.vae.config.block_out_channels) - 1)


def size_rule(c: Components) -> SizeRule:
    """The sizes the model renders (the registry's rule on its configs)."""
    return rule_from_configs(NAME, dict(c.vae.config), dict(c.transformer.config))


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height (pixels) must fit :func:`size_rule`; ``UsageError`` in the registry's words."""
    problem = size_errors_text(c.model_id, NAME, size_rule(c), width, height)
    if problem:
        raise UsageError(problem)


# --- decoding -----------------------------------------------------------------------------


def decode_spans(latent_frames: int) -> list[tuple[int, int]]:
    """The latent frame ranges the VAE decodes together, as ``AutoencoderKLCogVideoX`` batches them
    for an odd count: the first three (one frame, then 4 each), then pairs (8 frames each). Its
    group norms see one range at a time, so this split is part of the decoder."""
    if latent_frames % 2 == 0:
        raise ValueError(f"the CogVideoX decoder takes an odd number of latent frames, not {latent_frames}")
    first = min(3, latent_frames)
    return [(0, first)] + [(s, s + 2) for s in range(first, latent_frames, 2)]


@torch.no_grad()
def decode_chunks(c: Components, latents: torch.Tensor, device: str) -> Iterator[torch.Tensor]:
    """The video ``[B, 3, frames, H, W]`` in ``[-1, 1]``, ``4 (L - 1) + 1`` frames for ``L`` latent
    frames, range by range (:func:`decode_spans`) with the decoder's convolution cache carried over,
    as one ``vae.decode`` call does; memory stays flat in the shot's length.

    An even ``L`` (the decoder would give ``4 L`` frames, its first latent frame decoded as four)
    is made odd by repeating the last latent frame, whose extra frames are dropped, so latent
    frame ``k`` holds the frames :data:`TIMING` says."""
    vae = c.vae
    vae_dtype = next(vae.parameters()).dtype
    total = latents.shape[2]
    z = latents.to(device, vae_dtype) / vae.config.scaling_factor  # as CogVideoXPipeline.decode_latents
    if total % 2 == 0:
        z = torch.cat([z, z[:, :, -1:]], dim=2)
    left = TIMING.decoded_frames(total)
    if vae.use_tiling:  # the VAE's own tiled decode, in one piece
        yield vae.decode(z).sample[:, :, :left].clamp(-1.0, 1.0)
        return
    cache = None
    for start, end in decode_spans(z.shape[2]):
        part = z[:, :, start:end]
        if vae.post_quant_conv is not None:
            part = vae.post_quant_conv(part)
        out, cache = vae.decoder(part, conv_cache=cache)
        out = out[:, :, :left]
        left -= out.shape[2]
        yield out.clamp(-1.0, 1.0)


def decode(c: Components, latents: torch.Tensor, device: str, dtype: Any = None) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 at the native rate (8 fps; 1.5: 16), decoded range by range.

    ``latents`` ``[1, C, latent frames, h, w]``, one video as the sampler returns it. The VAE runs
    in its own dtype (``dtype``, the backend's compute dtype, is not needed here)."""
    if latents.shape[0] != 1:
        raise ValueError(f"decode takes one video's latents, not a batch of {latents.shape[0]}")
    for chunk in decode_chunks(c, latents, device):
        pixels = ((chunk[0].float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
        yield from pixels.permute(1, 2, 3, 0).contiguous().cpu().numpy()  # [frames, H, W, 3]


# --- the tiny offline model ---------------------------------------------------------------


TINY_TEXT_LENGTH = 16
TINY_TRANSFORMER = dict(  # CogVideoX 5B's structure (3D RoPE), tiny; trained size 96 x 64 pixels (RoPE crops)
    num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=16,
    text_embed_dim=32, num_layers=2, sample_width=12, sample_height=8, sample_frames=49, patch_size=2,
    max_text_seq_length=TINY_TEXT_LENGTH, use_rotary_positional_embeddings=True,
)
TINY_VAE = dict(block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
                sample_height=64, sample_width=64)
TINY_TEXT = dict(vocab_size=259, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
                 relative_attention_num_buckets=8, relative_attention_max_distance=16, pad_token_id=0, eos_token_id=1,
                 decoder_start_token_id=0)
SCHEDULER = {  # CogVideoX-2b's scheduler config
    "_class_name": "CogVideoXDDIMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear",
    "beta_start": 0.00085, "clip_sample": False, "clip_sample_range": 1.0, "num_train_timesteps": 1000,
    "prediction_type": "v_prediction", "rescale_betas_zero_snr": True, "sample_max_value": 1.0,
    "set_alpha_to_one": True, "snr_shift_scale": 3.0, "steps_offset": 0, "timestep_spacing": "trailing",
}


def tiny_components(dtype: Any = None, seed: int = 0, *, scheduler_class: str | None = None,
                    **transformer: Any) -> Components:
    """Random tiny components with CogVideoX's structure (5B's RoPE by default; ``transformer``
    overrides the DiT's config: ``use_rotary_positional_embeddings=False`` for 2B's sin-cos,
    ``patch_size_t=2`` for 1.5); ``scheduler_class``: the saved scheduler's class name (2B's DDIM by
    default). A 2-step render of 17 frames at 64 x 64 pixels takes well under a second on a CPU;
    output is noise."""
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    model, vae, text_encoder = build_tiny(seed, lambda: (
        CogVideoXTransformer3DModel(**{**TINY_TRANSFORMER, **transformer}), AutoencoderKLCogVideoX(**TINY_VAE),
        T5EncoderModel(T5Config(**TINY_TEXT))))
    model, vae, text_encoder = freeze(model, vae, text_encoder, dtype=dtype)
    config = dict(SCHEDULER, _class_name=scheduler_class or SCHEDULER["_class_name"])
    text_length = int(model.config.max_text_seq_length)
    return Components(byte_t5_tokenizer(text_length), text_encoder, model, vae, config, TINY, text_length=text_length)


def save_components(c: Components, folder: str | Path) -> Path:
    """Write the model as the stock ``CogVideoXPipeline.save_pretrained`` does (loadable by :func:`load`)."""
    from diffusers import CogVideoXDDIMScheduler, CogVideoXDPMScheduler, CogVideoXPipeline

    kind = CogVideoXDPMScheduler if c.scheduler_config.get("_class_name") == "CogVideoXDPMScheduler" \
        else CogVideoXDDIMScheduler
    pipe = CogVideoXPipeline(tokenizer=c.tokenizer, text_encoder=c.text_encoder, vae=c.vae, transformer=c.transformer,
                             scheduler=kind.from_config(c.scheduler_config))
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder
