"""A progress bar on stderr: frames done, video time done, wall time elapsed, ETA.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it prints a line at
every tenth of the work, or every 1/N with ``STORYBOARD_PROGRESS_STEPS=N`` (the studio
asks for 100). ``quiet`` prints nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import TextIO


def clock(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss``."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Counts frames out of ``total`` at ``fps`` frames per video second."""

    def __init__(self, total: int, fps: int, *, label: str = "render", quiet: bool = False, stream: TextIO | None = None):
        self.total, self.fps, self.label, self.quiet = max(1, total), fps, label, quiet
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._last_draw = 0.0
        self._last_decile = -1
        steps = os.environ.get("STORYBOARD_PROGRESS_STEPS", "")
        self._steps = min(1000, max(1, int(steps))) if steps.isdigit() else 10  # lines a run when not on a terminal

    def update(self, done: int) -> None:
        """Set the number of frames finished (never moves backwards)."""
        self.done = max(self.done, done)
        if self.quiet:
            return
        now = time.monotonic()
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

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        frac = self.done / self.total
        width = 24
        filled = int(width * frac)
        bar = "#" * filled + "." * (width - filled)
        eta = clock(elapsed / frac - elapsed) if frac >= 0.02 and elapsed >= 1.0 else "?"
        video = f"{clock(self.done / self.fps)}/{clock(self.total / self.fps)} video"
        return f"{self.label} [{bar}] {frac:4.0%} {self.done}/{self.total} frames  {video}  elapsed {clock(elapsed)}  ETA {eta}"

    def clear(self) -> None:
        """Blank the bar's line so a message can be printed in its place."""
        if not self.quiet and self._tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def finish(self) -> None:
        if not self.quiet and self._tty:
            self.stream.write("\n")
            self.stream.flush()
