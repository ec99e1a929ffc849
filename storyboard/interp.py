"""Spherical interpolation of prompt embeddings (torch)."""

from __future__ import annotations

import torch


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
