"""Progress as one typed stream of events, drawn for people or written as JSON lines for programs.

Whatever does long work (rendering segments, assembling the MP4, synthesising narration)
tells a :data:`Sink` what happens as small frozen events: a stage :class:`Started` with a
total in some unit, :class:`Advanced` to a count, :class:`Finished`; something
:class:`Said` (a note or a warning); and the render's own facts (:class:`SegmentsPlanned`,
:class:`SegmentStarted`, :class:`Wrote`). Counts never move backwards, and a stage's last
count is its total.

Sinks:

- :class:`Console`: for people, on stderr. A tqdm bar per stage on a terminal; elsewhere
  (CI logs, pipes) a plain line at every tenth of a stage's work, or every 1/N with
  ``STORYBOARD_PROGRESS_STEPS=N``.
- :class:`JsonLines`: one JSON object a line (:func:`to_json`; read back with
  :func:`from_json`), for the studio and the farm. ``STORYBOARD_PROGRESS=json`` makes a
  command write these on stderr instead of drawing (:func:`default_sink`).
- :func:`silent`: nothing (``-q``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, TextIO, Union

from storyboard.words import plural

MODE_ENV = "STORYBOARD_PROGRESS"  # "json": events as JSON lines on stderr
STEPS_ENV = "STORYBOARD_PROGRESS_STEPS"  # plain lines a stage when not on a terminal (default 10)
JSON_STEPS = 100  # a JSON sink writes a stage's count at each 1/JSON_STEPS of its work (and its first and last)
ETA_AFTER_S = 0.5  # seconds of work before an ETA is given (the first frames' rate says little)
LABELS = {"speak": "speaking narration"}  # a stage's name on its bar, where it is not the stage itself


@dataclass(frozen=True)
class Started:
    """A stage began: ``total`` units of work (``unit``: ``frame``, ``word``) in ``parts`` parts
    (``part_unit``: ``scene``; 0 when the work has no parts). ``fps``: frames a second of video,
    when the unit is a video frame (the count is then shown as video time too)."""

    stage: str
    total: int
    unit: str
    fps: float = 0.0
    parts: int = 0
    part_unit: str = ""


@dataclass(frozen=True)
class Advanced:
    """A stage's count: ``done`` units finished (never fewer than before), of which ``skipped``
    were found done (cached) rather than worked (they do not count toward the rate); ``parts``:
    the parts finished."""

    stage: str
    done: int
    skipped: int = 0
    parts: int = 0


@dataclass(frozen=True)
class Finished:
    """A stage ended (its work done, or stopped)."""

    stage: str


@dataclass(frozen=True)
class Said:
    """A line for whoever watches: ``level`` ``info`` or ``warning``."""

    text: str
    level: str = "info"

    def line(self) -> str:
        return self.text


@dataclass(frozen=True)
class SegmentsPlanned:
    """A render's segments: ``segments`` in all, ``todo`` to render, the rest reused from ``cache`` (a folder)."""

    segments: int
    todo: int
    cache: str

    @property
    def reused(self) -> int:
        return self.segments - self.todo

    def line(self) -> str:
        return f"{self.segments} segments: {self.todo} to render, {self.reused} reused from {self.cache}"


@dataclass(frozen=True)
class SegmentStarted:
    """Segment ``n`` of the ``of`` to render began: shot ``shot`` of ``scenes`` (their ids), ``frames``
    frames at ``fps``; ``worker``: the farm's worker (1-based) that renders it, 0 for this process."""

    n: int
    of: int
    shot: int
    scenes: tuple[str, ...]
    frames: int
    fps: float
    worker: int = 0

    def line(self) -> str:
        where = f" on worker {self.worker}" if self.worker else ""
        return (f"segment {self.n}/{self.of}: shot {self.shot} ({', '.join(self.scenes)}), {self.frames} frames "
                f"({clock(self.frames / self.fps)} of video){where}")


@dataclass(frozen=True)
class Wrote:
    """A render's video was written: ``path`` (and ``subtitles``), ``duration_s`` seconds of video in
    ``frames`` frames of ``width`` x ``height`` at ``fps``, in ``seconds`` of wall time, with
    ``rendered`` segments rendered and ``reused`` reused."""

    path: str
    subtitles: tuple[str, ...]
    duration_s: float
    frames: int
    width: int
    height: int
    fps: float
    seconds: float
    rendered: int
    reused: int

    def line(self) -> str:
        extra = "".join(f" and {p}" for p in self.subtitles)
        return (f"wrote {self.path}{extra}: {self.duration_s:.3f} s, {self.frames} frames, {self.width}x{self.height} "
                f"at {self.fps:g} fps, in {self.seconds:.1f} s ({self.rendered} segments rendered, {self.reused} reused)")


Event = Union[Started, Advanced, Finished, Said, SegmentsPlanned, SegmentStarted, Wrote]
Sink = Callable[[Event], None]
EVENTS: dict[str, type] = {cls.__name__: cls for cls in (Started, Advanced, Finished, Said, SegmentsPlanned,
                                                         SegmentStarted, Wrote)}


def to_json(event: Event) -> str:
    """One line of JSON: ``{"event": "Advanced", "stage": "render", "done": 120, ...}``."""
    return json.dumps({"event": type(event).__name__, **dataclasses.asdict(event)}, separators=(",", ":"))


def from_json(line: str) -> Event | None:
    """The event a line of :func:`to_json` holds, or None when the line is not one (other output)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        data = json.loads(line)
        cls = EVENTS[data.pop("event")]
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def silent(event: Event) -> None:
    """A sink that shows nothing."""


def clock(seconds: float) -> str:
    """``h:mm:ss`` or ``m:ss`` (seconds rounded to the nearest)."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def default_sink(quiet: bool = False, stream: TextIO | None = None) -> Sink:
    """JSON lines on stderr when ``STORYBOARD_PROGRESS=json`` (even when ``quiet``: a program reads them),
    else nothing when ``quiet``, else a :class:`Console` on ``stream`` (stderr)."""
    if os.environ.get(MODE_ENV, "") == "json":
        return JsonLines(sys.stderr)
    return silent if quiet else Console(stream)


class JsonLines:
    """Writes each event as a line of JSON (:func:`to_json`), flushed; a stage's counts at each
    1/:data:`JSON_STEPS` of its work (and its first and last)."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self._totals: dict[str, int] = {}
        self._step: dict[str, tuple[int, int]] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self._totals[event.stage], self._step[event.stage] = max(1, event.total), (-1, -1)
        elif isinstance(event, Advanced) and event.stage in self._totals:
            total = self._totals[event.stage]
            step = (event.done * JSON_STEPS // total, event.parts)
            if step == self._step[event.stage] and event.done < total:
                return
            self._step[event.stage] = step
        self.stream.write(to_json(event) + "\n")
        self.stream.flush()


@dataclass
class Stage:
    """What a :class:`Console` knows of a stage under way."""

    started: Started
    since: float  # when it started (seconds, monotonic)
    done: int = 0
    skipped: int = 0
    parts: int = 0
    step: int = -1  # the last 1/N of the work a plain line was printed for
    said: tuple[int, int] = (-1, -1)  # the counts (units, parts) the last plain line showed
    bar: Any = None  # its tqdm bar, on a terminal
    bar_skipped: int = 0  # the skipped units the bar has taken in (outside its rate)

    @property
    def label(self) -> str:
        return LABELS.get(self.started.stage, self.started.stage)

    def eta_s(self, now: float) -> float | None:
        """Seconds left at the rate of the work done so far (skipped units aside), or None before
        :data:`ETA_AFTER_S` of work."""
        total, worked = max(1, self.started.total), self.done - self.skipped
        if self.done >= total:
            return 0.0
        if now - self.since < ETA_AFTER_S or worked <= 0:
            return None
        return (total - self.done) * (now - self.since) / worked

    def line(self, now: float) -> str:
        """``render [###.....]  49% 359/719 frames  0:15/0:30 video  elapsed 0:10  ETA 0:10`` for video
        frames, ``speaking narration: 12/40 scenes, 310/1200 words`` for other work."""
        s = self.started
        if not s.fps:
            parts = f"{self.parts}/{plural(s.parts, s.part_unit)}, " if s.parts else ""
            return f"{self.label}: {parts}{self.done}/{plural(s.total, s.unit)}"
        total = max(1, s.total)
        filled = 24 * self.done // total
        eta = self.eta_s(now)
        video = f"{clock(self.done / s.fps)}/{clock(s.total / s.fps)} video"
        return (f"{self.label} [{'#' * filled}{'.' * (24 - filled)}] {100 * self.done // total:3d}% {self.done}/{s.total} "
                f"{s.unit}s  {video}  elapsed {clock(now - self.since)}  ETA {'?' if eta is None else clock(eta)}")


class Console:
    """Draws events for people on ``stream`` (stderr): a tqdm bar per stage on a terminal, else a plain
    line at every 1/N of a stage's work (:data:`STEPS_ENV`, default 10) and at its end; said lines
    above the bars. :class:`Wrote` is left to the command, which prints it as its result."""

    def __init__(self, stream: TextIO | None = None, *, now: Callable[[], float] = time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self._now = now
        self.tty = _is_terminal(self.stream)
        steps = os.environ.get(STEPS_ENV, "")
        self.steps = min(1000, max(1, int(steps))) if steps.isdigit() else 10
        self.stages: dict[str, Stage] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, Started):
            self.stages[event.stage] = stage = Stage(event, self._now())
            if self.tty:
                stage.bar = self._bar(stage)
            self._draw(stage)
        elif isinstance(event, Advanced) and event.stage in self.stages:
            stage = self.stages[event.stage]
            stage.done = min(max(1, stage.started.total), max(stage.done, event.done))
            stage.skipped, stage.parts = event.skipped, max(stage.parts, event.parts)
            self._draw(stage)
        elif isinstance(event, Finished) and event.stage in self.stages:
            self._end(self.stages.pop(event.stage))
        elif isinstance(event, (Said, SegmentsPlanned, SegmentStarted)):
            self._say(event.line())

    def _bar(self, stage: Stage) -> Any:
        from tqdm import tqdm

        s = stage.started
        bar = tqdm(total=s.total, unit=s.unit, desc=stage.label, file=self.stream, leave=bool(s.fps),
                   dynamic_ncols=True)
        if s.parts or s.fps:
            bar.set_postfix_str(f"0/{plural(s.parts, s.part_unit)}" if s.parts else
                                f"0:00/{clock(s.total / s.fps)} video", refresh=False)
        return bar

    def _draw(self, stage: Stage) -> None:
        if stage.bar is not None:
            self._draw_bar(stage)
            return
        step = stage.done * self.steps // max(1, stage.started.total)
        if step != stage.step:
            stage.step = step
            self._plain(stage)

    def _draw_bar(self, stage: Stage) -> None:
        """Move the stage's bar (tqdm redraws it at most 10 times a second); its postfix says the video
        time done, or the parts done (a part finished redraws it at once)."""
        s, bar = stage.started, stage.bar
        if s.fps:
            bar.set_postfix_str(f"{clock(stage.done / s.fps)}/{clock(s.total / s.fps)} video", refresh=False)
        found = stage.skipped - stage.bar_skipped
        if found > 0:  # done without work (reused): on the bar, but not in its rate, so the ETA is the work's
            stage.bar_skipped = stage.skipped
            bar.n += found
            bar.last_print_n += found
            bar.initial += found
        bar.update(stage.done - bar.n)
        parts = f"{stage.parts}/{plural(s.parts, s.part_unit)}"
        if s.parts and bar.postfix != parts:
            bar.set_postfix_str(parts)

    def _plain(self, stage: Stage) -> None:
        stage.said = (stage.done, stage.parts)
        self.stream.write(stage.line(self._now()) + "\n")
        self.stream.flush()

    def _end(self, stage: Stage) -> None:
        if stage.bar is not None:
            stage.bar.close()
        elif (stage.done, stage.parts) != stage.said:
            self._plain(stage)  # the last count, unless the last line said it

    def _say(self, text: str) -> None:
        if self.tty and any(s.bar is not None for s in self.stages.values()):
            from tqdm import tqdm

            tqdm.write(text, file=self.stream)
        else:
            self.stream.write(text + "\n")
            self.stream.flush()


def _is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal with a width (a pseudo-terminal of 0 columns draws no bar)."""
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError):
        return False
    try:
        return os.get_terminal_size(stream.fileno()).columns > 0
    except (AttributeError, OSError, ValueError):
        return True  # a terminal that does not say its size
