"""Where a ``model.id`` points, found without loading anything: the preview, a tiny model, a
folder, or a hub id found or not in the Hugging Face cache; and what that tells of the model
(its family, its time, its size rule). Reads at most a ``model_index.json`` and two configs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.backends.hub import cached_snapshot
from storyboard.backends.registry import (
    FAMILIES,
    PREVIEW,
    LatentTiming,
    SizeRule,
    named_family,
    pipeline_family,
    tiny_family,
)
from storyboard.hub import looks_local


@dataclass(frozen=True)
class ModelSource:
    """Where a model id points, found without loading anything.

    ``kind``: ``preview``, ``tiny`` (a tiny random model), ``folder``, ``no-folder`` (a path
    that is not a folder), ``cached`` (a hub id in the Hugging Face cache) or ``hub`` (a hub id
    not in the cache). ``folder``: the files (the folder, or the cache's snapshot); ``family``:
    its family when it can be told (else a pipeline name no family drives, or None).
    """

    model_id: str
    kind: str
    folder: Path | None = None
    family: str | None = None

    def read(self, name: str) -> dict[str, Any] | None:
        """The JSON object in the model's file ``name`` (``model_index.json``, ``vae/config.json``),
        or None when there is no folder, no such file, or no object in it."""
        if self.folder is None:
            return None
        try:
            data = json.loads((self.folder / name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def locate_model(model_id: str, revision: str | None = None) -> ModelSource:
    """Where ``model_id`` points (see :class:`ModelSource`); reads at most one ``model_index.json``."""
    if model_id == PREVIEW:
        return ModelSource(model_id, "preview")
    tiny = tiny_family(model_id)
    if tiny is not None:
        return ModelSource(model_id, "tiny", family=tiny)
    if looks_local(model_id):
        folder = Path(model_id).expanduser()
        if not folder.is_dir():
            return ModelSource(model_id, "no-folder")
        return ModelSource(model_id, "folder", folder, index_family(folder))
    snapshot = cached_snapshot(model_id, revision)
    if snapshot is not None:
        return ModelSource(model_id, "cached", snapshot, index_family(snapshot) or named_family(model_id))
    return ModelSource(model_id, "hub", family=named_family(model_id))


def index_family(folder: Path) -> str | None:
    """The family a folder's ``model_index.json`` names (its pipeline's name when no family drives
    it); None without one."""
    index = ModelSource("", "folder", folder).read("model_index.json") or {}
    name = index.get("_class_name")
    return (pipeline_family(name) or name) if isinstance(name, str) else None


def detect_family(model_id: str) -> str | None:
    """The family of a model id without loading anything (see :func:`locate_model`)."""
    return locate_model(model_id).family


def model_timing(model_id: str) -> tuple[str | None, LatentTiming | None]:
    """The family of ``model_id`` and its time (as its ``model_index.json`` may say, like TI2V-5B's
    ``expand_timesteps``); ``(None, None)`` when the family cannot be told without loading it."""
    source = locate_model(model_id)
    family = FAMILIES.get(source.family or "")
    if family is None:
        return source.family, None
    return source.family, family.timing_of(source.read("model_index.json") or {},
                                           source.read(f"{family.denoiser}/config.json") or {})


def source_size_rule(source: ModelSource) -> SizeRule | None:
    """The size rule of a located model: a tiny model's, its configs' (folder or cached), else its
    family's base rule; None for the preview, or when the family is unknown."""
    family = FAMILIES.get(source.family or "")
    if family is None:
        return None
    if source.kind == "tiny":
        return family.tiny_rule
    vae, denoiser = source.read("vae/config.json"), source.read(f"{family.denoiser}/config.json")
    if vae is None or denoiser is None:
        return family.base_rule
    try:
        return family.rule(vae, denoiser)
    except (TypeError, ValueError):  # a config of the wrong shape: the loader will say
        return family.base_rule
