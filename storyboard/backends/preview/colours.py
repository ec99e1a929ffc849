"""Prompt colours: similar prompts get similar colours, colour words their own colour."""

from __future__ import annotations

import colorsys
import functools
import hashlib
import re

import numpy as np

# Colour words take their own colour (sRGB 0..1); other words hash to a muted colour.
_WORD_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.15, 0.15), "crimson": (0.7, 0.05, 0.2), "orange": (0.95, 0.55, 0.1),
    "amber": (1.0, 0.7, 0.2), "yellow": (0.95, 0.85, 0.2), "golden": (0.95, 0.75, 0.3),
    "gold": (0.95, 0.75, 0.3), "green": (0.2, 0.7, 0.3), "forest": (0.1, 0.4, 0.15),
    "teal": (0.1, 0.55, 0.55), "cyan": (0.2, 0.8, 0.9), "blue": (0.15, 0.35, 0.85),
    "ocean": (0.05, 0.35, 0.6), "sea": (0.1, 0.4, 0.6), "sky": (0.45, 0.7, 0.95),
    "purple": (0.5, 0.2, 0.7), "violet": (0.55, 0.3, 0.85), "pink": (0.95, 0.5, 0.7),
    "magenta": (0.85, 0.2, 0.7), "neon": (0.9, 0.2, 0.8), "white": (0.95, 0.95, 0.95),
    "snow": (0.9, 0.93, 0.97), "black": (0.05, 0.05, 0.05), "grey": (0.5, 0.5, 0.5),
    "gray": (0.5, 0.5, 0.5), "silver": (0.75, 0.77, 0.8), "brown": (0.45, 0.3, 0.15),
    "night": (0.05, 0.07, 0.2), "dark": (0.08, 0.08, 0.12), "dusk": (0.45, 0.25, 0.45),
    "sunset": (0.95, 0.45, 0.25), "sunrise": (0.98, 0.65, 0.4), "dawn": (0.9, 0.6, 0.55),
    "fire": (0.95, 0.35, 0.05), "rain": (0.3, 0.38, 0.48), "fog": (0.7, 0.72, 0.75),
    "desert": (0.85, 0.7, 0.45), "sand": (0.88, 0.78, 0.55), "grass": (0.35, 0.65, 0.2),
    "ice": (0.7, 0.9, 0.98), "light": (0.9, 0.88, 0.8), "space": (0.03, 0.03, 0.1),
}
_COLOUR_WEIGHT = 4.0
_STOP = {"a", "an", "the", "of", "in", "on", "at", "and", "with", "over", "to", "by", "from", "for", "is", "its"}


MIN_SATURATION = 0.45  # HSV saturation of a prompt's colour when no colour word sets it


def _word_colour(word: str) -> tuple[float, float, float]:
    """sRGB 0..1: a hue from the word's hash, fairly saturated (0.5..0.8), mid bright (0.55..0.85)."""
    digest = hashlib.blake2b(word.encode(), digest_size=3).digest()
    return colorsys.hsv_to_rgb(digest[0] / 255, 0.5 + 0.3 * digest[1] / 255, 0.55 + 0.3 * digest[2] / 255)


def _saturated(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` (sRGB 0..1) with its HSV saturation raised to MIN_SATURATION if below: the mean
    of many words' hues tends to grey, and grey prompts all look alike."""
    h, s, v = colorsys.rgb_to_hsv(*rgb)
    return np.asarray(colorsys.hsv_to_rgb(h, max(s, MIN_SATURATION), v))


@functools.lru_cache(maxsize=1024)
def prompt_colours(prompt: str) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom colours (linear RGB, 0..1) of a prompt's gradient.

    The top is the weighted mean colour of the prompt's words; the bottom is the
    mean of its second half, darkened. Sharing words means sharing colour. Without a
    colour word, the mean is kept at least MIN_SATURATION saturated, so prompts differ in hue.
    """
    words = [w for w in re.findall(r"[a-z]+", prompt.lower()) if w not in _STOP] or ["empty"]

    def mean(ws: list[str]) -> np.ndarray:
        total, weight = np.zeros(3), 0.0
        for w in ws:
            k = _COLOUR_WEIGHT if w in _WORD_COLOURS else 1.0
            total += k * np.asarray(_WORD_COLOURS.get(w) or _word_colour(w))
            weight += k
        colour = total / weight
        if not any(w in _WORD_COLOURS for w in ws):
            colour = _saturated(colour)
        return colour ** 2.2  # sRGB-ish -> linear

    top = mean(words)
    bottom = mean(words[len(words) // 2:]) * 0.45
    return top, bottom
