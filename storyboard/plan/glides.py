"""Glides: weights that carry one prompt into the next, eased or stepped on beats.

A glide is stored as a :class:`Ramp` (its two ends, its curve and, for ``beats``, its
steps), never as a weight per frame: a 12-hour glide costs as little as a 1-second one.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Sequence

from storyboard.plan.easing import ease


@dataclass(frozen=True)
class Ramp:
    """A weight that is 0 at frame ``t0`` and exactly 1 at frame ``t1`` (and after it), along ``curve``.

    For easing curves, frame ``f`` has progress ``(f - t0) / (t1 - t0)``. The ``beats`` curve
    rests between its ``steps`` (frames inside ``(t0, t1)``) and holds ``levels[i]`` from
    ``steps[i]`` on, until it reaches 1 on ``t1``.
    """

    t0: float
    t1: float
    curve: str
    steps: tuple[int, ...] = ()
    levels: tuple[float, ...] = ()

    @classmethod
    def glide(cls, t0: float, t1: float, curve: str, beat_frames: Sequence[int] = (),
              beat_heights: Sequence[float] | None = None) -> "Ramp":
        """A ramp from ``t0`` to ``t1``; a ``beats`` curve steps on the beat frames inside ``(t0, t1)``
        and on ``t1`` itself, each step as high as its ``beat_heights`` entry (equal steps by default)."""
        if curve != "beats":
            return cls(t0, t1, curve)
        lo = bisect.bisect_right(beat_frames, t0)
        hi = bisect.bisect_left(beat_frames, t1)
        heights = beat_heights[lo:hi] if beat_heights is not None else [1.0] * (hi - lo)
        steps = [(b, max(h, 1e-6)) for b, h in zip(beat_frames[lo:hi], heights)]
        last = (sum(h for _, h in steps) / len(steps)) if steps else 1.0
        total = sum(h for _, h in steps) + last
        cumulative = itertools.accumulate(h for _, h in steps)
        return cls(t0, t1, curve, tuple(b for b, _ in steps), tuple(c / total for c in cumulative))

    def at(self, f: int) -> float:
        """The weight at frame ``f``."""
        if self.curve != "beats":
            span = self.t1 - self.t0
            return ease(self.curve, (f - self.t0) / span) if span > 0 else 1.0
        if f >= self.t1:
            return 1.0
        n = bisect.bisect_right(self.steps, f)
        return self.levels[n - 1] if n else 0.0

    def changes(self, first: int, last: int) -> Sequence[int]:
        """Frames ``f`` in ``[first, last]`` where the weight may differ from frame ``f - 1``'s: a
        superset of where it does, in order; at most a few frames beyond the beats' steps."""
        if self.curve == "beats":
            ends = [f for f in (math.ceil(self.t1),) if first <= f <= last]
            lo, hi = bisect.bisect_left(self.steps, first), bisect.bisect_right(self.steps, last)
            return [*self.steps[lo:hi], *ends]
        if self.t1 - self.t0 <= 0:
            return []
        if self.curve == "step":
            f = math.ceil(self.t1)
            return [f] if first <= f <= last else []
        lo, hi = max(first, math.floor(self.t0) + 1), min(last, math.ceil(self.t1 + 1) - 1)
        return range(lo, hi + 1)  # strictly increasing between t0 and t1 (a lazy range: no list per frame)


def glide_weights(
    frames: Sequence[int],
    t0: float,
    t1: float,
    curve: str,
    beat_frames: Sequence[int] = (),
    beat_heights: Sequence[float] | None = None,
) -> list[float]:
    """Weights for ``frames`` of a glide that is 0 at frame ``t0`` and exactly 1 at frame ``t1``
    (see :class:`Ramp`)."""
    ramp = Ramp.glide(t0, t1, curve, beat_frames, beat_heights)
    return [ramp.at(f) for f in frames]
