"""Model families: one module per diffusers architecture, holding how to drive it.

A family knows its components and how to load them, encode text, shape the
latents, call its denoiser with per-frame conditioning and decode. Today:
:mod:`~storyboard.backends.diffusion.families.unet3d` (ModelScope, zeroscope).
"""

from __future__ import annotations

from typing import Any

from storyboard.backends.diffusion.families import unet3d
from storyboard.backends.diffusion.loading import load_from


def load_components(model_id: str, *, revision: str | None = None, dtype: Any = None) -> unet3d.Components:
    """Load a model's components (on the CPU, in ``dtype``) from a hub id, a folder or ``tiny-random``.

    Raises :class:`~storyboard.backends.diffusion.loading.ModelUnavailable` before loading
    anything heavy when a folder lacks components, and when the hub cannot provide them.
    """
    if model_id == unet3d.TINY:
        return unet3d.tiny_components(dtype=dtype)
    return load_from(model_id, revision, unet3d.COMPONENTS,
                     lambda source, kwargs: unet3d.load(source, model_id, kwargs, dtype))
