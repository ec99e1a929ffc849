"""Glides: per-frame weights that carry one prompt into the next, eased or stepped on beats."""

from __future__ import annotations

import bisect
import itertools
from typing import Sequence

from storyboard.plan.easing import ease


def glide_weights(
    frames: Sequence[int],
    t0: float,
    t1: float,
    curve: str,
    beat_frames: Sequence[int] = (),
    beat_heights: Sequence[float] | None = None,
) -> list[float]:
    """Weights for ``frames`` of a glide that is 0 at frame ``t0`` and exactly 1 at frame ``t1``.

    For easing curves, frame ``f`` has progress ``(f - t0) / (t1 - t0)``. The ``beats``
    curve advances only on the beat frames inside ``(t0, t1)`` and on ``t1`` itself,
    each step as high as its ``beat_heights`` entry (equal steps by default), and rests
    between them.
    """
    if curve != "beats":
        span = t1 - t0
        return [ease(curve, (f - t0) / span) if span > 0 else 1.0 for f in frames]
    steps: list[tuple[float, float]] = []
    heights = list(beat_heights) if beat_heights is not None else [1.0] * len(beat_frames)
    for b, h in zip(beat_frames, heights):
        if t0 < b < t1:
            steps.append((b, max(h, 1e-6)))
    steps.append((t1, (sum(h for _, h in steps) / len(steps)) if steps else 1.0))
    total = sum(h for _, h in steps)
    cumulative = list(itertools.accumulate(h for _, h in steps))
    positions = [b for b, _ in steps]
    out = []
    for f in frames:
        n = bisect.bisect_right(positions, f)
        out.append(1.0 if f >= t1 else (cumulative[n - 1] / total if n else 0.0))
    return out
