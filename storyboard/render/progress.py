"""A render stage's count of work, told to a progress sink as the video's frames.

A render counts the frames its backend makes, which include each crossfade's handle (the
frames a shot renders past its end, blended under the next one); :class:`FrameTally`
reports them scaled to the video's frames, so a stage's events count up to the video's
own frame count. What was already done (reused segments, cached pieces: :meth:`FrameTally.skip`)
counts as done, and is reported as skipped, so that no one takes it for speed.
"""

from __future__ import annotations

from storyboard.progress import Advanced, Finished, Sink, Started


class FrameTally:
    """Counts ``total`` units of work for ``stage``, reported to ``sink`` as ``frames`` video frames
    (default: ``total``) at ``fps``: one :class:`Started` now, an :class:`Advanced` each time the
    frames shown change, one :class:`Finished` at :meth:`finish`."""

    def __init__(self, sink: Sink, stage: str, total: int, fps: float, *, frames: int | None = None):
        self.sink, self.stage, self.total = sink, stage, max(1, total)
        self.frames = max(1, frames if frames is not None else total)
        self.done = 0  # units of work done, skipped ones included
        self.skipped = 0  # units done without work (already cached)
        self._shown = (-1, -1)
        self._finished = False
        sink(Started(stage, self.frames, "frame", fps=fps))

    def update(self, done: int) -> None:
        """Set the units of work finished (never moves backwards)."""
        self.done = min(self.total, max(self.done, done))
        self._tell()

    def skip(self, units: int) -> None:
        """Count ``units`` as done without work (reused from the cache)."""
        units = max(0, min(units, self.total - self.done))
        self.done += units
        self.skipped += units
        self._tell()

    def shown(self, units: int) -> int:
        """``units`` of work in video frames."""
        return self.frames if units >= self.total else units * self.frames // self.total

    def _tell(self) -> None:
        shown = (self.shown(self.done), self.shown(self.skipped))
        if shown != self._shown:
            self._shown = shown
            self.sink(Advanced(self.stage, *shown))

    def finish(self) -> None:
        """The stage ended (once; again is nothing)."""
        if not self._finished:
            self._finished = True
            self.sink(Finished(self.stage))
