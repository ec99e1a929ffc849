"""The diffusion backend: a model-agnostic windowed sampler, seeded noise, prompt interpolation,
loading, and one module per model family under ``families/``.

Importing this package imports nothing heavy: ``loading`` (finding a model) is torch-free, and
``DiffusionBackend`` (which imports torch) loads when it is first asked for.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DiffusionBackend"]


def __getattr__(name: str) -> Any:
    if name == "DiffusionBackend":
        from storyboard.backends.diffusion.backend import DiffusionBackend

        return DiffusionBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
