"""What every family shares, and the interface each family module implements.

A family module (``unet3d``, ``wan``, ``ltx``) drives one diffusers architecture; its entry in
:data:`storyboard.backends.registry.FAMILIES` says what ``validate`` knows of it (time, size
rules, tiny id, schedulers). The module exposes, at module level:

- ``NAME`` (its registry key), ``TINY``, ``PIPELINES``, ``TIMING`` (read from its entry),
  ``COMPONENTS`` (the subfolders it loads);
- ``load(source, model_id, kwargs, dtype) -> Components`` (``from_pretrained`` of a hub id
  or folder, inside :func:`load_errors`);
- ``tiny_components(dtype=None, seed=0) -> Components`` (built with :func:`build_tiny`) and
  ``save_components(c, folder)`` (written by the stock pipeline's ``save_pretrained``);
- ``encode_prompts(c, texts, device) -> TextEncoding`` (embeddings with their masks);
- ``latent_channels(c) -> int``, ``spatial_factor(c) -> int`` (pixels per latent cell);
- ``check_size(c, width, height)`` (``UsageError`` in the registry's words);
- ``scheduler(c, name, latent_shape=None)`` (the family's default when ``name`` is ``"auto"``);
- ``Denoiser(c, table, conds, guidance, dtype)``: a :class:`FrameDenoiser`, called
  ``(x, t, (start, end))`` on latent frames, ``conds`` holding one ``FrameCond`` per latent frame;
- ``decode(c, latents, device, dtype) -> Iterator[np.ndarray]``: ``H x W x 3`` uint8
  frames at the native rate, decoded in chunks so memory stays flat in the shot's length;
- optionally ``timing(c) -> LatentTiming``, when a loaded model's configs change its time.
- optionally ``rollout(c, denoiser, scheduler, noise, mapped, steps, on_step) -> latents``: a family
  that generates a shot chunk by chunk (diffusion forcing, Helios' history) samples it here instead of
  the sliding windows of :func:`~storyboard.backends.diffusion.sampler.sample`; ``noise`` is the
  shot's ``[1, C, latent frames, h, w]``, ``mapped`` its :class:`~storyboard.backends.latents.LatentShot`.

``tests/backends/test_family_contract.py`` walks the registry and checks each module provides these.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence, TypeVar

import torch

from storyboard.backends.diffusion.loading import ModelUnavailable, quiet_libraries
from storyboard.backends.model_checks import missing_message
from storyboard.plan.data import FrameCond

PULSE_GUIDANCE = 0.25  # a beat pulse of 1 raises that latent frame's guidance scale by 25 %
T = TypeVar("T")


# --- text -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextEncoding:
    """Text embeddings ``[P, L, D]`` of ``P`` prompts and their attention masks ``[P, L]`` (bool:
    True on the prompt's own tokens, False on padding), as the family's text encoder made them."""

    embeddings: torch.Tensor
    masks: torch.Tensor

    def __post_init__(self) -> None:
        if tuple(self.masks.shape) != tuple(self.embeddings.shape[:2]):
            raise ValueError(f"masks {tuple(self.masks.shape)} do not match embeddings {tuple(self.embeddings.shape)}")


# --- loading --------------------------------------------------------------------------------


@contextmanager
def load_errors(model_id: str, components: Sequence[str]) -> Iterator[None]:
    """Turn what ``from_pretrained`` raises for missing files (``OSError``, ``ValueError``) into
    :class:`ModelUnavailable` saying what is missing and how to get it."""
    try:
        yield
    except (OSError, ValueError) as exc:  # huggingface_hub raises OSError subclasses for missing files
        text = str(exc).strip()
        first_line = text.splitlines()[0].rstrip(".") if text else type(exc).__name__
        raise ModelUnavailable(missing_message(model_id, first_line, tuple(components))) from None


def freeze(*modules: Any, dtype: Any = None) -> list[Any]:
    """The modules in inference mode (``eval``, no gradients), cast to ``dtype`` when given."""
    out = [m if dtype is None else m.to(dtype) for m in modules]
    for module in out:
        module.eval().requires_grad_(False)
    return out


# --- the denoiser ---------------------------------------------------------------------------


class FrameDenoiser:
    """The sampler's denoiser for one shot: ``conds`` holds one :class:`FrameCond` per latent frame,
    ``guidance`` is the classifier-free guidance scale, ``dtype`` the denoiser's compute dtype.
    A family's subclass defines ``__call__(x, t, (start, end))``; ``calls`` counts them."""

    def __init__(self, table: Any, conds: Sequence[FrameCond], guidance: float, dtype: torch.dtype):
        self.table, self.conds, self.guidance, self.dtype = table, list(conds), float(guidance), dtype
        self.calls = 0

    def window_conds(self, x: torch.Tensor, window: tuple[int, int]) -> list[FrameCond]:
        """The conditions of the window's latent frames ``[start, end)``, checked against ``x``
        ``[B, C, F, h, w]``."""
        start, end = window
        conds = self.conds[start:end]
        if len(conds) != x.shape[2]:
            raise ValueError(f"window ({start}, {end}) covers {x.shape[2]} latent frames, conditions for {len(conds)}")
        return conds

    @staticmethod
    def guide(uncond: torch.Tensor, cond: torch.Tensor, scale: float, conds: Sequence[FrameCond]) -> torch.Tensor:
        """Classifier-free guidance with beat pulses: ``uncond + s_k (cond - uncond)`` for each latent
        frame ``k`` (dimension 2), ``s_k = scale (1 + PULSE_GUIDANCE pulse_k)``."""
        scales = torch.tensor([scale * (1 + PULSE_GUIDANCE * c.pulse) for c in conds], device=uncond.device)
        return uncond + scales.view(1, 1, -1, 1, 1) * (cond - uncond)


# --- tiny offline models --------------------------------------------------------------------


def build_tiny(seed: int, build: Callable[[], T]) -> T:
    """``build()`` run with torch's CPU generator seeded with ``seed`` (and restored afterwards), the
    libraries' progress bars silenced: the random weights of a tiny model, the same on every machine."""
    quiet_libraries()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def byte_clip_tokenizer(max_length: int = 77) -> Any:
    """A CLIP tokenizer over the 256 byte characters (word-internal and word-final), start 512, end 513."""
    from transformers import CLIPTokenizer

    keep = set(range(33, 127)) | set(range(161, 173)) | set(range(174, 256))
    chars, extra = [], 0
    for b in range(256):
        if b in keep:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = 512
    vocab["<|endoftext|>"] = 513
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def byte_t5_tokenizer(max_length: int) -> Any:
    """A T5-like byte tokenizer built in memory: ``<pad>`` 0, ``</s>`` 1 (appended), ``<unk>`` 2, then
    the 256 bytes of the byte-level alphabet, one token each (a ``tokenizers`` BPE with no merges,
    wrapped in ``PreTrainedTokenizerFast``; it saves a ``tokenizer.json`` ``AutoTokenizer`` loads back)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "</s>", "<unk>"]
    vocab = {token: i for i, token in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    inner = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.decoder = decoders.ByteLevel()
    inner.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                         special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=inner, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=max_length)
