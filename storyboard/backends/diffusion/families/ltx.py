"""The ``ltx`` family: Lightricks LTX-Video (``Lightricks/LTX-Video``, a 2B DiT) and its fine-tunes.

How to drive diffusers' ``LTXPipeline`` components ourselves: ``transformer/`` an
``LTXVideoTransformer3DModel`` over packed latent tokens, ``vae/`` an
``AutoencoderKLLTXVideo`` (32x spatial and 8x temporal compression; the first latent
frame holds one frame, every other eight, so ``L`` latent frames are ``8 (L - 1) + 1``
frames), ``text_encoder/`` T5 (``T5EncoderModel``) with its ``tokenizer/``, and a
``FlowMatchEulerDiscreteScheduler`` whose shift depends on the number of video tokens.
The stock pipeline (``diffusers.pipelines.ltx.pipeline_ltx``) is the reference:
``tests/backends/test_family_ltx.py`` checks that one window covering a clip gives its latents.

Per-frame prompts: the DiT cross-attends every video token to one text. The
:class:`PerFrameCrossAttention` processor on each block's ``attn2`` groups the tokens
by latent frame (packing is frame-major) so latent frame ``k`` attends to its own
text embedding, under its own attention mask.

Text masks: T5 embeddings come with a padding mask that the transformer needs. The
family's :func:`encode_prompts` returns both (a
:class:`~storyboard.backends.diffusion.families.base.TextEncoding`), and the shared
:class:`~storyboard.backends.diffusion.prompts.PromptTable` carries them to the
:class:`Denoiser`. A frame between two prompts (a slerp) uses the union of their masks: the
interpolated embedding carries content in every position either prompt uses.
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
    byte_t5_tokenizer,
    freeze,
    load_errors,
)
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.registry import FAMILIES, LatentTiming, rule_from_configs, size_errors_text
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "ltx"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")
# LTX-Video 0.9.x is trained at 24 fps (diffusers' LTXPipeline defaults to frame_rate=25, and
# some checkpoints are published for 25 fps: pass ``frame_rate`` to the Denoiser for those).
# 121 frames = 16 latent frames: the clip length LTX-Video's examples use.
TIMING = FAMILIES[NAME].timing
MAX_SEQUENCE_LENGTH = 128  # T5 tokens per prompt, as LTXPipeline
DEFAULT_SIZE = (768, 512)  # pixels: the resolution LTX-Video is tuned for (width, height)
DECODE_SEED = 0x17C  # fixes the VAE's injected noise and the decode noise, chunk by chunk


@dataclass
class Components:
    """LTX-Video's modules and the settings our sampler and decoder read.

    ``render_size``: the output size :func:`check_size` accepted, which :func:`scheduler`
    shifts for. ``decode_timestep``/``decode_noise_scale``: the VAE's timestep conditioning, as
    LTXPipeline's arguments of those names (0 and None there; LTX-Video 0.9.1+ examples use
    0.03 and 0.025). ``decode_chunk``/``decode_overlap``: latent frames per VAE call and
    latent frames shared by neighbouring calls (their ``8 (overlap - 1) + 1`` frames blend).
    """

    tokenizer: Any
    text_encoder: Any
    transformer: Any
    vae: Any
    scheduler_config: dict[str, Any]
    model_id: str
    max_sequence_length: int = MAX_SEQUENCE_LENGTH
    decode_timestep: float = 0.0
    decode_noise_scale: float | None = None
    decode_chunk: int = 12
    decode_overlap: int = 4
    render_size: tuple[int, int] | None = None  # (width, height) pixels, once check_size accepted it

    @property
    def spatial_ratio(self) -> int:
        """Pixels per latent cell along each axis (32), from the VAE."""
        return int(self.vae.spatial_compression_ratio)

    @property
    def temporal_ratio(self) -> int:
        """Frames per latent frame (8), from the VAE."""
        return int(self.vae.temporal_compression_ratio)

    @property
    def patch(self) -> tuple[int, int]:
        """The transformer's (temporal, spatial) patch sizes in latent cells (1, 1 for LTX-Video)."""
        return int(self.transformer.config.patch_size_t), int(self.transformer.config.patch_size)


def timing(components: Components) -> LatentTiming:
    """:data:`TIMING` with the temporal ratio the model's VAE declares."""
    return LatentTiming(ratio=components.temporal_ratio, causal_first=True,
                        native_fps=TIMING.native_fps, clip_frames=TIMING.clip_frames)


def latent_channels(components: Components) -> int:
    return int(components.vae.config.latent_channels)


def spatial_factor(components: Components) -> int:
    """Pixels per latent cell (32)."""
    return components.spatial_ratio


def check_size(components: Components, width: int, height: int) -> None:
    """Width and height (pixels) must be multiples of 32 (LTXPipeline's rule) and of a latent patch.

    An accepted size is kept as ``components.render_size``: the scheduler's shift depends on it.
    """
    vae = {**components.vae.config, "spatial_compression_ratio": components.spatial_ratio}
    rule = rule_from_configs(NAME, vae, dict(components.transformer.config))
    problem = size_errors_text(components.model_id, NAME, rule, width, height)
    if problem:
        raise UsageError(problem)
    components.render_size = (width, height)


# --- loading ------------------------------------------------------------------------------


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load LTX-Video from a folder or hub id (``kwargs``: ``revision``, ``local_files_only``), in ``dtype``."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXVideoTransformer3DModel,
    )
    from transformers import AutoTokenizer, T5EncoderModel

    with load_errors(model_id, COMPONENTS):
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        scheduler_config = dict(FlowMatchEulerDiscreteScheduler.load_config(source, subfolder="scheduler", **kwargs))
        text_encoder = T5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
        transformer = LTXVideoTransformer3DModel.from_pretrained(source, subfolder="transformer", dtype=dtype, **kwargs)
        vae = AutoencoderKLLTXVideo.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
    freeze(text_encoder, transformer, vae)
    length = min(MAX_SEQUENCE_LENGTH, int(getattr(tokenizer, "model_max_length", MAX_SEQUENCE_LENGTH)))
    return Components(tokenizer, text_encoder, transformer, vae, scheduler_config, model_id, max_sequence_length=length)


def save_components(components: Components, folder: str | Path) -> Path:
    """Write the components with the stock ``LTXPipeline.save_pretrained`` (loadable by :func:`load`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, LTXPipeline

    folder = Path(folder)
    pipeline = LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler.from_config(components.scheduler_config),
                           vae=components.vae, text_encoder=components.text_encoder,
                           tokenizer=components.tokenizer, transformer=components.transformer)
    pipeline.save_pretrained(folder)
    return folder


# --- the tiny offline model ---------------------------------------------------------------


TINY_TRANSFORMER = dict(in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2,
                        attention_head_dim=8, cross_attention_dim=16, num_layers=2, caption_channels=32)
# LTX-Video's compression (patch 4 x three 2x stages: 32x spatial, 8x temporal) with 8 channels and a decoder
# without resnets: it sees about 3 latent frames either side (the real one sees further), and decodes fast.
TINY_VAE = dict(
    in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
    decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
    decoder_layers_per_block=(0, 0, 0, 0, 0), spatio_temporal_scaling=(True, True, True, False),
    decoder_spatio_temporal_scaling=(True, True, True, False), decoder_inject_noise=(False,) * 5,
    upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=True, patch_size=4,
    patch_size_t=1, encoder_causal=True, decoder_causal=False,
)
TINY_TEXT = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
                 relative_attention_max_distance=16, feed_forward_proj="gated-gelu", dropout_rate=0.0,
                 pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
TINY_SEQUENCE_LENGTH = 16
SCHEDULER = dict(  # shaped like LTX-Video's: shift from the token count, stretched to end at 0.1
    num_train_timesteps=1000, shift=1.0, use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05,
    base_image_seq_len=1024, max_image_seq_len=4096, shift_terminal=0.1, invert_sigmas=False,
)


def tiny_components(dtype: Any = None, seed: int = 0) -> Components:
    """Random tiny components with LTX-Video's structure: 17 frames at 64x64 in seconds on a CPU; output is noise."""
    from diffusers import AutoencoderKLLTXVideo, LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    tokenizer = byte_t5_tokenizer(TINY_SEQUENCE_LENGTH)

    def build() -> tuple[Any, Any, Any]:
        transformer = LTXVideoTransformer3DModel(**TINY_TRANSFORMER)
        vae = AutoencoderKLLTXVideo(**TINY_VAE)
        channels = TINY_VAE["latent_channels"]
        vae.latents_mean.copy_(0.1 * torch.randn(channels))  # not 0/1, so un-normalising is exercised
        vae.latents_std.copy_(1.0 + 0.2 * torch.rand(channels))
        return transformer, vae, T5EncoderModel(T5Config(vocab_size=len(tokenizer), **TINY_TEXT))

    transformer, vae, text_encoder = freeze(*build_tiny(seed, build), dtype=dtype)
    return Components(tokenizer, text_encoder, transformer, vae, dict(SCHEDULER), TINY,
                      max_sequence_length=TINY_SEQUENCE_LENGTH)


# --- text ---------------------------------------------------------------------------------


@torch.no_grad()
def encode_prompts(components: Components, texts: list[str], device: str) -> TextEncoding:
    """T5 last hidden states ``[len(texts), L, D]`` (``L`` = ``max_sequence_length``, 128) and their
    padding masks ``[len(texts), L]``, as LTXPipeline encodes. Like the pipeline, the encoder sees the
    padded ids without a mask; the mask is for the DiT."""
    tokens = components.tokenizer(list(texts), padding="max_length", max_length=components.max_sequence_length,
                                  truncation=True, add_special_tokens=True, return_attention_mask=True,
                                  return_tensors="pt")
    hidden = components.text_encoder(tokens.input_ids.to(device))[0]
    return TextEncoding(hidden, tokens.attention_mask.bool().to(device))


# --- per-frame attention ------------------------------------------------------------------


@dataclass
class FrameContext:
    """Per-frame text for the transformer call in progress (batch-major, then latent frame).

    ``embeddings``: ``[B * F, L, inner]`` already through the caption projection;
    ``bias``: ``[B * F, 1, L]`` additive mask; ``frames``: ``F``, latent frames after patching.
    """

    embeddings: torch.Tensor | None = None
    bias: torch.Tensor | None = None
    frames: int = 0


class PerFrameCrossAttention:
    """``attn2`` where each latent frame's video tokens attend to that frame's own text.

    Tokens are packed frame-major (``[B, F * h * w, C]``); they are regrouped as
    ``[B * F, h * w, C]`` and attend to ``context.embeddings`` ``[B * F, L, C]``
    under ``context.bias``, through the stock ``LTXVideoAttnProcessor``. With no context
    set it is the stock processor.
    """

    def __init__(self, context: FrameContext):
        from diffusers.models.transformers.transformer_ltx import LTXVideoAttnProcessor

        self.context = context
        self.inner = LTXVideoAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, image_rotary_emb: Any = None) -> torch.Tensor:
        context = self.context
        if context.embeddings is None:
            return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, image_rotary_emb)
        batch, tokens, channels = hidden_states.shape
        frames = context.frames
        if context.embeddings.shape[0] != batch * frames or tokens % frames:
            raise RuntimeError(f"per-frame text for {context.embeddings.shape[0]} frames, "
                               f"attention over {batch} x {tokens} tokens in {frames} frames")
        grouped = hidden_states.reshape(batch * frames, tokens // frames, channels)
        out = self.inner(attn, grouped, context.embeddings.to(hidden_states.dtype),
                         context.bias.to(hidden_states.dtype), None)
        return out.reshape(batch, tokens, -1)


def install_per_frame_attention(transformer: Any) -> FrameContext:
    """Put :class:`PerFrameCrossAttention` on every block's ``attn2`` (once; later calls return its context)."""
    blocks = list(transformer.transformer_blocks)
    if not blocks:
        raise UsageError("this LTX transformer has no blocks to condition per frame")
    current = blocks[0].attn2.processor
    if isinstance(current, PerFrameCrossAttention):
        return current.context
    context = FrameContext()
    for block in blocks:
        block.attn2.set_processor(PerFrameCrossAttention(context))
    return context


# --- the denoiser -------------------------------------------------------------------------


def pack(latents: torch.Tensor, patch_t: int, patch: int) -> torch.Tensor:
    """``[B, C, F, h, w]`` latent frames -> ``[B, tokens, C * patch_t * patch^2]``, tokens frame-major (f, y, x)."""
    b, c, f, h, w = latents.shape
    x = latents.reshape(b, c, f // patch_t, patch_t, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(b, (f // patch_t) * (h // patch) * (w // patch), -1)


def unpack(tokens: torch.Tensor, frames: int, height: int, width: int, patch_t: int, patch: int) -> torch.Tensor:
    """The inverse of :func:`pack`; ``frames``, ``height``, ``width`` counted in patches."""
    b = tokens.shape[0]
    x = tokens.reshape(b, frames, height, width, -1, patch_t, patch, patch)
    return x.permute(0, 4, 1, 5, 2, 6, 3, 7).reshape(b, -1, frames * patch_t, height * patch, width * patch)


class Denoiser(FrameDenoiser):
    """The sampler's denoiser: LTX velocity prediction with per-frame prompts and guidance.

    ``__call__(x, t, (start, end))`` takes latent frames ``[B, C, end - start, h, w]``
    (unpacked) and the scheduler's timestep, packs them as LTXPipeline does, runs the
    transformer on ``[negative, prompt]`` (classifier-free guidance when ``guidance`` > 1,
    a beat pulse raising a latent frame's scale, :meth:`FrameDenoiser.guide`) and unpacks.

    RoPE positions are those of the window as a standalone clip (latent frame 0 at
    ``start``): a window is what the model sees at once, so positions stay within the
    range it was trained on however long the shot. ``frame_rate`` (frames per second,
    default :data:`TIMING` ``.native_fps``) sets the temporal RoPE scale
    ``temporal ratio / frame_rate``. The text's masks are the ``table``'s (built by
    :meth:`PromptTable.of` from :func:`encode_prompts`).
    """

    def __init__(self, components: Components, table: PromptTable, conds: Sequence[FrameCond], guidance: float,
                 dtype: torch.dtype, *, frame_rate: float | None = None):
        super().__init__(table, conds, guidance, dtype)
        if table.prompt_masks is None or table.negative_mask is None:
            raise ValueError("LTX-Video needs the prompts' attention masks: build the table with PromptTable.of "
                             "from ltx.encode_prompts")
        self.c = components
        self.context = install_per_frame_attention(components.transformer)
        fps = float(frame_rate or TIMING.native_fps)
        self.rope_scale = (components.temporal_ratio / fps, components.spatial_ratio, components.spatial_ratio)

    def text(self, conds: list[FrameCond], guided: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``[G, F, L, D]`` and masks ``[G, F, L]`` for the window (``G``: negative first if guided)."""
        embeddings = self.table.window(conds)
        masks = self.table.window_masks(conds).to(embeddings.device)
        if guided:
            n = len(conds)
            embeddings = torch.stack([self.table.negative.unsqueeze(0).expand(n, -1, -1), embeddings])
            masks = torch.stack([self.table.negative_mask.to(masks.device).unsqueeze(0).expand(n, -1), masks])
            return embeddings, masks
        return embeddings.unsqueeze(0), masks.unsqueeze(0)

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        guided = self.guidance > 1.0
        embeddings, masks = self.text(conds, guided)
        batch = x.shape[0]
        embeddings = embeddings.repeat_interleave(batch, dim=0)  # [G * B, F, L, D], as torch.cat([x] * G)
        masks = masks.repeat_interleave(batch, dim=0)
        uniform = len({(c.a, c.b, round(c.w, 6)) for c in conds}) == 1
        out = self.predict(x.repeat(embeddings.shape[0] // batch, 1, 1, 1, 1), t, embeddings, masks, uniform)
        self.calls += 1
        if not guided:
            return out
        uncond, cond = out.chunk(2)
        return self.guide(uncond, cond, self.guidance, conds)

    def predict(self, x: torch.Tensor, t: torch.Tensor, embeddings: torch.Tensor, masks: torch.Tensor,
                uniform: bool) -> torch.Tensor:
        """The transformer's prediction for latent frames ``x`` ``[N, C, F, h, w]`` (float32, unpacked).

        ``uniform``: every frame has the same text, so the stock cross-attention runs on
        it (as in LTXPipeline); otherwise each latent frame attends to its own.
        """
        transformer, dtype = self.c.transformer, self.dtype
        patch_t, patch = self.c.patch
        _, _, f, h, w = x.shape
        frames, height, width = f // patch_t, h // patch, w // patch
        if not uniform:
            self.context.embeddings = transformer.caption_projection(embeddings.flatten(0, 1).to(dtype))
            self.context.bias = ((1 - masks.flatten(0, 1).to(dtype)) * -10000.0).unsqueeze(1)
            self.context.frames = frames
        try:
            out = transformer(hidden_states=pack(x, patch_t, patch).to(dtype),
                              encoder_hidden_states=embeddings[:, 0].to(dtype), timestep=t.expand(x.shape[0]),
                              encoder_attention_mask=masks[:, 0], num_frames=frames, height=height, width=width,
                              rope_interpolation_scale=self.rope_scale, return_dict=False)[0]
        finally:
            self.context.embeddings = self.context.bias = None
        return unpack(out.float(), frames, height, width, patch_t, patch)


# --- the scheduler ------------------------------------------------------------------------


def calculate_shift(tokens: int, config: dict[str, Any]) -> float:
    """``mu`` for ``tokens`` video tokens: linear from ``base_shift`` at ``base_image_seq_len`` to
    ``max_shift`` at ``max_image_seq_len`` (extrapolated beyond), as LTXPipeline computes it."""
    base_len, max_len = config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096)
    base_shift, max_shift = config.get("base_shift", 0.5), config.get("max_shift", 1.15)
    slope = (max_shift - base_shift) / (max_len - base_len)
    return tokens * slope + base_shift - slope * base_len


class ShiftedFlowMatch:
    """A ``FlowMatchEulerDiscreteScheduler`` that sets its timesteps as LTXPipeline does.

    LTXPipeline calls ``set_timesteps(sigmas=linspace(1, 1/n, n), mu=mu)`` with ``mu`` from
    the number of video tokens; our sampler calls ``set_timesteps(n, device=...)``, so
    this wrapper supplies those sigmas and the ``mu`` it was made with. It also provides
    ``init_noise_sigma`` (1: flow matching starts from unit noise) and an identity
    ``scale_model_input``, which the flow-matching scheduler lacks; everything else is
    the inner scheduler's.
    """

    init_noise_sigma = 1.0

    def __init__(self, inner: Any, mu: float):
        self.inner, self.mu = inner, mu

    def set_timesteps(self, num_inference_steps: int, device: Any = None) -> None:
        """``num_inference_steps`` sigmas from 1 down, shifted by ``mu`` and stretched to end at the
        config's ``shift_terminal``. One step is not stretched: it goes from noise (sigma 1) straight
        to 0, and the stretch would divide by ``1 - sigma`` of its last step, 0 (NaN sigmas: black
        frames and a numpy warning in the render's output)."""
        if num_inference_steps == 1 and self.inner.config.get("shift_terminal"):
            self.inner = type(self.inner).from_config({**self.inner.config, "shift_terminal": None})
        sigmas = np.linspace(1.0, 1.0 / num_inference_steps, num_inference_steps)
        self.inner.set_timesteps(sigmas=sigmas, device=device, mu=self.mu)

    def scale_model_input(self, sample: torch.Tensor, timestep: Any = None) -> torch.Tensor:
        return sample

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def scheduler(components: Components, name: str, latent_shape: tuple[int, int, int] | None = None) -> ShiftedFlowMatch:
    """The flow-matching Euler scheduler (``"auto"`` or ``"euler"``), shifted for the tokens one window holds.

    ``latent_shape``: ``(latent frames, h, w)`` of a window (the transformer's input);
    the shift ``mu`` grows with its token count. Default: the native clip (:data:`TIMING`,
    16 latent frames, the windows' length) at ``components.render_size`` (set by
    :func:`check_size`), else at :data:`DEFAULT_SIZE`. LTXPipeline shifts for the whole
    clip it renders; here the transformer sees one window at a time.
    """
    from diffusers import FlowMatchEulerDiscreteScheduler

    if name not in ("auto", "euler"):
        raise UsageError(f"model '{components.model_id}' (LTX-Video) samples by flow matching: "
                         f"scheduler must be auto or euler, not {name!r}")
    if latent_shape is None:
        ratio = components.spatial_ratio
        width, height = components.render_size or DEFAULT_SIZE
        latent_shape = (TIMING.clip_latents, height // ratio, width // ratio)
    frames, height, width = latent_shape
    inner = FlowMatchEulerDiscreteScheduler.from_config(components.scheduler_config)
    return ShiftedFlowMatch(inner, calculate_shift(frames * height * width, components.scheduler_config))


# --- decoding -----------------------------------------------------------------------------


def decode_chunks(latent_frames: int, chunk: int, overlap: int) -> Iterator[tuple[int, int]]:
    """Latent frame ranges ``(start, end)`` of at most ``chunk`` frames, neighbours sharing ``overlap``."""
    if not 1 <= overlap < chunk:
        raise ValueError(f"decode overlap {overlap} must be at least 1 and below the chunk of {chunk} latent frames")
    start = 0
    while True:
        end = min(start + chunk, latent_frames)
        yield start, end
        if end == latent_frames:
            return
        start = end - overlap


def decode_latents(components: Components, z: torch.Tensor, first: int, device: str, dtype: torch.dtype) -> torch.Tensor:
    """Decode latent frames ``first ..`` (``z``: ``[1, C, n, h, w]`` normalised) to ``[1, 3, 8 (n - 1) + 1, H, W]``
    in [-1, 1] (float32): un-normalised with the VAE's ``latents_mean``/``latents_std``, and with the
    timestep conditioning LTXPipeline applies. Noise is seeded per latent frame, so chunks agree."""
    vae = components.vae
    z = z.to(device, torch.float32)
    mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(device, torch.float32)
    std = vae.latents_std.view(1, -1, 1, 1, 1).to(device, torch.float32)
    z = (z * std / vae.config.scaling_factor + mean).to(dtype)
    temb = None
    if vae.config.timestep_conditioning:
        scale = components.decode_timestep if components.decode_noise_scale is None else components.decode_noise_scale
        if scale:
            noise = torch.stack([torch.randn(z.shape[:2] + z.shape[3:], generator=torch.Generator().manual_seed(
                DECODE_SEED + first + k)) for k in range(z.shape[2])], dim=2)
            z = (1 - scale) * z + scale * noise.to(device, dtype)
        temb = torch.full((z.shape[0],), components.decode_timestep, device=device, dtype=dtype)
    where = torch.device(device)
    cuda = [where.index if where.index is not None else torch.cuda.current_device()] if where.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # decoders of LTX-Video 0.9.1+ inject noise from the global RNG
        torch.default_generator.manual_seed(DECODE_SEED)
        for index in cuda:
            torch.cuda.default_generators[index].manual_seed(DECODE_SEED)
        return vae.decode(z.to(vae.dtype), temb, return_dict=False)[0].float()


def to_pixels(video: torch.Tensor) -> np.ndarray:
    """``[1, 3, n, H, W]`` in [-1, 1] -> ``n x H x W x 3`` uint8 (overwrites ``video``, saving a copy)."""
    pixels = video[0].clamp_(-1, 1).add_(1).mul_(127.5).round_().to(torch.uint8)
    return pixels.permute(1, 2, 3, 0).cpu().numpy()


def blend_weights(shared: int) -> torch.Tensor:
    """Weights ``[shared]`` of the later chunk over the frames two chunks share.

    The outer quarter at each end is dropped (the chunk there lacks context: weight 0
    at its start, 1 where the earlier chunk's end is), and the middle half crossfades
    linearly.
    """
    drop = shared // 4
    ramp = torch.arange(1, shared - 2 * drop + 1, dtype=torch.float32) / (shared - 2 * drop + 1)
    return torch.cat([torch.zeros(drop), ramp, torch.ones(drop)])


@torch.no_grad()
def decode(components: Components, latents: torch.Tensor, device: str, dtype: torch.dtype) -> Iterator[np.ndarray]:
    """Decode latents ``[1, C, L, h, w]`` into ``8 (L - 1) + 1`` frames ``H x W x 3`` (uint8), yielded as ready.

    Chunks of ``components.decode_chunk`` latent frames share ``decode_overlap`` latent
    frames with the next; a chunk starting at latent frame ``s`` decodes frames from
    ``8 s`` on, so the shared latent frames give ``8 (overlap - 1) + 1`` frames twice,
    blended by :func:`blend_weights`. The decoder sees a few latent frames either side
    (it is not causal), so where each chunk has that much context the result equals a
    one-shot decode. Memory: one chunk and one overlap, whatever the shot's length.
    """
    if latents.shape[0] != 1:
        raise ValueError(f"decode takes one video at a time, not {latents.shape[0]}")
    ratio, total = components.temporal_ratio, latents.shape[2]
    tail: torch.Tensor | None = None
    for start, end in decode_chunks(total, components.decode_chunk, components.decode_overlap):
        video = decode_latents(components, latents[:, :, start:end], start, device, dtype)
        if tail is not None:
            shared = tail.shape[2]
            weight = blend_weights(shared).to(video.device).view(1, 1, -1, 1, 1)
            video[:, :, :shared].sub_(tail).mul_(weight).add_(tail)
        if end == total:
            yield from to_pixels(video)
            return
        keep = (end - components.decode_overlap - start) * ratio  # frames before the next chunk's first
        tail = video[:, :, keep:].clone()
        pixels = to_pixels(video[:, :, :keep])
        del video
        yield from pixels
        del pixels  # before the next chunk decodes
