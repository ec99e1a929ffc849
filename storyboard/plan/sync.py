"""Music in frames: where the beat grid's beats and bars fall, and moving boundaries onto them."""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from storyboard.music.grid import Grid
from storyboard.plan.times import frame_at


def snap(t: float, after: float, points: Sequence[float], margin: float, reach: float = math.inf) -> float | None:
    """The point nearest ``t`` (seconds) that is later than ``after`` by more than ``margin`` and
    at most ``reach`` seconds from ``t``; None when there is none (the boundary stays as written).

    ``points`` are sorted. Two bisections: no loop over the points, however far they lie.
    """
    i = bisect.bisect_left(points, t)
    first_later = bisect.bisect_right(points, after + margin)
    candidates = [p for p in points[max(0, i - 1): i + 1] if p > after + margin]
    if first_later < len(points):
        candidates.append(points[first_later])
    if not candidates:
        return None
    best = min(candidates, key=lambda p: abs(p - t))
    return best if abs(best - t) <= reach + 1e-9 else None


def snap_reach(grid: Grid | None, t: float, sync: str, beats_per_bar: int, points: Sequence[float]) -> float:
    """How far (seconds) sync may move a boundary at ``t``: one beat there, one bar with ``sync: bars``.

    Inside the music the nearest beat is never more than half a beat away; the second half
    lets a boundary whose nearest beat the previous boundary already took (a scene shorter
    than a beat) land on the next one. A snap point further away than that means the
    boundary lies outside the music (before it starts, after it ends, or in a gap between
    onsets), where moving it would change the scene's length by more than a beat.
    Without a grid (``compile_plan`` given points only): the points' mean spacing.
    """
    if grid is None:
        return (points[-1] - points[0]) / (len(points) - 1) if len(points) > 1 else 0.0
    beat = grid.beat_at(t)
    return (grid.time_at(beat + 0.5) - grid.time_at(beat - 0.5)) * (beats_per_bar if sync == "bars" else 1)


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
        if f >= total_frames:
            break  # beats only grow later: none of the rest falls inside the video
        if 0 <= f and (not frames or f > frames[-1]):
            frames.append(f)
            if b % beats_per_bar == 0:
                downbeats.add(f)
    heights = tuple(onset_strength(f / fps) for f in frames) if onset_strength else None
    return BeatFrames(tuple(frames), frozenset(downbeats), heights)
