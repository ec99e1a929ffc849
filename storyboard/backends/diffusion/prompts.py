"""Prompt interpolation: spherical interpolation of text embeddings, and the per-frame table a shot reads."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from storyboard.plan.data import FrameCond

if TYPE_CHECKING:
    from storyboard.backends.diffusion.families.base import TextEncoding


def slerp(a: torch.Tensor, b: torch.Tensor, weight: float, *, parallel: float = 0.9995) -> torch.Tensor:
    """Spherical interpolation from ``a`` (weight 0) to ``b`` (weight 1), over the flattened tensors.

    The angle is taken between the whole embeddings (all tokens), as prompt walks
    do; nearly parallel inputs (cosine above ``parallel``) fall back to linear
    interpolation. Computed in float32, returned in ``a``'s dtype.
    """
    if weight <= 0.0:
        return a.clone()
    if weight >= 1.0:
        return b.clone()
    x, y = a.float().flatten(), b.float().flatten()
    cos = torch.dot(x, y) / (x.norm() * y.norm()).clamp_min(1e-12)
    if cos.abs() > parallel:
        out = x + (y - x) * weight
    else:
        theta = torch.arccos(cos.clamp(-1.0, 1.0))
        sin = torch.sin(theta)
        out = (torch.sin((1.0 - weight) * theta) / sin) * x + (torch.sin(weight * theta) / sin) * y
    return out.reshape(a.shape).to(a.dtype)


@dataclass
class PromptTable:
    """Text embeddings ``[L, D]`` of the plan's prompts and of the negative prompt, with their
    attention masks ``[L]`` (bool) when the family's encoder made them.

    Per-frame embeddings are computed when a window needs them (a slerp is cheap
    next to a UNet call); a small cache serves holds and repeated weights without
    letting memory grow with a glide's length.
    """

    prompts: torch.Tensor  # [P, L, D]
    negative: torch.Tensor  # [L, D]
    prompt_masks: torch.Tensor | None = None  # [P, L] bool
    negative_mask: torch.Tensor | None = None  # [L] bool
    cache_size: int = 64
    _cache: OrderedDict[tuple[int, int, float], torch.Tensor] = field(default_factory=OrderedDict)

    @classmethod
    def of(cls, prompts: TextEncoding, negative: TextEncoding, dtype: Any = None) -> "PromptTable":
        """The table of encoded ``prompts`` and the one ``negative`` prompt, embeddings cast to
        ``dtype`` when given; the masks travel with them."""
        cast = (lambda e: e) if dtype is None else (lambda e: e.to(dtype))
        return cls(cast(prompts.embeddings), cast(negative.embeddings[0]), prompts.masks.bool(),
                   negative.masks[0].bool())

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
        """The embeddings ``[F, L, D]`` of a window's frames."""
        return torch.stack([self.frame(c) for c in conds])

    def frame_mask(self, cond: FrameCond) -> torch.Tensor:
        """The mask ``[L]`` of a frame's embedding: prompt ``a``'s, ``b``'s, or their union between the
        two (the slerp carries content in every position either prompt uses)."""
        if self.prompt_masks is None:
            raise ValueError("this prompt table has no attention masks: build it with PromptTable.of from "
                             "the family's encode_prompts")
        if cond.w <= 0.0:
            return self.prompt_masks[cond.a]
        if cond.w >= 1.0:
            return self.prompt_masks[cond.b]
        return self.prompt_masks[cond.a] | self.prompt_masks[cond.b]

    def window_masks(self, conds: list[FrameCond]) -> torch.Tensor:
        """The masks ``[F, L]`` of a window's frames."""
        return torch.stack([self.frame_mask(c) for c in conds])
