"""The farm's worker: a Ray actor that holds the model and renders one shot per call.

A worker opens the backend once, on the driver's first call (a diffusion model's
weights load then), and keeps it for every shot it is given. ``render(plan, shot, key)``
renders the shot exactly as a local render does
(:func:`storyboard.render.render_segment`: the backend's frames into the
near-lossless segment, and the shot's plain runs straight into their final-quality
pieces) in a private scratch folder, then returns the files' bytes with their notes, and
deletes the folder. It writes nothing anywhere else, so a call is idempotent: run again
(after a crash), it gives the same frames and pieces.

``render`` is a Ray streaming generator: it yields :class:`Tick` progress reports at
fixed frame counts, then one :class:`ShotResult`. The ticks are the same on every run of
a shot, which Ray's retry needs: when a worker dies mid-shot, Ray restarts it and runs
the call again, skipping the items the driver already received.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from storyboard.files import process_alive
from storyboard.plan.data import Plan, ShotPlan

MAX_RESTARTS = 3  # Ray restarts a worker that died (its process or its machine) this many times ...
MAX_TASK_RETRIES = 3  # ... and runs the shot it was rendering again this many times; both default to 0 in Ray
TICKS = 24  # progress reports per shot
SCRATCH_PREFIX = "storyboard-farm-"
PAUSE_ENV = "STORYBOARD_FARM_TEST_PAUSE"  # tests only: a folder of shot-<n>.armed files (see pause_if_armed)
_SCRATCH = re.compile(rf"^{SCRATCH_PREFIX}(\d+)-")


@dataclass(frozen=True)
class Tick:
    """Progress of a shot on a worker: ``frames`` of its ``shot.length`` done (sampling counts as up to 90 %)."""

    shot: int
    frames: int
    pid: int


@dataclass(frozen=True)
class FileBytes:
    """A cache entry made by a worker: its file name, bytes and note (JSON: size, frames, SHA-256)."""

    name: str
    data: bytes
    note: bytes


@dataclass(frozen=True)
class ShotResult:
    """A rendered shot: its segment and its plain pieces, and who made them in how many seconds."""

    shot: int
    key: str
    segment: FileBytes
    pieces: tuple[FileBytes, ...]
    pid: int
    host: str
    busy_s: float


class Ticker:
    """Stands in for the render's :class:`~storyboard.render.FrameTally` in
    :func:`~storyboard.render.render_segment`: posts a :class:`Tick` each time the shot crosses one of
    :data:`TICKS` fixed frame counts (so every run of a shot posts the same ticks). The driver turns the
    ticks of every worker into one render stage's progress events."""

    def __init__(self, shot: ShotPlan, post: Callable[[Tick], None]):
        self.shot, self.post = shot, post
        self.done = 0
        self.step = max(1, -(-shot.length // TICKS))  # at most TICKS ticks (and one at the end)

    def update(self, done: int) -> None:
        if done <= self.done:
            return
        before, self.done = self.done, done
        if before < self.shot.length // 2 <= done:
            pause_if_armed(self.shot.index)
        if done // self.step > before // self.step or done == self.shot.length:
            self.post(Tick(self.shot.index, done, os.getpid()))


class ShotWorker:
    """Renders shots with one backend, opened once (wrapped by :func:`actor_class` for Ray).

    Every call names the plan as ``[ref]``, a reference to it in Ray's object store, in a list so
    that Ray passes the reference itself: the worker fetches the plan and opens its backend on the
    first call, and again only for another plan (or after a restart, from the driver, which keeps
    the plan). A :class:`Plan` itself does as well (without Ray).
    """

    def __init__(self, output: str):
        """``output``: the video's path on the driver (each segment's note records it, as a local render's does)."""
        sweep_scratch()
        self.output = Path(output)
        self.source: str | None = None
        self.plan: Plan | None = None
        self.backend: Any = None
        self.segments: list[Any] = []

    def load(self, plan: Plan | list[Any]) -> Plan:
        """The plan of this call, with its backend open (loaded once per plan) and its segment keys."""
        from storyboard.backends import open_backend
        from storyboard.render import SegmentCache, plan_segments

        if plan is self.plan or (isinstance(plan, list) and plan[0].hex() == self.source):
            return self.plan
        source = None
        if isinstance(plan, list):
            import ray

            source, plan = plan[0].hex(), ray.get(plan[0])
        self.close()
        # Keys computed here, by this machine's code: a shot whose key differs from the driver's is refused.
        self.segments = plan_segments(plan, SegmentCache(Path(tempfile.gettempdir()) / f"{SCRATCH_PREFIX}none"))
        self.backend = open_backend(plan.model.id, plan)
        self.plan, self.source = plan, source
        return plan

    def describe(self, plan: Plan | list[Any]) -> dict[str, Any]:
        """Load the plan's backend, and say who this worker is: process, machine, storyboard's backend identity
        and ffmpeg (x264's output depends on its build; its thread count is fixed, so not on the cores)."""
        from storyboard import __version__
        from storyboard.backends import backend_identity

        loaded = self.load(plan)
        return {"pid": os.getpid(), "host": socket.gethostname(), "version": __version__,
                "backend": list(backend_identity(loaded)[:2]), "ffmpeg": ffmpeg_version()}

    def pid(self) -> int:
        """This worker's process id (the driver asks just before each shot, to tell a restart during it)."""
        return os.getpid()

    def render(self, plan: Plan | list[Any], index: int, key: str) -> Iterator[Tick | ShotResult]:
        """Render shot ``index`` of ``plan`` (whose segment the driver names ``key``): ticks, then the result."""
        self.load(plan)
        if self.segments[index].key != key:
            raise RuntimeError(f"shot {index}: this worker's segment key {self.segments[index].key[:12]} is not the "
                               f"driver's {key[:12]}: install the same storyboard version on every machine")
        ticks: queue.Queue[Tick | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["result"] = self.render_files(index, ticks.put)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                outcome["error"] = exc
            finally:
                ticks.put(None)

        thread = threading.Thread(target=run, name=f"shot-{index}", daemon=True)
        thread.start()
        while (tick := ticks.get()) is not None:
            yield tick
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield outcome["result"]

    def render_files(self, index: int, post: Callable[[Tick], None]) -> ShotResult:
        """Render the shot into a scratch folder (as a local render would into its cache) and read the files back."""
        from storyboard.render import PieceWriter, SegmentCache, render_segment

        scratch = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-"))
        try:
            plan = self.plan
            assert plan is not None
            segment = replace(self.segments[index], path=scratch / f"{self.segments[index].key}.mkv")
            pieces = PieceWriter(plan, self.segments, scratch / "pieces")
            started = time.monotonic()
            try:
                render_segment(plan, segment, self.backend, SegmentCache(scratch), pieces,
                               Ticker(segment.shot, post), self.output)  # type: ignore[arg-type]
            except BaseException:
                pieces.abort()
                raise
            busy = time.monotonic() - started
            made = tuple(read_entry(p) for p in sorted((scratch / "pieces").glob("*.h264")))
            return ShotResult(index, segment.key, read_entry(segment.path), made, os.getpid(), socket.gethostname(), busy)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def close(self) -> None:
        """Close the backend (a diffusion model's memory is freed)."""
        if self.backend is not None:
            self.backend.close()
        self.backend, self.plan, self.source = None, None, None


def read_entry(path: Path) -> FileBytes:
    """A finished cache entry's bytes and its note's bytes."""
    from storyboard.render import note_path

    return FileBytes(path.name, path.read_bytes(), note_path(path).read_bytes())


def actor_class(ray: Any) -> Any:
    """:class:`ShotWorker` as a Ray actor class that restarts (and retries its shot) after a crash.

    A shot that fails with an error (not a crash) is not retried: it would fail again.
    """
    return ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES)(ShotWorker)


def sweep_scratch() -> list[Path]:
    """Remove the scratch folders of workers on this machine that no longer run (killed mid-shot)."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*"):
        match = _SCRATCH.match(folder.name)
        if match and folder.is_dir() and not process_alive(int(match.group(1))):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def ffmpeg_version() -> str:
    """The first line of ``ffmpeg -version`` (the bundled binary's build)."""
    from storyboard.files import ffmpeg_exe

    result = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True)
    return (result.stdout.splitlines() or ["unknown"])[0]


def pause_if_armed(shot: int) -> None:
    """Tests only: halfway through ``shot``, if ``$STORYBOARD_FARM_TEST_PAUSE/shot-<shot>.armed`` exists,
    the first worker to get there renames it to ``shot-<shot>.paused-<pid>`` and waits (for the test to
    kill it) until ``release-<pid>`` appears, at most 5 minutes."""
    folder = os.environ.get(PAUSE_ENV)
    if not folder:
        return
    try:
        os.rename(Path(folder) / f"shot-{shot}.armed", Path(folder) / f"shot-{shot}.paused-{os.getpid()}")
    except OSError:
        return
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (Path(folder) / f"release-{os.getpid()}").exists():
        time.sleep(0.05)
