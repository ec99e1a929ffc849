"""Easing curves: maps from progress ``u`` in [0, 1] to weight in [0, 1].

Every curve is monotonic, starts at exactly 0 and ends at exactly 1. The
``beats`` curve is not here: it depends on the beat grid and lives in
:mod:`storyboard.plan.compile`.
"""

from __future__ import annotations

import math
from typing import Callable

Easing = Callable[[float], float]


def linear(u: float) -> float:
    return u


def ease_in(u: float) -> float:
    """Cubic ease-in: slow start."""
    return u * u * u


def ease_out(u: float) -> float:
    """Cubic ease-out: slow end."""
    v = 1.0 - u
    return 1.0 - v * v * v


def ease_in_out(u: float) -> float:
    """Cosine ease-in-out: slow at both ends."""
    return 0.5 - 0.5 * math.cos(math.pi * u)


def smooth(u: float) -> float:
    """Smootherstep (Perlin): zero first and second derivative at both ends."""
    return u * u * u * (u * (u * 6.0 - 15.0) + 10.0)


def step(u: float) -> float:
    """Jump at the end: hold the first prompt, then switch."""
    return 1.0 if u >= 1.0 else 0.0


EASINGS: dict[str, Easing] = {
    "linear": linear,
    "ease-in": ease_in,
    "ease-out": ease_out,
    "ease-in-out": ease_in_out,
    "smooth": smooth,
    "step": step,
}

CURVE_NAMES = (*EASINGS, "beats")


def ease(name: str, u: float) -> float:
    """Apply curve ``name`` to progress ``u`` (clamped to [0, 1])."""
    u = 0.0 if u <= 0.0 else 1.0 if u >= 1.0 else u
    return EASINGS[name](u)
