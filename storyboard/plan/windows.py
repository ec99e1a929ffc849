"""Windows: the model's native clip slid over a shot, in frames."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, overload


def windows_for(start: int, end: int, size: int, overlap: int) -> tuple[tuple[int, int], ...]:
    """Windows of ``size`` frames over ``[start, end)``, neighbours sharing at least ``overlap``.

    The stride is ``size - overlap``; the last window is aligned to the end (it may
    overlap its neighbour more). A range shorter than ``size`` is one window.
    """
    return tuple(Windows(start, end, size, overlap))


class Windows(Sequence[tuple[int, int]]):
    """The windows of :func:`windows_for` as a sequence computed on demand: a 12-hour shot's
    100,000 windows cost four numbers. Equal to the tuple of ``(start, end)`` pairs it stands for."""

    __slots__ = ("start", "end", "size", "overlap")

    def __init__(self, start: int, end: int, size: int, overlap: int):
        self.start, self.end, self.size, self.overlap = start, end, size, overlap

    def __reduce__(self) -> tuple[Any, ...]:
        return Windows, (self.start, self.end, self.size, self.overlap)

    @property
    def stride(self) -> int:
        return self.size - self.overlap

    def __len__(self) -> int:
        length = self.end - self.start
        return 1 if length <= self.size else math.ceil((length - self.size) / self.stride) + 1

    @overload
    def __getitem__(self, k: int) -> tuple[int, int]: ...

    @overload
    def __getitem__(self, k: slice) -> tuple[tuple[int, int], ...]: ...

    def __getitem__(self, k: int | slice) -> tuple[int, int] | tuple[tuple[int, int], ...]:
        n = len(self)
        if isinstance(k, slice):
            return tuple(self[i] for i in range(*k.indices(n)))
        if not -n <= k < n:
            raise IndexError(f"window {k} of {n}")
        k %= n
        if n == 1:
            return (self.start, self.end)
        if k == n - 1:
            return (self.end - self.size, self.end)
        return (self.start + k * self.stride, self.start + k * self.stride + self.size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return (self[k] for k in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Windows):
            return tuple(self) == tuple(other)
        if isinstance(other, (tuple, list)):
            return tuple(self) == tuple(tuple(w) for w in other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Windows(start={self.start}, end={self.end}, size={self.size}, overlap={self.overlap})"

    def to_json(self) -> dict[str, int]:
        return {"start": self.start, "end": self.end, "size": self.size, "overlap": self.overlap, "count": len(self)}
