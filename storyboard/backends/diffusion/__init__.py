"""The diffusion backend: a model-agnostic windowed sampler, seeded noise, prompt interpolation,
loading, and one module per model family under ``families/``.

Importing this package imports torch; the rest of storyboard imports it only to render.
"""

from storyboard.backends.diffusion.backend import DiffusionBackend

__all__ = ["DiffusionBackend"]
