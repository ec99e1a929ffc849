"""The preview backend: an animatic of the plan drawn with numpy and Pillow, no torch."""

from storyboard.backends.preview.animatic import PreviewBackend
from storyboard.backends.preview.colours import prompt_colours

__all__ = ["PreviewBackend", "prompt_colours"]
