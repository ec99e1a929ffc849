"""A progress bar on stderr: frames done, video time done, wall time elapsed, ETA.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line at
every tenth of the work, or every 1/N with ``STORYBOARD_PROGRESS_STEPS=N`` (the studio
asks for 100). ``quiet`` prints nothing.

The line reads ``LABEL [#####...] NN% D/T frames ...`` (the studio parses this much), where
``T`` is the video's frame count. The work may be counted in other units: a render counts
the frames its backend makes, which include each crossfade's handle (the frames a shot
renders past its end, blended under the next one); those are shown scaled to the video's
frames, so the bar ends at the video's own count.

The ETA is the work left at the rate of the work done since the bar started; what was
already done (reused segments, cached pieces: :meth:`Progress.skip`) counts as done but
not toward the rate.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Callable, TextIO


def clock(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


ETA_AFTER_S = 0.5  # seconds of work before an ETA is given (the first frames' rate says little); from
# then on every line that shows "elapsed 0:01" or more has one


class Progress:
    """Counts work out of ``total`` units, shown as ``frames`` video frames (default: ``total``) at ``fps``."""

    def __init__(self, total: int, fps: int, *, label: str = "render", quiet: bool = False,
                 stream: TextIO | None = None, frames: int | None = None,
                 now: Callable[[], float] = time.monotonic):
        self.total, self.fps, self.label, self.quiet = max(1, total), fps, label, quiet
        self.frames = max(1, frames if frames is not None else total)
        self.stream = stream or sys.stderr
        self.done = 0  # units of work done, skipped ones included
        self.skipped = 0  # units done without work (already cached)
        self._now = now
        self.started = now()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1
        steps = os.environ.get("STORYBOARD_PROGRESS_STEPS", "")
        self._steps = min(1000, max(1, int(steps))) if steps.isdigit() else 10  # lines a run when not on a terminal

    def update(self, done: int) -> None:
        """Set the units of work finished (never moves backwards)."""
        self.done = min(self.total, max(self.done, done))
        self._draw()

    def skip(self, units: int) -> None:
        """Count ``units`` as done without work (reused from the cache): not part of the rate."""
        units = max(0, min(units, self.total - self.done))
        self.done += units
        self.skipped += units
        self._draw()

    def _draw(self) -> None:
        if self.quiet:
            return
        now = self._now()
        if self._tty:
            if now - self._last_draw >= 0.1 or self.done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
        else:
            decile = self.done * self._steps // self.total
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    @property
    def shown(self) -> int:
        """Work done, in video frames."""
        return self.frames if self.done >= self.total else self.done * self.frames // self.total

    def eta_s(self) -> float | None:
        """Seconds left at the rate of the work done so far, or None before :data:`ETA_AFTER_S` of work."""
        elapsed = self._now() - self.started
        worked = self.done - self.skipped
        if self.done >= self.total:
            return 0.0
        if elapsed < ETA_AFTER_S or worked <= 0:
            return None
        return (self.total - self.done) * elapsed / worked

    def line(self) -> str:
        elapsed = self._now() - self.started
        frac = self.done / self.total
        width = 24
        filled = int(width * frac)
        bar = "#" * filled + "." * (width - filled)
        eta = self.eta_s()
        video = f"{clock(self.shown / self.fps)}/{clock(self.frames / self.fps)} video"
        return (f"{self.label} [{bar}] {frac:4.0%} {self.shown}/{self.frames} frames  {video}  "
                f"elapsed {clock(elapsed)}  ETA {'?' if eta is None else clock(eta)}")

    def clear(self) -> None:
        """Blank the bar's line so a message can be printed in its place."""
        if not self.quiet and self._tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def finish(self) -> None:
        if not self.quiet and self._tty:
            self.stream.write("\n")
            self.stream.flush()
