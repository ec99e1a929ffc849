"""Renders as child processes of the command line, and what their progress events say.

The studio runs ``python -m storyboard render ...`` rather than rendering in its own
process, so that exit codes, Ctrl-C (exit 130, finished segments kept, partial files
removed), output checks and the segment cache are exactly the command line's. Each child
gets a process group of its own; stopping one sends SIGINT to that group, as a terminal's
Ctrl-C would. It writes its progress as JSON lines (``STORYBOARD_PROGRESS=json``, see
:mod:`storyboard.progress`), which are read line by line into a :class:`Status`; any other
line it prints (an error, the summary) is kept as text to show, never parsed.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from storyboard.progress import (
    MODE_ENV,
    Advanced,
    Event,
    Said,
    SegmentsPlanned,
    SegmentStarted,
    Started,
    Wrote,
    from_json,
)

PHASES = ("render", "assemble")  # the progress stages a render's status follows
TAIL = 40  # lines of output kept


@dataclass
class Status:
    """How far a render has come, from its progress events. Times are in seconds."""

    phase: str = "starting"  # starting, render, assemble, then the outcome (done, failed, cancelled, interrupted)
    done: int = 0  # frames finished in this phase
    total: int = 0  # frames in this phase
    segment: int = 0  # the segment being rendered (1-based) of ``segments`` to render
    segments: int = 0
    reused: int = 0  # segments found in the cache
    eta_s: float | None = None
    output: str | None = None  # the video written, once it is
    summary: str | None = None  # what the render wrote, in words, once it has
    lines: list[str] = field(default_factory=list)  # what the child said (not its counts), the last TAIL lines
    _since: tuple[float, int] | None = None  # (time, frames worked) when this phase started

    @property
    def fraction(self) -> float:
        """Of the whole run, 0 to 1: rendering counts 90 %, assembly 10 %."""
        if self.phase == "done":
            return 1.0
        part = self.done / self.total if self.total else 0.0
        return 0.9 * part if self.phase in ("starting", "render") else 0.9 + 0.1 * part if self.phase == "assemble" \
            else 0.0

    def feed(self, line: str, now: float | None = None) -> None:
        """Take one line of the child's output: a progress event, or text it said."""
        event = from_json(line)
        if event is None:
            self._keep(line.rstrip("\n"))
        else:
            self.take(event, now)

    def take(self, event: Event, now: float | None = None) -> None:
        """Take one progress event."""
        now = time.monotonic() if now is None else now
        if isinstance(event, Started) and event.stage in PHASES:
            self.phase, self.done, self.total, self.eta_s = event.stage, 0, event.total, None
            self._since = (now, 0)
        elif isinstance(event, Advanced) and event.stage == self.phase and self._since is not None:
            self.done = event.done
            self.eta_s = self._eta(now, event.done - event.skipped)
        elif isinstance(event, SegmentStarted):
            self.segment, self.segments = event.n, event.of
        elif isinstance(event, SegmentsPlanned):
            self.segments, self.reused = event.todo, event.reused
        elif isinstance(event, Wrote):
            self.output, self.summary = event.path, event.line()
        if isinstance(event, (Said, SegmentsPlanned, SegmentStarted, Wrote)):
            self._keep(event.line())

    def _keep(self, line: str) -> None:
        self.lines = (self.lines + [line])[-TAIL:]

    def _eta(self, now: float, worked: int) -> float | None:
        """Seconds left in this phase at the rate of the frames worked since it started (frames found
        in the cache count as done at once, so they do not make a resumed render look fast)."""
        assert self._since is not None
        since, first = self._since
        if now - since < 1.0 or worked <= first:
            return None
        return (self.total - self.done) * (now - since) / (worked - first)

    def describe(self) -> str:
        """What the render does now, in words (for a running job's message)."""
        if self.phase == "render":
            segment = f": segment {self.segment} of {self.segments}" if self.segments and self.segment else ""
            reused = f" ({self.reused} reused from the cache)" if self.reused else ""
            return f"rendering{segment}{reused}"
        if self.phase == "assemble":
            return "assembling the video"
        return "starting: loading and checking the script" if self.phase == "starting" else self.phase

    def last_words(self) -> str:
        """The child's last lines (what it said when it stopped)."""
        said = [line for line in self.lines if line.strip()]
        return "\n".join(said[-6:])


def child_env() -> dict[str, str]:
    """The environment a child runs in: ours, with progress as JSON lines and this copy of storyboard
    importable."""
    package_parent = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, MODE_ENV: "json", "PYTHONUNBUFFERED": "1",
            "PYTHONPATH": package_parent + (os.pathsep + path if path else "")}


class Child:
    """One ``python -m storyboard ARGS`` in its own process group, its output read line by line."""

    def __init__(self, args: list[str], cwd: Path):
        self.args = [sys.executable, "-m", "storyboard", *args]
        self.process = subprocess.Popen(self.args, cwd=cwd, env=child_env(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        encoding="utf-8", errors="replace", bufsize=1, start_new_session=True)
        self.pid = self.process.pid
        self.started = process_start(self.pid)
        self.stopping = False
        self._said: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        threading.Thread(target=self._read, name=f"storyboard-child-{self.pid}", daemon=True).start()

    def _read(self) -> None:
        """Read the child's output as it comes, whether or not anyone is listening (so that it never
        blocks on a full pipe, even while it cleans up after Ctrl-C)."""
        assert self.process.stdout is not None
        with self.process.stdout:
            for line in self.process.stdout:
                self._said.put(line)
        self._said.put(None)

    def lines(self) -> Iterator[str]:
        """The child's output, line by line, until it closes it."""
        while (line := self._said.get()) is not None:
            yield line

    def interrupt(self) -> None:
        """Ctrl-C: SIGINT to the child's process group (the render stops, keeping finished segments)."""
        self.stopping = True
        signal_group(self.pid, signal.SIGINT)

    def wait(self, timeout: float | None = None) -> int:
        """The exit status (130 after an interruption)."""
        return self.process.wait(timeout)

    def stop(self, grace_s: float = 60.0) -> int:
        """Interrupt, wait up to ``grace_s`` for the child to clean up, then kill it; its exit status."""
        if self.process.poll() is None:
            self.interrupt()
            try:
                return self.wait(grace_s)
            except subprocess.TimeoutExpired:
                signal_group(self.pid, signal.SIGKILL)
        return self.wait()


class Running:
    """The children of one kind that run now (the previews), each with the temporary file it reads:
    so that the studio can stop them all when it stops, and pruning can wait for none to run."""

    def __init__(self, what: str = "a preview"):
        self.what = what
        self.lock = threading.Lock()
        self.children: dict[Child, Path | None] = {}
        self.closed = False
        self.holding: str | None = None  # why no child may start now

    def start(self, args: list[str], cwd: Path, temporary: Path | None = None) -> Child:
        """Start ``python -m storyboard ARGS`` and count it as running until :meth:`done`. Raises
        :class:`storyboard.errors.UsageError` while the studio stops or something holds them off."""
        from storyboard.errors import UsageError

        with self.lock:
            if self.closed:
                raise UsageError("the studio is stopping: nothing new starts")
            if self.holding:
                raise UsageError(f"not started: {self.holding}; try again in a moment")
            child = Child(args, cwd)
            self.children[child] = temporary
            return child

    def done(self, child: Child) -> None:
        with self.lock:
            self.children.pop(child, None)

    def busy(self) -> bool:
        with self.lock:
            return bool(self.children)

    @contextmanager
    def held(self, why: str) -> Iterator[None]:
        """Let no child start while the block runs (``why`` says so to whoever tries); UsageError if one runs."""
        from storyboard.errors import UsageError

        with self.lock:
            if self.children:
                raise UsageError(f"{self.what} is running: wait for it (or stop it) first")
            self.holding = why
        try:
            yield
        finally:
            with self.lock:
                self.holding = None

    def close(self, grace_s: float = 60.0) -> None:
        """Stop every child as Ctrl-C would (SIGINT to its group; SIGKILL after ``grace_s``), remove the
        temporary files they read, and let none start again."""
        with self.lock:
            self.closed = True
            running = list(self.children.items())
        for child, temporary in running:
            child.stop(grace_s)
            if temporary is not None:
                temporary.unlink(missing_ok=True)
            self.done(child)


def signal_group(pid: int, signum: int) -> None:
    """Send ``signum`` to the process group led by ``pid`` (nothing if it is gone)."""
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch, from psutil): with the pid, it names one
    process even after the pid is reused. None where there is no such process running (one that
    exited and waits for its parent to collect its status counts as gone) or it cannot be read."""
    import psutil

    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                return None
            return process.create_time()
    except (psutil.Error, ValueError):  # gone, not ours to read, or a negative pid
        return None


def still_running(pid: int | None, started: float | None) -> bool:
    """Whether the process that was ``pid``, started at ``started``, still runs."""
    return pid is not None and started is not None and process_start(pid) == started
