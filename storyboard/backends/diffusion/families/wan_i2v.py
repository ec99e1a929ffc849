"""The ``wan_i2v`` family: Wan image-to-video. Wan 2.1 I2V 14B (480p, 720p), Wan 2.1 FLF2V 14B
(first and last frame) and Wan 2.2 I2V A14B (two experts).

How to drive a diffusers ``WanImageToVideoPipeline`` model. Its components are Wan's (``transformer/``,
optional ``transformer_2/``, ``vae/``, ``text_encoder/`` UMT5, ``tokenizer/``, ``scheduler/``: see
:mod:`~storyboard.backends.diffusion.families.wan`, whose text encoding, schedulers and decoding this
module reuses), plus for Wan 2.1 ``image_encoder/`` (a CLIP vision model) and ``image_processor/``.

What an image does to the DiT (as the stock pipeline does it):

- **condition latents**: the window's own clip of ``(L - 1) * 4 + 1`` frames (``L`` latent frames), the
  images at their frames and zeros elsewhere, encoded by the VAE (its mode, normalised like the
  latents); beside it 4 mask channels per latent frame, one per frame it holds, 1 where an image is
  (the first latent frame holds one frame, its mask repeated 4 times). The DiT reads
  ``[noisy latents (16), mask (4), condition (16)]``: 36 channels.
- **image embedding** (Wan 2.1 only, ``transformer.config.image_dim`` set): the CLIP vision model's
  penultimate hidden states, read through the added keys and values of every cross-attention layer;
  FLF2V's transformer (``pos_embed_seq_len`` set) reads two, the first and the last frame's.

Across windows (:func:`window_conditions`, pure): each sliding window is conditioned as its own clip.
An image at native frame ``n`` of the shot lies in latent frame ``k`` (``0`` for frame 0, else
``(n - 1) // 4 + 1``); every window ``[s, e)`` with ``s <= k < e`` places it at its own frame
``0`` when ``k == s`` (a window's first latent frame holds one frame of its clip), else at
``(k - s - 1) * 4 + 1 + (n - first frame of k)``, the same position inside the latent frame. So
the start image conditions the first window, a keyframe the windows that hold it, the last image
the last window. An image on a window's first latent frame is read as a first frame (frame 0 of its
clip, all four mask slots), as Wan is trained; the windows before it hold it at its own frame. A
window that holds no image gets the clip of zeros, mask 0. Its image embedding
(Wan 2.1) is that of the image the shot last showed at the window's first native frame (the latest
at or before it; else the shot's first image); FLF2V's second is that of the image the shot shows
next at the window's last native frame (the earliest at or after it; else the shot's last image).
So the subject's picture reaches every window's cross-attention, and one window holding the shot's
first and last frames reads them as the stock pipeline does.

Images come as ``H x W x 3`` uint8 arrays keyed by native frame (:func:`encode_images`; :func:`native_frames`
maps the shot's output frames there: its first frame to native frame 0, its last to the model's last); an image of
another aspect ratio is cropped about its centre to the output's, then resized (Lanczos) to it.
Wan 2.1 I2V (one embedding) takes a last image too: in the condition latents, the embedding staying
the first image's (the stock pipeline fails on two embeddings for it).
A shot with no image is refused (:func:`no_image`; ``validate`` refuses it first, in the same words): an
image-to-video model is not a text-to-video one.
Wan 2.2 TI2V-5B's first-frame conditioning (``expand_timesteps``) is not driven here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence, TypeVar

import numpy as np
import torch

from storyboard.backends.diffusion.families import wan
from storyboard.backends.diffusion.families.base import (
    build_tiny,
    byte_t5_tokenizer,
    freeze,
    load_errors,
)
from storyboard.backends.diffusion.prompts import PromptTable
from storyboard.backends.latents import LatentShot
from storyboard.backends.registry import FAMILIES, LatentTiming, SizeRule, rule_from_configs, size_errors_text
from storyboard.errors import UsageError
from storyboard.plan.data import FrameCond

NAME = "wan_i2v"
TINY = FAMILIES[NAME].tiny
PIPELINES = FAMILIES[NAME].pipelines
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")  # and image_encoder/ for Wan 2.1
TIMING = FAMILIES[NAME].timing
T = TypeVar("T")
TEXT_LENGTH = 512  # the stock attention splits image tokens from text by this length: I2V models keep it
SCHEDULERS = FAMILIES[NAME].schedulers
MASK_CHANNELS = 4  # one per frame a latent frame holds (the VAE's temporal compression)

encode_prompts = wan.encode_prompts
scheduler = wan.scheduler
spatial_factor = wan.spatial_factor


# --- where images go, window by window (pure) ------------------------------------------------------


@dataclass(frozen=True)
class WindowCondition:
    """What conditions one window: ``window`` its latent frames ``[start, end)``; ``frames`` the length of
    its own clip in frames (``(end - start - 1) * 4 + 1``); ``placed`` the images it holds as
    ``(frame of its clip, native frame of the shot)``, in order; ``embedded`` the native frames of the
    images whose embeddings its cross-attention reads: the one shown at or before its first frame and
    the one at or after its last (empty when the shot has no image)."""

    window: tuple[int, int]
    frames: int
    placed: tuple[tuple[int, int], ...]
    embedded: tuple[int, ...]

    @property
    def clip(self) -> tuple[int, tuple[tuple[int, int], ...]]:
        """What its condition latents depend on (windows with the same clip share them)."""
        return self.frames, self.placed


def latent_of(frame: int, timing: LatentTiming) -> int:
    """The latent frame that holds native frame ``frame`` (``timing`` causal: frame 0 alone, then ``ratio`` each)."""
    if frame < 0:
        raise ValueError(f"native frame {frame} is before the shot")
    if not timing.causal_first:
        return frame // timing.ratio
    return 0 if frame == 0 else (frame - 1) // timing.ratio + 1


def native_frames(mapped: LatentShot, images: Mapping[int, T], timing: LatentTiming = TIMING) -> dict[int, T]:
    """``images`` keyed by output frame of the shot (0: its first frame) re-keyed by the native frame each
    conditions: the shot's first output frame goes to native frame 0 and its last to the last frame the
    model renders (where Wan's first and last frames sit in training), any other to the native frame it
    shows (``mapped.shown``). ``ValueError`` for an output frame outside the shot."""
    last_output, last_native = len(mapped.shown) - 1, timing.decoded_frames(mapped.latent) - 1
    out: dict[int, T] = {}
    for frame, image in sorted(images.items()):
        if not 0 <= frame <= last_output:
            raise ValueError(f"an image at output frame {frame} is outside the shot's {last_output + 1} frames")
        native = 0 if frame == 0 else last_native if frame == last_output else mapped.shown[frame]
        out.setdefault(native, image)
    return out


def window_conditions(windows: Sequence[tuple[int, int]], images: Sequence[int],
                      timing: LatentTiming = TIMING) -> tuple[WindowCondition, ...]:
    """Each window's conditioning, from the native frames ``images`` where the shot's images are
    (see the module's docstring). A window clip's frame that two images fall on keeps the earlier
    image. ``ValueError`` for an image past the last window."""
    if not timing.causal_first:
        raise ValueError("Wan image conditioning needs a causal time (a first latent frame of one frame)")
    frames = sorted(set(images))
    last = max((end for _, end in windows), default=0)
    for frame in frames:
        if latent_of(frame, timing) >= last:
            raise ValueError(f"an image at native frame {frame} (latent frame {latent_of(frame, timing)}) is past "
                             f"the shot's {last} latent frames")
    out = []
    for start, end in windows:
        placed: dict[int, int] = {}
        for frame in frames:
            k = latent_of(frame, timing)
            if not start <= k < end:
                continue
            local = 0 if k == start else (k - start - 1) * timing.ratio + 1 + frame - timing.frames_of(k).start
            placed.setdefault(local, frame)
        begins, ends = timing.frames_of(start).start, timing.frames_of(end - 1).stop - 1  # native frames
        before = [f for f in frames if f <= begins]
        after = [f for f in frames if f >= ends]
        embedded = () if not frames else (before[-1] if before else frames[0], after[0] if after else frames[-1])
        out.append(WindowCondition((start, end), timing.decoded_frames(end - start),
                                   tuple(sorted(placed.items())), embedded))
    return tuple(out)


# --- components -------------------------------------------------------------------------------------


@dataclass
class Components(wan.Components):
    """Wan's components and, for Wan 2.1, the CLIP ``image_encoder`` and its ``image_processor``."""

    image_encoder: Any = None
    image_processor: Any = None

    @property
    def embeddings(self) -> int:
        """How many image embeddings the DiT reads: 0 (Wan 2.2), 1 (Wan 2.1 I2V) or 2 (FLF2V)."""
        if self.transformer.config.image_dim is None:
            return 0
        return 2 if self.transformer.config.pos_embed_seq_len else 1


def load(source: str, model_id: str, kwargs: dict[str, Any], dtype: Any) -> Components:
    """Load a ``WanImageToVideoPipeline`` model from a hub id or a folder; configs are checked before weights."""
    from diffusers import AutoencoderKLWan, DiffusionPipeline, WanTransformer3DModel
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionModel, UMT5EncoderModel

    with load_errors(model_id, COMPONENTS):
        index = dict(DiffusionPipeline.load_config(source, **kwargs))
        if index.get("expand_timesteps"):
            raise UsageError(f"model '{model_id}' is Wan 2.2 TI2V (expand_timesteps): its first-frame conditioning "
                             f"is not driven by storyboard yet; use a Wan 2.1 or 2.2 A14B image-to-video model")
        has_second = bool((index.get("transformer_2") or [None])[0])
        has_encoder = bool((index.get("image_encoder") or [None])[0])
        experts = ("transformer", "transformer_2") if has_second else ("transformer",)
        for name in experts:
            WanTransformer3DModel.load_config(source, subfolder=name, **kwargs)
        AutoencoderKLWan.load_config(source, subfolder="vae", **kwargs)
        scheduler_config = wan.load_scheduler_config(source, kwargs)
        tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer", **kwargs)
        models = [WanTransformer3DModel.from_pretrained(source, subfolder=name, dtype=dtype, **kwargs)
                  for name in experts]
        vae = AutoencoderKLWan.from_pretrained(source, subfolder="vae", dtype=dtype, **kwargs)
        text_encoder = UMT5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype, **kwargs)
        image_encoder = image_processor = None
        if has_encoder:
            image_encoder = CLIPVisionModel.from_pretrained(source, subfolder="image_encoder", dtype=dtype, **kwargs)
            image_processor = CLIPImageProcessor.from_pretrained(source, subfolder="image_processor", **kwargs)
    c = Components(
        tokenizer, text_encoder, models[0], vae, scheduler_config, model_id,
        transformer_2=models[1] if has_second else None,
        boundary_ratio=index.get("boundary_ratio") if has_second else None,
        guidance_2=index.get("guidance_scale_2"),
        text_length=min(TEXT_LENGTH, int(tokenizer.model_max_length)),
        image_encoder=image_encoder, image_processor=image_processor,
    )
    return prepare(c)


def prepare(c: Components) -> Components:
    """Inference mode; per-frame cross-attention (text and image) on every expert; the model checked."""
    if c.transformer.config.image_dim is not None and c.image_encoder is None:
        raise UsageError(f"model '{c.model_id}' reads CLIP image embeddings but has no image_encoder/")
    if c.transformer.config.in_channels != c.vae.config.z_dim * 2 + MASK_CHANNELS:
        raise UsageError(f"model '{c.model_id}': its transformer takes {c.transformer.config.in_channels} channels, "
                         f"not the {c.vae.config.z_dim * 2 + MASK_CHANNELS} of Wan image-to-video")
    freeze(c.text_encoder, c.vae, *c.denoisers, *([c.image_encoder] if c.image_encoder is not None else []))
    for model in c.denoisers:
        for block in model.blocks:
            block.attn2.set_processor(PerFrameImageCrossAttention(c.slots, c.text_length))
    return c


def latent_channels(c: Components) -> int:
    """Channels of the latents sampled (the VAE's 16); the DiT reads 36 (with the mask and the condition)."""
    return int(c.vae.config.z_dim)


def size_rule(c: Components) -> SizeRule:
    """The sizes the model renders: Wan's rule (:func:`~storyboard.backends.registry.wan_rule`) on its configs."""
    return rule_from_configs(NAME, dict(c.vae.config), dict(c.denoisers[0].config))


def check_size(c: Components, width: int, height: int) -> None:
    """Width and height (pixels) must fit :func:`size_rule`; ``UsageError`` in the registry's words."""
    problem = size_errors_text(c.model_id, NAME, size_rule(c), width, height)
    if problem:
        raise UsageError(problem)


def decode(c: Components, latents: torch.Tensor, device: str, dtype: Any = None) -> Iterator[np.ndarray]:
    """Frames ``H x W x 3`` uint8 at 16 fps, decoded latent frame by latent frame (Wan's decoding)."""
    return wan.decode(c, latents, device, dtype)


# --- images -----------------------------------------------------------------------------------------


def fit_image(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """``image`` (``H x W x 3`` uint8) cropped about its centre to the aspect ratio ``width : height``,
    then resized to ``width x height`` pixels (Lanczos, as the stock pipeline resizes); as is when it fits."""
    from PIL import Image

    h, w = image.shape[:2]
    if (w, h) == (width, height):
        return image
    if w * height > h * width:  # too wide: crop the sides
        keep = round(h * width / height)
        image = image[:, (w - keep) // 2:(w - keep) // 2 + keep]
    elif w * height < h * width:  # too tall: crop top and bottom
        keep = round(w * height / width)
        image = image[(h - keep) // 2:(h - keep) // 2 + keep]
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS))


def check_image(frame: int, image: Any) -> np.ndarray:
    """``image`` as an ``H x W x 3`` uint8 array, or ``ValueError`` naming the native frame it was for."""
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"the image for native frame {frame} is {array.dtype} of shape {array.shape}: "
                         f"expected H x W x 3 uint8 (RGB)")
    return array


@dataclass
class ShotImages:
    """A shot's image conditioning, encoded: each window's :class:`WindowCondition`, the condition tensors
    ``[1, 4 + C, L, h, w]`` (mask channels, then the normalised VAE latents) of each distinct clip, and
    the image embeddings ``[1, tokens, D]`` by native frame (Wan 2.1; empty for Wan 2.2)."""

    windows: dict[tuple[int, int], WindowCondition]
    clips: dict[Any, torch.Tensor]
    embeddings: dict[int, torch.Tensor]
    reads: int  # embeddings a window's cross-attention reads (0, 1, 2)

    def of(self, window: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The condition ``[1, 4 + C, L, h, w]`` of ``window`` and its image embeddings ``[1, reads * tokens, D]``
        (None for a model that reads none)."""
        if window not in self.windows:
            raise ValueError(f"window {window} is not one the shot's images were encoded for "
                             f"({', '.join(map(str, self.windows))})")
        plan = self.windows[window]
        condition = self.clips[plan.clip]
        if not self.reads:
            return condition, None
        chosen = plan.embedded[:self.reads]
        return condition, torch.cat([self.embeddings[f] for f in chosen], dim=0)


@torch.no_grad()
def encode_clip(c: Components, length: int, placed: Mapping[int, torch.Tensor], height: int, width: int,
                device: str) -> torch.Tensor:
    """The condition ``[1, 4 + C, L, h, w]`` of a clip of ``length`` frames holding ``placed``
    (frame of the clip -> image ``[3, H, W]`` in ``[-1, 1]``), zeros elsewhere: as the stock pipeline's
    ``prepare_latents`` builds it (the VAE's mode, normalised; mask 1 on the images' frames). The VAE
    runs where it is (an offloaded one on the CPU); the result is on ``device``."""
    vae = c.vae
    weight = next(vae.parameters())
    video = torch.zeros(1, 3, length, height, width)
    for frame, pixels in placed.items():
        video[0, :, frame] = pixels
    latents = vae.encode(video.to(weight.device, weight.dtype)).latent_dist.mode().float().to(device)
    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean, device=device).view(1, z, 1, 1, 1)
    inverse_std = 1.0 / torch.tensor(vae.config.latents_std, device=device).view(1, z, 1, 1, 1)
    latents = (latents - mean) * inverse_std
    ratio = MASK_CHANNELS
    frame_mask = torch.zeros(length)
    frame_mask[list(placed)] = 1.0
    frame_mask = torch.cat([frame_mask[:1].repeat(ratio), frame_mask[1:]])  # the first latent frame's 4 slots
    mask = frame_mask.view(-1, ratio).T  # [4, L]: mask[p, k] for frame p of latent frame k
    h, w = latents.shape[-2:]
    mask = mask.view(1, ratio, -1, 1, 1).expand(1, ratio, mask.shape[1], h, w).to(device)
    return torch.cat([mask, latents], dim=1)


@torch.no_grad()
def embed_images(c: Components, images: Sequence[np.ndarray], device: str) -> torch.Tensor:
    """CLIP embeddings ``[N, tokens, D]`` of ``images`` (uint8 arrays): the vision model's penultimate
    hidden states, as the stock pipeline's ``encode_image`` (run where the encoder is; on ``device``)."""
    inputs = c.image_processor(images=list(images), return_tensors="pt")
    weight = next(c.image_encoder.parameters())
    pixels = inputs["pixel_values"].to(weight.device, weight.dtype)
    return c.image_encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[-2].float().to(device)


def encode_images(c: Components, images: Mapping[int, Any], windows: Sequence[tuple[int, int]], device: str,
                  *, width: int, height: int) -> ShotImages:
    """The shot's image conditioning, for :class:`Denoiser` (``images=``).

    ``images``: ``H x W x 3`` uint8 arrays keyed by the native frame (16 fps, from the shot's first
    frame) where each goes: 0 for the start image, the shot's last native frame for its last image,
    any frame between for a keyframe. ``windows``: the shot's latent windows (``LatentShot.windows``);
    ``width`` x ``height``: the output size in pixels. Each distinct window clip is VAE-encoded once.
    """
    if not images:
        raise no_image(c)
    fitted = {frame: fit_image(check_image(frame, image), width, height) for frame, image in images.items()}
    plans = window_conditions(windows, list(fitted))
    pixels = {frame: torch.tensor(image).permute(2, 0, 1).float() / 127.5 - 1.0 for frame, image in fitted.items()}
    clips: dict[Any, torch.Tensor] = {}
    for plan in plans:
        if plan.clip not in clips:
            placed = {f: pixels[n] for f, n in plan.placed}
            clips[plan.clip] = encode_clip(c, plan.frames, placed, height, width, device)
    reads = c.embeddings
    embeddings: dict[int, torch.Tensor] = {}
    if reads:
        order = sorted(fitted)
        embedded = embed_images(c, [fitted[f] for f in order], device)
        embeddings = {f: embedded[i:i + 1] for i, f in enumerate(order)}
    return ShotImages({p.window: p for p in plans}, clips, embeddings, reads)


def no_image(c: Components) -> UsageError:
    """The refusal of a shot with no image, in validate's words
    (:func:`storyboard.backends.model_checks.image_needed`)."""
    from storyboard.backends.model_checks import image_needed

    return UsageError(image_needed(c.model_id) or image_needed(TINY) or "")


# --- per-frame cross-attention, with the image -------------------------------------------------------


class PerFrameImageCrossAttention:
    """Wan I2V cross-attention with per-latent-frame prompts.

    ``encoder_hidden_states`` is ``[B, image tokens + slots * L, C]`` (the image's tokens first, as the
    DiT concatenates them; none for Wan 2.2): every video token attends to the image's tokens through
    the added keys and values, and each latent frame's tokens to their own text slot
    (:class:`~storyboard.backends.diffusion.families.wan.FrameSlots`); the two are summed, as the
    stock ``WanAttnProcessor`` sums image and text attention. With ``slots.index`` None this is the stock
    processor (which takes the text to be 512 tokens).
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self, slots: wan.FrameSlots, text_length: int):
        from diffusers.models.transformers.transformer_wan import WanAttnProcessor

        self.slots, self.text_length = slots, text_length
        self.stock = WanAttnProcessor()

    def __call__(self, attn: Any, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, rotary_emb: Any = None, **kwargs: Any) -> torch.Tensor:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        index = self.slots.index
        if index is None or encoder_hidden_states is None:
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        batch, tokens, _ = hidden_states.shape
        frames, slots = index.numel(), self.slots.slots
        image_tokens = encoder_hidden_states.shape[1] - slots * self.text_length
        if tokens % frames or image_tokens < 0 or (image_tokens and attn.add_k_proj is None):
            raise RuntimeError(f"{tokens} video tokens do not split into {frames} latent frames, or "
                               f"{encoder_hidden_states.shape[1]} context tokens into {slots} prompts of "
                               f"{self.text_length} and an image this layer reads")
        image, text = encoder_hidden_states[:, :image_tokens], encoder_hidden_states[:, image_tokens:]
        query = attn.norm_q(attn.to_q(hidden_states))
        if getattr(attn, "fused_projections", False):
            key, value = attn.to_kv(text).chunk(2, dim=-1)
        else:
            key, value = attn.to_k(text), attn.to_v(text)
        key = attn.norm_k(key)

        def per_frame(x: torch.Tensor) -> torch.Tensor:  # [B, slots * L, C] -> [B * F, L, heads, C / heads]
            x = x.unflatten(1, (slots, self.text_length)).index_select(1, index.to(x.device))
            return x.flatten(0, 1).unflatten(2, (attn.heads, -1))

        per_query = query.reshape(batch * frames, tokens // frames, attn.heads, -1)
        out = dispatch_attention_fn(per_query, per_frame(key), per_frame(value), attn_mask=None, dropout_p=0.0,
                                    is_causal=False, backend=self._attention_backend, parallel_config=None)
        out = out.flatten(2, 3).type_as(query).reshape(batch, tokens, -1)
        if image_tokens:
            if getattr(attn, "fused_projections", False):
                key_image, value_image = attn.to_added_kv(image).chunk(2, dim=-1)
            else:
                key_image, value_image = attn.add_k_proj(image), attn.add_v_proj(image)
            key_image = attn.norm_added_k(key_image)
            seen = dispatch_attention_fn(query.unflatten(2, (attn.heads, -1)), key_image.unflatten(2, (attn.heads, -1)),
                                         value_image.unflatten(2, (attn.heads, -1)), attn_mask=None, dropout_p=0.0,
                                         is_causal=False, backend=self._attention_backend, parallel_config=None)
            out = out + seen.flatten(2, 3).type_as(query)
        return attn.to_out[1](attn.to_out[0](out))


# --- the denoiser -----------------------------------------------------------------------------------


class Denoiser(wan.Denoiser):
    """Wan's denoiser (per-frame prompts, guidance, experts) with each window's image conditioning.

    ``images``: the shot's :class:`ShotImages` (:func:`encode_images`); required. A call on window
    ``(start, end)`` feeds the DiT ``[x, mask, condition]`` (36 channels) and, for Wan 2.1, the window's
    image embeddings; guided calls batch ``[uncond, cond]`` with the same image conditioning, as the
    stock pipeline gives both passes the same image. ``received`` lists, per call, the window and the
    native frames of the images its clip holds and its embeddings show (for checks).
    """

    def __init__(self, c: Components, table: PromptTable, conds: list[FrameCond] | tuple[FrameCond, ...],
                 guidance: float, dtype: torch.dtype, guidance_2: float | None = None,
                 images: ShotImages | None = None):
        if images is None:
            raise no_image(c)
        super().__init__(c, table, conds, guidance, dtype, guidance_2)
        self.images = images
        self.received: list[tuple[tuple[int, int], tuple[int, ...], tuple[int, ...]]] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
        conds = self.window_conds(x, window)
        model, scale = self.expert(t)
        guided = scale > 1.0
        batch, text, index = self.batch(x, conds, guided)
        condition, embeddings = self.images.of(window)
        if condition.shape[2:] != batch.shape[2:]:
            raise ValueError(f"window {window}: condition {tuple(condition.shape)} does not fit latents "
                             f"{tuple(batch.shape)}")
        size = batch.shape[0]
        hidden = torch.cat([batch, condition.to(batch.device).expand(size, -1, -1, -1, -1)], dim=1)
        image = None
        if embeddings is not None and model.config.image_dim is not None:
            image = embeddings.repeat(size, 1, 1).to(device=x.device, dtype=self.dtype)
        plan = self.images.windows[window]
        self.received.append((window, tuple(n for _, n in plan.placed), plan.embedded[:self.images.reads]))
        self.c.slots.index, self.c.slots.slots = index.to(x.device), int(index.max()) + 1
        try:
            out = model(hidden_states=hidden.to(self.dtype), timestep=self.timestep(t, batch, model),
                        encoder_hidden_states=text.to(device=x.device, dtype=self.dtype),
                        encoder_hidden_states_image=image, return_dict=False)[0].float()
        finally:
            self.c.slots.index, self.c.slots.slots = None, 1
        self.calls += 1
        if not guided:
            return out
        uncond, cond = out.chunk(2)
        return self.guide(uncond, cond, scale, conds)


# --- the tiny offline model -------------------------------------------------------------------------


TINY_VISION = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32,
                   patch_size=8, projection_dim=32)  # 16 patches and the class token: 17 tokens of 32
TINY_IMAGE_TOKENS = 17
KINDS = ("i2v", "flf2v", "a14b")


def tiny_transformer_config(kind: str) -> dict[str, Any]:
    """The tiny DiT's config: Wan's tiny one reading 36 channels; Wan 2.1 (``i2v``, ``flf2v``) with the
    image's added keys and values (FLF2V with a position embedding over two images)."""
    inner = wan.TINY_TRANSFORMER["num_attention_heads"] * wan.TINY_TRANSFORMER["attention_head_dim"]
    config = {**wan.TINY_TRANSFORMER, "in_channels": 16 * 2 + MASK_CHANNELS, "out_channels": 16}
    if kind in ("i2v", "flf2v"):
        config.update(image_dim=TINY_VISION["hidden_size"], added_kv_proj_dim=inner)
    if kind == "flf2v":
        config.update(pos_embed_seq_len=2 * TINY_IMAGE_TOKENS)
    return config


def tiny_components(dtype: Any = None, seed: int = 0, *, kind: str = "i2v", boundary_ratio: float = 0.9) -> Components:
    """Random tiny components with a Wan image-to-video structure: ``i2v`` (Wan 2.1, a tiny CLIP vision
    encoder and its image processor, 32 x 32 pixels), ``flf2v`` (Wan 2.1 first and last frame: two
    embeddings) or ``a14b`` (Wan 2.2: two experts switching at ``boundary_ratio``, no image encoder).
    Text is 512 tokens, as the stock attention assumes for image models; output is noise."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

    if kind not in KINDS:
        raise ValueError(f"kind {kind!r}: choose {', '.join(KINDS)}")
    experts = 2 if kind == "a14b" else 1
    config = tiny_transformer_config(kind)
    models, vae, text_encoder, vision = build_tiny(seed, lambda: (
        [WanTransformer3DModel(**config) for _ in range(experts)], AutoencoderKLWan(**wan.TINY_VAE),
        UMT5EncoderModel(UMT5Config(**wan.TINY_TEXT)),
        CLIPVisionModel(CLIPVisionConfig(**TINY_VISION)) if experts == 1 else None))
    *models, vae, text_encoder = freeze(*models, vae, text_encoder, dtype=dtype)
    processor = None
    if vision is not None:
        [vision] = freeze(vision, dtype=dtype)
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    c = Components(byte_t5_tokenizer(TEXT_LENGTH), text_encoder, models[0], vae, dict(wan.SCHEDULER), TINY,
                   transformer_2=models[1] if experts > 1 else None,
                   boundary_ratio=boundary_ratio if experts > 1 else None, text_length=TEXT_LENGTH,
                   image_encoder=vision, image_processor=processor)
    return prepare(c)


def save_components(c: Components, folder: str | Path) -> Path:
    """Write the model as the stock ``WanImageToVideoPipeline.save_pretrained`` does (loadable by :func:`load`)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanImageToVideoPipeline

    saved = c.scheduler_config.get("_class_name")
    kind = FlowMatchEulerDiscreteScheduler if saved == "FlowMatchEulerDiscreteScheduler" else UniPCMultistepScheduler
    pipe = WanImageToVideoPipeline(tokenizer=c.tokenizer, text_encoder=c.text_encoder, vae=c.vae,
                                   scheduler=kind.from_config(c.scheduler_config), image_processor=c.image_processor,
                                   image_encoder=c.image_encoder, transformer=c.transformer,
                                   transformer_2=c.transformer_2, boundary_ratio=c.boundary_ratio)
    folder = Path(folder)
    pipe.save_pretrained(folder)
    return folder

