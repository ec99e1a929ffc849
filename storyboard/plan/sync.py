"""Music in frames: where the beat grid's beats and bars fall, and moving boundaries onto them."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from storyboard.music.grid import Grid
from storyboard.plan.clock import frame_at


def snap(t: float, after: float, points: Sequence[float], margin: float) -> float:
    """The point nearest ``t`` that is later than ``after`` (by more than ``margin``); ``t`` if none."""
    i = bisect.bisect_left(points, t)
    candidates = [p for p in points[max(0, i - 1): i + 1] if p > after + margin]
    if not candidates:
        later = [p for p in points[i: i + 8] if p > after + margin]
        return later[0] if later else t
    return min(candidates, key=lambda p: abs(p - t))


@dataclass(frozen=True)
class BeatFrames:
    """The beats inside the video as frames (strictly increasing), which of them start bars,
    and each beat's onset strength (the step heights of ``beats`` curves; None without music)."""

    frames: tuple[int, ...] = ()
    downbeats: frozenset[int] = frozenset()
    heights: tuple[float, ...] | None = None


def beat_frames(grid: Grid | None, fps: int, end_s: float, total_frames: int, beats_per_bar: int,
                onset_strength: Callable[[float], float] | None = None) -> BeatFrames:
    """Every beat of ``grid`` from 0 to ``end_s`` (seconds) on its frame; two beats never share one."""
    if grid is None:
        return BeatFrames()
    frames: list[int] = []
    downbeats: set[int] = set()
    first_beat = math.ceil(grid.beat_at(0.0) - 1e-9)
    last_beat = math.floor(grid.beat_at(end_s) + 1e-9)
    for b in range(first_beat, last_beat + 1):
        f = frame_at(grid.time_at(b), fps)
        if 0 <= f < total_frames and (not frames or f > frames[-1]):
            frames.append(f)
            if b % beats_per_bar == 0:
                downbeats.add(f)
    heights = tuple(onset_strength(f / fps) for f in frames) if onset_strength else None
    return BeatFrames(tuple(frames), frozenset(downbeats), heights)
