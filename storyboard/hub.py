"""The Hugging Face hub as every room sees it before asking it anything: whether it may be asked
(offline), its address, and whether it answers.

Reads environment variables (and, to tell a folder from a hub id, whether a path exists) only, and opens one TCP connection in :func:`hub_unreachable` (no
torch, no huggingface_hub import). The hub cache's layout and the model sources are the
backends' (:mod:`storyboard.backends.hub`).
"""

from __future__ import annotations

import os
from pathlib import Path

TRUE_VALUES = ("1", "ON", "YES", "TRUE")  # as huggingface_hub reads its boolean variables
HUB_CHECK_S = 3.0  # seconds to wait for the hub before saying it cannot be reached


def hub_offline() -> bool:
    """Whether the hub may not be asked, by huggingface_hub's own rule but read now (not when it was
    imported): ``HF_HUB_OFFLINE``, else ``TRANSFORMERS_OFFLINE``, is one of 1, on, yes, true."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in TRUE_VALUES


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (read now), else https://huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")


def hub_unreachable(timeout_s: float = HUB_CHECK_S) -> str | None:
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
            or model_id.count("/") > 1 or os.sep != "/" and os.sep in model_id)
