"""The Hugging Face hub's cache as the backends read it before anything heavy is imported: its file
layout, and whether a model id names a folder or a cached snapshot. Whether the hub may be asked,
its address and whether it answers are every room's (:mod:`storyboard.hub`).

Reads environment variables and files only (no torch, no network, no huggingface_hub import).
"""

from __future__ import annotations

import os
from pathlib import Path


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub finds it (read now): ``HF_HUB_CACHE``,
    ``HUGGINGFACE_HUB_CACHE``, ``HF_HOME/hub``, ``XDG_CACHE_HOME/huggingface/hub``, else
    ``~/.cache/huggingface/hub``."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = Path(os.environ["XDG_CACHE_HOME"]).expanduser() if os.environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def looks_local(model_id: str) -> bool:
    """Whether ``model_id`` names a folder (as the loader reads it) rather than a hub id."""
    return (Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))
            or model_id.count("/") > 1 or os.sep != "/" and os.sep in model_id)


def cached_snapshot(model_id: str, revision: str | None = None) -> Path | None:
    """The hub cache's folder of ``model_id`` at ``revision`` (a branch, tag or commit; the default
    branch when None) when it holds a ``model_index.json``; None otherwise. The cache's layout:
    ``models--{org}--{name}/refs/{revision}`` holds a commit, ``snapshots/{commit}/`` the files."""
    repo = hub_cache_dir() / f"models--{model_id.replace('/', '--')}"
    wanted = revision or "main"
    try:
        commit = (repo / "refs" / wanted).read_text().strip()
    except (OSError, ValueError):
        commit = wanted if revision else ""
    candidates = [repo / "snapshots" / commit] if commit else []
    if not revision:  # no ref: any snapshot (one downloaded by commit)
        try:
            candidates += sorted(p for p in (repo / "snapshots").iterdir() if p.is_dir())
        except OSError:
            pass
    return next((c for c in candidates if (c / "model_index.json").is_file()), None)
