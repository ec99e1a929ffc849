"""User time -> seconds -> frames: the one rounding rule, and the reader of written times.

Users write time in seconds, frames, beats or bars. :class:`TimeReader` turns a written
length into seconds at a position on the timeline (a beat's length depends on where
it falls when the tempo drifts); :func:`frame_at` turns seconds into a frame, once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from storyboard.errors import Loc, PlanError
from storyboard.music.grid import Grid
from storyboard.script.timecode import TimeValue


def frame_at(seconds: float, fps: int) -> int:
    """The frame on which time ``seconds`` falls, rounding half up (one rule everywhere)."""
    return math.floor(seconds * fps + 0.5 + 1e-9)


@dataclass
class Problems:
    """Problems found while compiling, each a (field path, message); raised together."""

    items: list[tuple[Loc, str]] = field(default_factory=list)

    def add(self, loc: Loc, message: str) -> None:
        self.items.append((loc, message))

    def raise_if_any(self) -> None:
        """Raise :class:`PlanError` with every problem so far."""
        if self.items:
            raise PlanError(self.items)


@dataclass
class TimeReader:
    """Converts user time to seconds at a position, given fps and an optional beat grid."""

    fps: int
    grid: Grid | None
    beats_per_bar: int
    problems: Problems

    def seconds(self, value: TimeValue, at_s: float, loc: Loc) -> float:
        """Length of ``value`` in seconds when it starts at video time ``at_s``."""
        if value.unit == "s":
            return value.amount
        if value.unit == "f":
            return value.amount / self.fps
        if self.grid is None:
            self.problems.add(loc, f"'{value}' needs a tempo: set 'bpm:' at the top of the script, or add a music track")
            return 0.0
        beats = value.amount * (self.beats_per_bar if value.unit == "bars" else 1)
        return self.grid.time_at(self.grid.beat_at(at_s) + beats) - at_s
