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

from storyboard.backends.diffusion.loading import ModelUnavailable, load_from
from storyboard.backends.registry import FAMILIES, pipeline_family, supported_pipelines, tiny_family
from storyboard.backends.sources import detect_family
from storyboard.errors import UsageError
from storyboard.hub import hub_endpoint, hub_offline, hub_unreachable


def family_module(name: str) -> ModuleType:
    """The module of family ``name``, one of the registry's (:data:`~storyboard.backends.registry.FAMILIES`)."""
    if name not in FAMILIES:
        raise UsageError(f"storyboard cannot drive a {name}; it drives these diffusers pipelines: {supported_pipelines()}")
    return importlib.import_module(f"storyboard.backends.diffusion.families.{name}")


def family_name(model_id: str, revision: str | None = None) -> str:
    """The name of the family that drives ``model_id``, without torch: from its ``model_index.json``
    (folder, hub cache, then the hub unless offline); a model without one is taken for ModelScope's
    UNet3D. Raises ``ModelUnavailable`` for a hub id the hub does not have."""
    name = detect_family(model_id)
    if name is None and not Path(model_id).expanduser().exists() and model_id.count("/") == 1:
        name = _hub_family(model_id, revision)
    return name or "unet3d"


def family_of(model_id: str, revision: str | None = None) -> ModuleType:
    """The family module that drives ``model_id`` (see :func:`family_name`)."""
    return family_module(family_name(model_id, revision))


def _hub_family(model_id: str, revision: str | None) -> str | None:
    """The family a hub model's ``model_index.json`` names (downloaded); None when it cannot be
    read (loading then says why). A repository the hub does not have is refused here, before the
    family's module (and torch) is imported."""
    if hub_offline() or hub_unreachable():
        return None  # loading says what is missing, and how to download it
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        path = hf_hub_download(model_id, "model_index.json", revision=revision)
        name = json.loads(Path(path).read_text()).get("_class_name")
    except GatedRepoError:  # it exists, behind a sign-in: loading says so
        return None
    except RepositoryNotFoundError:
        raise ModelUnavailable(f"model '{model_id}' is not on the Hugging Face hub ({hub_endpoint()}), nor in the "
                               f"local cache: check its name (org/name), or point model.id at a local folder. "
                               f"To check a script without weights use --model preview.") from None
    except Exception:  # no such file, a bad index: loading says so
        return None
    return pipeline_family(name) or name


def load_components(model_id: str, *, revision: str | None = None, dtype: Any = None,
                    family: str | None = None) -> tuple[ModuleType, Any]:
    """The model's family and its components (on the CPU, in ``dtype``), from a hub id, a folder
    or a tiny model's id (``tiny-random``, ``tiny-wan``, ``tiny-ltx``).

    Raises :class:`~storyboard.backends.diffusion.loading.ModelUnavailable` before loading
    anything heavy when a folder lacks components, and when the hub cannot provide them;
    :class:`UsageError` for a pipeline no family drives. ``family``: the family's name, when the
    caller has found it (:func:`family_name`).
    """
    module = family_module(family) if family else family_of(model_id, revision)
    if tiny_family(model_id) is not None:
        return module, module.tiny_components(dtype=dtype)
    return module, load_from(model_id, revision, module.COMPONENTS,
                             lambda source, kwargs: module.load(source, model_id, kwargs, dtype))
