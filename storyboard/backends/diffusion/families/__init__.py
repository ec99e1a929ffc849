"""Model families: one module per diffusers architecture, holding how to drive it.

A family knows its components and how to load them, encode text, shape the latents,
call its denoiser with per-frame conditioning, step its scheduler and decode (the
interface is in :mod:`~storyboard.backends.diffusion.families.base`). The family of a
model comes from its ``model_index.json`` (``_class_name``: the diffusers pipeline it was
saved by), read from the folder, the hub cache, or the hub.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from storyboard.backends.diffusion.loading import (
    hub_offline,
    hub_unreachable,
    load_from,
)
from storyboard.errors import UsageError
from storyboard.plan.models import TINY_FAMILIES, detect_family, supported_pipelines

FAMILIES = ("unet3d", "wan", "ltx")


def family_module(name: str) -> ModuleType:
    """The module of family ``name`` (``unet3d``, ``wan`` or ``ltx``)."""
    if name not in FAMILIES:
        raise UsageError(f"storyboard cannot drive a {name}; it drives these diffusers pipelines: {supported_pipelines()}")
    return importlib.import_module(f"storyboard.backends.diffusion.families.{name}")


def family_of(model_id: str, revision: str | None = None) -> ModuleType:
    """The family that drives ``model_id``: from its ``model_index.json`` (folder, hub cache, then
    the hub unless offline); a model without one is taken for ModelScope's UNet3D."""
    name = detect_family(model_id)
    if name is None and not Path(model_id).expanduser().exists() and model_id.count("/") == 1:
        name = _hub_family(model_id, revision)
    return family_module(name or "unet3d")


def _hub_family(model_id: str, revision: str | None) -> str | None:
    if hub_offline() or hub_unreachable():
        return None  # loading says what is missing, and how to download it
    try:
        from huggingface_hub import hf_hub_download

        path = hf_hub_download(model_id, "model_index.json", revision=revision)
        name = json.loads(Path(path).read_text()).get("_class_name")
    except Exception:  # no such repo, no such file: loading says so
        return None
    from storyboard.plan.models import PIPELINE_FAMILIES

    return PIPELINE_FAMILIES.get(name, name)


def load_components(model_id: str, *, revision: str | None = None, dtype: Any = None) -> tuple[ModuleType, Any]:
    """The model's family and its components (on the CPU, in ``dtype``), from a hub id, a folder
    or a tiny model's id (``tiny-random``, ``tiny-wan``, ``tiny-ltx``).

    Raises :class:`~storyboard.backends.diffusion.loading.ModelUnavailable` before loading
    anything heavy when a folder lacks components, and when the hub cannot provide them;
    :class:`UsageError` for a pipeline no family drives.
    """
    family = family_of(model_id, revision)
    if model_id in TINY_FAMILIES:
        return family, family.tiny_components(dtype=dtype)
    return family, load_from(model_id, revision, family.COMPONENTS,
                             lambda source, kwargs: family.load(source, model_id, kwargs, dtype))
