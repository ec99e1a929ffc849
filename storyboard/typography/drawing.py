"""Text on frames (Pillow): shared by the preview backend, the plot and the caption burn-in.

Fonts, directions and line breaks come from :mod:`storyboard.typography.text`: each character is drawn by
the first font of a Noto fallback chain that has it, right-to-left runs are placed right to left
and shaped by RAQM. Rasterising text is the slow part of drawing a frame, and the same text
recurs over many frames, so text boxes are rendered once into RGBA patches and cached.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from storyboard.typography.text import (
    CAPTION_LINES,
    Run,
    box_padding,
    caption_layout,
    drawable,
    face,
    itemize,
    normalise,
    run_width,
    span_width,
    visual_runs,
    wrap_spans,
)

WHITE = (255, 255, 255, 255)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The first font of the chain (Noto Sans: Latin, Greek, Cyrillic) at ``size`` pixels."""
    return face(0, size)


Placed = tuple[float, float, Run]  # where a run's baseline starts (x, y pixels), and the run


def _layout(text: str, size: int, max_width: int, max_lines: int, centred: bool) -> tuple[list[Placed], float, float]:
    """The runs of ``text`` wrapped to ``max_width`` pixels (at most ``max_lines`` lines), placed
    from the block's top-left, and the block's width and height (pixels). Lines are centred, or
    start on the side the text reads from."""
    a = itemize(normalise(text))
    spans = wrap_spans(a, size, max_width, max_lines)[:max_lines] or [(0, 0)]
    ascent, descent = face(0, size).getmetrics()
    widths = [span_width(a, s, e, size) for s, e in spans]
    block = max(widths)
    placed: list[Placed] = []
    for k, ((start, end), width) in enumerate(zip(spans, widths)):
        x = (block - width) / 2 if centred else (block - width if a.rtl else 0.0)
        for run in visual_runs(a, start, end):
            placed.append((x, k * (ascent + descent) + ascent, run))
            x += run_width(run, size)
    return placed, block, len(spans) * (ascent + descent)


@functools.lru_cache(maxsize=512)
def text_patch(text: str, size: int, max_width: int, max_lines: int = 3, centred: bool = False,
               box_alpha: int = 150) -> Image.Image:
    """``text`` wrapped to ``max_width`` pixels on a translucent dark box, as an RGBA image.

    The box holds the lines' full height (the first font's ascent and descent) and any ink that
    reaches past it, plus :func:`storyboard.typography.text.box_padding` on each side (pixels)."""
    placed, width, height = _layout(text, size, max_width, max_lines, centred)
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = 0.0, 0.0, width, height
    for x, y, run in placed:
        chars, direction = drawable(run)
        if chars:
            box = probe.textbbox((x, y), chars, font=face(run.font, size), anchor="ls", direction=direction)
            left, top, right, bottom = min(left, box[0]), min(top, box[1]), max(right, box[2]), max(bottom, box[3])
    pad = box_padding(size)
    patch = Image.new("RGBA", (math.ceil(right - left) + 2 * pad, math.ceil(bottom - top) + 2 * pad), (0, 0, 0, box_alpha))
    draw = ImageDraw.Draw(patch)
    for x, y, run in placed:
        chars, direction = drawable(run)
        if chars:
            draw.text((x - left + pad, y - top + pad), chars, font=face(run.font, size), fill=WHITE, anchor="ls",
                      direction=direction)
    return patch


def paste_text(image: Image.Image, text: str, xy: tuple[int, int], size: int, *, max_width: int,
               anchor: str = "lt", max_lines: int = 3) -> None:
    """Composite a cached text patch onto ``image`` (RGB or RGBA), in place.

    ``anchor``: first letter l/m for left or centre of x, second t/m/b for top, middle
    or bottom of y (pixels).
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


def _line(text: str, size: int) -> list[tuple[str, str | None, ImageFont.FreeTypeFont | ImageFont.ImageFont]]:
    """``text`` as one line's runs, left to right: (characters, direction, font). Uncached, for text
    that changes every frame."""
    if text.isascii():
        return [(text, None, face(0, size))]
    out = []
    for run in visual_runs(itemize.__wrapped__(text), 0, len(text)):
        chars, direction = drawable(run)
        if chars:
            out.append((chars, direction, face(run.font, size)))
    return out


def line_extent(text: str, size: int) -> float:
    """Width of ``text`` on one line at ``size`` pixels (pixels), uncached."""
    return sum(f.getlength(chars, direction=direction) for chars, direction, f in _line(text, size))


def draw_line(draw: ImageDraw.ImageDraw, xy: tuple[float, float], text: str, size: int,
              fill: tuple[int, ...] = WHITE) -> None:
    """Draw ``text`` on one line from ``xy`` (its top-left, pixels) at ``size`` pixels, uncached."""
    x, y = xy
    baseline = y + face(0, size).getmetrics()[0]
    for chars, direction, f in _line(text, size):
        draw.text((x, baseline), chars, font=f, fill=fill, anchor="ls", direction=direction)
        x += f.getlength(chars, direction=direction)


def burn_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """A copy of ``frame`` (H x W x 3, uint8) with ``text`` as a subtitle at the bottom: at most
    :data:`storyboard.typography.text.CAPTION_LINES` lines inside the frame's safe width, at the size of
    :func:`storyboard.typography.text.caption_layout` (the plan splits longer captions into pages)."""
    h, w = frame.shape[:2]
    size, max_width = caption_layout(w, h)
    image = Image.fromarray(frame)
    paste_text(image, text, (w // 2, h - size), size, max_width=max_width, anchor="mb", max_lines=CAPTION_LINES)
    return np.asarray(image)
