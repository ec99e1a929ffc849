"""Text on frames (Pillow): shared by the preview backend and the caption burn-in.

Rasterising text is the slow part of drawing a frame, and the same text recurs
over many frames, so text boxes are rendered once into RGBA patches and cached.
"""

from __future__ import annotations

import functools
import textwrap

import numpy as np
from PIL import Image, ImageDraw, ImageFont


@functools.lru_cache(maxsize=16)
def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (no font files needed)."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=512)
def text_patch(text: str, size: int, max_width: int, max_lines: int = 3, centred: bool = False,
               box_alpha: int = 150) -> Image.Image:
    """``text`` wrapped to ``max_width`` pixels on a translucent dark box, as an RGBA image."""
    f = font(size)
    chars = max(8, int(max_width / (size * 0.5)))
    lines = textwrap.wrap(text, chars)[:max_lines] or [""]
    block = "\n".join(lines)
    spacing = size // 4
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), block, font=f, spacing=spacing)
    pad = max(4, size // 3)
    patch = Image.new("RGBA", (right - left + 2 * pad, bottom - top + 2 * pad), (0, 0, 0, box_alpha))
    ImageDraw.Draw(patch).multiline_text((pad - left, pad - top), block, font=f, fill=(255, 255, 255, 255),
                                         spacing=spacing, align="center" if centred else "left")
    return patch


def paste_text(image: Image.Image, text: str, xy: tuple[int, int], size: int, *, max_width: int,
               anchor: str = "lt", max_lines: int = 3) -> None:
    """Composite a cached text patch onto ``image`` (RGB or RGBA), in place.

    ``anchor``: first letter l/m for left or centre of x, second t/m/b for top, middle
    or bottom of y.
    """
    patch = text_patch(text, size, max_width, max_lines, anchor[0] == "m")
    x, y = xy
    if anchor[0] == "m":
        x -= patch.width // 2
    if anchor[1] == "m":
        y -= patch.height // 2
    elif anchor[1] == "b":
        y -= patch.height
    image.paste(patch, (max(0, x), max(0, y)), mask=patch)


def burn_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` (H x W x 3, uint8) with ``text`` as a subtitle at the bottom."""
    h, w = frame.shape[:2]
    image = Image.fromarray(frame)
    size = max(12, h // 18)
    paste_text(image, text, (w // 2, h - size), size, max_width=int(w * 0.85), anchor="mb", max_lines=2)
    return np.asarray(image)
