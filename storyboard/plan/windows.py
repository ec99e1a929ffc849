"""Windows: the model's native clip slid over a shot, in frames."""

from __future__ import annotations

import math


def windows_for(start: int, end: int, size: int, overlap: int) -> tuple[tuple[int, int], ...]:
    """Windows of ``size`` frames over ``[start, end)``, neighbours sharing at least ``overlap``.

    The stride is ``size - overlap``; the last window is aligned to the end (it may
    overlap its neighbour more). A range shorter than ``size`` is one window.
    """
    length = end - start
    if length <= size:
        return ((start, end),)
    stride = size - overlap
    count = math.ceil((length - size) / stride) + 1
    out = [(start + i * stride, start + i * stride + size) for i in range(count - 1)]
    out.append((end - size, end))
    return tuple(out)
