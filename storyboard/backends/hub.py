"""The Hugging Face hub as storyboard sees it before anything heavy is imported: its cache's file
layout, whether it may be asked (offline), its address and whether it answers.

Reads environment variables and files only (no torch, no network but :func:`hub_unreachable`'s
one connection, no huggingface_hub import).
"""

from __future__ import annotations

import os
from pathlib import Path

TRUE_VALUES = ("1", "ON", "YES", "TRUE")  # as huggingface_hub reads its boolean variables


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


def hub_offline() -> bool:
    """Whether the hub may not be asked, by huggingface_hub's own rule but read now (not when it was
    imported): ``HF_HUB_OFFLINE``, else ``TRANSFORMERS_OFFLINE``, is one of 1, on, yes, true."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in TRUE_VALUES


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (read now), else https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """Why the Hugging Face hub (``HF_ENDPOINT``) cannot be reached within ``timeout_s`` seconds, or
    None when a connection opens. A TCP connection, not a download: no retries, no waiting."""
    import socket
    from urllib.parse import urlsplit

    endpoint = hub_endpoint()
    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{endpoint}: {exc.strerror or type(exc).__name__}"


def looks_local(model_id: str) -> bool:
    """Whether ``model_id`` names a folder (as the loader reads it) rather than a hub id."""
    return (Path(model_id).expanduser().exists() or model_id.startswith((".", "/", "~"))
            or model_id.count("/") > 1)


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
