"""The farm's driver: the plan's missing shots as jobs on Ray workers, then the usual assembly.

:func:`render_plan_on_ray` is :func:`storyboard.render.render_plan` with one
step swapped: the missing segments are rendered by worker actors (one per GPU, or CPU
workers for the preview), longest shot first, each given to whichever worker is free.
A worker returns a shot's segment and pieces as bytes; this process checks them and
writes them into its cache atomically (:mod:`storyboard.farm.results`), so the cache has
one writer and needs no shared storage. Progress from every worker is told to one progress
sink as one render stage (:mod:`storyboard.progress`).
Then the MP4 is assembled here exactly as after a local render.

Faults: Ray restarts a worker that dies (up to :data:`~storyboard.farm.worker.MAX_RESTARTS`
times) and runs its shot again (up to :data:`~storyboard.farm.worker.MAX_TASK_RETRIES`
times); nothing of the lost run reaches the cache. Beyond that, or when a shot fails with
an error, the render stops with :class:`~storyboard.farm.results.FarmError` (exit 1) and
the segments already written stay: running the command again resumes. Ctrl-C stops the
workers and keeps what is finished, as a local render does (exit 130).
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.farm.cluster import LOCAL, Cluster, connect, require_ray, shutdown
from storyboard.farm.results import FarmError, commit_result
from storyboard.farm.schedule import longest_first, shot_cost
from storyboard.farm.worker import (
    MAX_RESTARTS,
    MAX_TASK_RETRIES,
    ShotResult,
    Tick,
    actor_class,
    ffmpeg_version,
)
from storyboard.interrupts import shielded
from storyboard.plan.data import Plan
from storyboard.progress import Said, Sink
from storyboard.render import (
    FrameTally,
    Interrupted,
    RenderResult,
    Segment,
    SegmentCache,
    clean_up,
    render_plan,
    segment_started,
)


@dataclass
class FarmReport:
    """What a farm render did (filled in by :func:`render_plan_on_ray`, for benchmarks); times in seconds."""

    workers: int = 0
    startup_s: float = 0.0  # from connecting until the first worker was ready (its model loaded)
    render_s: float = 0.0  # from the first worker ready until the last shot was in the cache
    busy_s: list[float] = field(default_factory=list)  # each shot's render time on its worker


@dataclass(frozen=True)
class WorkerSpec:
    """How many workers to start and what each reserves on the cluster (Ray's logical CPUs and GPUs)."""

    count: int
    num_cpus: float
    num_gpus: float
    kind: str  # "GPU" or "CPU"


def render_plan_on_ray(plan: Plan, output: str | Path | None = None, *, quiet: bool = False,
                       cache_dir: str | Path | None = None, sink: Sink | None = None, address: str | None = None,
                       workers: int | None = None, report: FarmReport | None = None) -> RenderResult:
    """Render the plan's missing segments on Ray (``address``: None or ``"local"`` for a private local
    cluster, else ``HOST:PORT`` of a running one; ``workers``: how many, default one per GPU, or per CPU
    for the preview), then assemble the MP4 here. Returns what :func:`render_plan` returns, and tells
    ``sink`` the same progress events (the farm's notes among them).

    A cluster at ``address`` is joined first, before anything is written: one that cannot be reached or
    joined is a :class:`~storyboard.errors.UsageError` (exit 2, nothing written). A private local cluster
    starts only when a shot is missing (a render whose segments are all cached needs none)."""
    report = report if report is not None else FarmReport()
    started = time.monotonic()
    joined = None if address in (None, LOCAL) else connect(address)

    def renderer(plan: Plan, segments: list[Segment], todo: list[Segment], cache: SegmentCache, path: Path,
                 tally: FrameTally, sink: Sink) -> int:
        return render_on_ray(plan, segments, todo, cache, path, tally, sink, cluster=joined, workers=workers,
                             report=report, started=started if joined is not None else None)

    try:
        return render_plan(plan, output, quiet=quiet, cache_dir=cache_dir, sink=sink, renderer=renderer)
    finally:
        if joined is not None:
            with shielded():
                shutdown(joined)  # (already left after the shots, unless none was missing or something failed)


def worker_spec(plan: Plan, shots: int, requested: int | None, cluster: dict[str, float]) -> WorkerSpec:
    """Workers for ``shots`` shots on a cluster of ``cluster`` resources (Ray's ``cluster_resources``).

    The preview and a model on the CPU: CPU workers (a diffusion model on the CPU: one by default, with
    the CPUs shared out, since torch uses every core it gets). A diffusion model otherwise: one worker
    per GPU. ``requested`` (``--workers``) overrides the default; never more workers than shots, nor
    than the cluster holds (a worker whose CPU or GPU is busy with another job waits for it). Raises
    :class:`FarmError` if the cluster has no room for one.
    """
    cpus, gpus = int(cluster.get("CPU", 0)), int(cluster.get("GPU", 0))
    preview = plan.model.id == "preview"
    device = plan.model.device
    if not preview and device not in ("cpu", "mps") and gpus >= 1:
        return WorkerSpec(min(requested or gpus, gpus, shots), 1, 1, "GPU")
    if device == "cuda":
        raise FarmError("model.device is cuda, but the Ray cluster has no GPU")
    if cpus < 1:
        raise FarmError("the Ray cluster has no CPU for a worker")
    count = min(requested or (cpus if preview else 1), cpus, shots)
    return WorkerSpec(count, 1 if preview else max(1, cpus // count), 0, "CPU")


def local_cpus(plan: Plan, requested: int | None) -> int | None:
    """CPUs a private local cluster offers: this machine's, or more when ``--workers`` asks for more preview workers."""
    if plan.model.id != "preview" or not requested:
        return None
    return max(os.cpu_count() or 1, requested)


def render_on_ray(plan: Plan, segments: list[Segment], todo: list[Segment], cache: SegmentCache, path: Path,
                  tally: FrameTally, sink: Sink, *, cluster: Cluster | None, workers: int | None,
                  report: FarmReport, started: float | None = None) -> int:
    """The farm's part of :func:`render_plan`: render ``todo`` on Ray workers into the cache; returns how
    many were rendered. ``cluster``: the cluster joined, or None to start a private local one (``started``:
    when connecting began, default now). Ctrl-C raises :class:`Interrupted` (finished segments kept), as a
    local render does."""
    if not todo:
        return 0
    started = time.monotonic() if started is None else started
    pool = dispatch = None
    try:
        cluster = cluster or connect(None, cpus=local_cpus(plan, workers))
        ray = require_ray()
        spec = worker_spec(plan, len(todo), workers, ray.cluster_resources())
        sink(Said(f"farm: {spec.count} {spec.kind} worker{'s' * (spec.count > 1)} on {cluster.describe()}, "
            f"longest shot first (Ray restarts a lost worker up to {MAX_RESTARTS} times)"))
        pool = start_workers(ray, plan, path, spec)
        report.workers = spec.count
        dispatch = Dispatch(ray, plan, segments, todo, cache, tally, sink, pool, report, started)
        return dispatch.run()
    except KeyboardInterrupt:
        clean_up(cache.folder, cache.folder / "pieces")
        tally.finish()
        raise Interrupted(dispatch.done if dispatch else 0, len(todo), cache.folder) from None
    except FarmError as exc:
        clean_up(cache.folder, cache.folder / "pieces")
        tally.finish()
        kept = dispatch.done if dispatch else 0
        raise FarmError(f"{exc}. The {kept} of {len(todo)} segments finished are kept in {cache.folder}: run the "
                        "same command again to resume") from None
    except BaseException:
        clean_up(cache.folder, cache.folder / "pieces")
        raise
    finally:
        with shielded():
            if cluster is None or not cluster.owned:
                stop_workers(pool)  # (leaving a cluster this process joined ends its workers with it)
            if cluster is not None:
                shutdown(cluster)


@dataclass(frozen=True)
class Pool:
    """The worker actors, and the plan in Ray's object store, which they (and restarted ones) read."""

    actors: list[Any]
    plan: Any


def start_workers(ray: Any, plan: Plan, path: Path, spec: WorkerSpec) -> Pool:
    """Start ``spec.count`` worker actors (each loads the model when it is first told the plan)."""
    shared = ray.put(plan)
    actor = actor_class(ray).options(num_cpus=spec.num_cpus, num_gpus=spec.num_gpus)
    return Pool([actor.remote(str(path)) for _ in range(spec.count)], shared)


def stop_workers(pool: Pool | None) -> None:
    """End the workers (their processes, and a GPU's memory, are freed); a cluster that is gone is fine."""
    if pool is None:
        return
    import ray

    for actor in pool.actors:
        try:
            ray.kill(actor)
        except Exception:  # noqa: BLE001 - the cluster may already be down
            pass


@dataclass
class ShotOnWorker:
    """A shot on a worker: which, where (worker number; ``pid_ref``, the reply of the worker's process id
    asked for just before the shot, read into ``pid`` with the stream's first item) and how far (frames)."""

    segment: Segment
    worker: int
    pid_ref: Any
    pid: int | None = None
    frames: int = 0


def check_result(job: ShotOnWorker, result: ShotResult) -> None:
    """Raise :class:`FarmError` unless ``result`` is the shot ``job`` asked for (its shot number and segment
    key): the driver writes a result where its own job says, never where the worker says."""
    shot, key = job.segment.shot.index, job.segment.key
    if (result.shot, result.key) != (shot, key):
        raise FarmError(f"worker {job.worker + 1} was asked for shot {shot} (segment {key[:12]}) and returned "
                        f"shot {result.shot} (segment {result.key[:12]}); nothing of it was kept")


def restarted(job: ShotOnWorker, pid: int, finished: bool) -> str | None:
    """What to say when a tick or the result (``finished``) comes from process ``pid`` where the shot was given
    to process ``job.pid``: the worker was lost mid-shot and Ray ran the shot again on its restarted process.
    None when the process is the same (a worker restarted while it had no shot is no news: the shot was
    given to its new process)."""
    if pid == job.pid:
        return None
    done = ("rendered the whole shot again (the lost process had sent its last progress report)" if finished
            else "renders the shot again from its start")
    return (f"shot {job.segment.shot.index}: worker {job.worker + 1} (process {job.pid}) was lost; Ray restarted "
            f"it (process {pid}), which {done}")


class Dispatch:
    """Hands the longest waiting shot to each free worker, follows their progress on one tally and writes
    each finished shot into the cache, until every shot is in."""

    def __init__(self, ray: Any, plan: Plan, segments: list[Segment], todo: list[Segment], cache: SegmentCache,
                 tally: FrameTally, sink: Sink, pool: Pool, report: FarmReport, started: float):
        self.ray, self.plan, self.segments, self.cache = ray, plan, segments, cache
        self.tally, self.sink, self.pool, self.report, self.started = tally, sink, pool, report, started
        costs = [shot_cost(plan, s.shot) for s in todo]
        self.waiting = deque(todo[i] for i in longest_first(costs))
        self.total = len(todo)
        self.starting = {actor.describe.remote([pool.plan]): n for n, actor in enumerate(pool.actors)}
        self.idle: list[int] = []
        self.running: dict[Any, ShotOnWorker] = {}
        self.ffmpeg = ffmpeg_version()
        self.base, self.finished, self.done, self.submitted = tally.done, 0, 0, 0
        self.ready_at: float | None = None

    def run(self) -> int:
        """Until every shot is in the cache: wait for any worker's news, act on it, hand out work."""
        while self.waiting or self.running:
            if not (self.running or self.starting or self.idle):
                raise FarmError("no worker is left to render the remaining shots")
            waitables = [*self.starting, *self.running]
            ready, _ = self.ray.wait(waitables, num_returns=1, timeout=1.0)
            for item in ready:
                if isinstance(item, self.ray.ObjectRefGenerator):
                    self.on_news(item)
                else:
                    self.on_ready(item)
            self.assign()
        self.report.render_s = time.monotonic() - (self.ready_at or self.started)
        return self.done

    def on_ready(self, ref: Any) -> None:
        """A worker has started (its model is loaded): check it runs the same storyboard, then give it work."""
        n = self.starting.pop(ref)
        try:
            info = self.ray.get(ref)
        except self.ray.exceptions.RayError as exc:
            raise FarmError(f"worker {n + 1} could not start: {reason(exc)}") from None
        from storyboard.backends import backend_identity

        expected = list(backend_identity(self.plan)[:2])
        if info["backend"] != expected:
            raise FarmError(f"worker {n + 1} on {info['host']} runs storyboard {info['version']} with backend "
                            f"{' '.join(info['backend'])}, this machine {' '.join(expected)}: install the same "
                            "storyboard on every machine")
        if info["ffmpeg"] != self.ffmpeg:  # (x264's thread count is fixed: the cores do not matter)
            self.sink(Said(f"note: worker {n + 1} on {info['host']} has {info['ffmpeg']}, this machine {self.ffmpeg}: "
                     "another x264 build may encode the same frames differently, so pieces encoded there may "
                     "differ in the last bits from a local render's (as good, not bit-identical)", "warning"))
        if self.ready_at is None:
            self.ready_at = time.monotonic()
            self.report.startup_s = self.ready_at - self.started
        self.idle.append(n)

    def assign(self) -> None:
        """Give the longest waiting shot to each idle worker."""
        while self.idle and self.waiting:
            n, segment = self.idle.pop(0), self.waiting.popleft()
            shot, actor = segment.shot, self.pool.actors[n]
            pid = actor.pid.remote()  # (run just before the shot: a worker restarted while idle answers anew)
            stream = actor.render.options(num_returns="streaming", retry_exceptions=False).remote(
                [self.pool.plan], shot.index, segment.key)
            self.running[stream] = ShotOnWorker(segment, n, pid)
            self.submitted += 1
            self.sink(segment_started(self.plan, shot, self.submitted, self.total, worker=n + 1))

    def on_news(self, stream: Any) -> None:
        """The next item of a worker's stream: a progress tick, or the finished shot."""
        job = self.running[stream]
        try:
            item = self.ray.get(next(stream))
            if job.pid is None:  # (answered before the shot began: the worker runs its calls in order)
                job.pid = self.ray.get(job.pid_ref)
        except StopIteration:
            raise FarmError(f"shot {job.segment.shot.index}: worker {job.worker + 1} stopped without it") from None
        except self.ray.exceptions.RayTaskError as exc:
            raise FarmError(f"shot {job.segment.shot.index} failed on worker {job.worker + 1}: {reason(exc)}") from None
        except self.ray.exceptions.RayError as exc:
            raise FarmError(f"shot {job.segment.shot.index}: worker {job.worker + 1} was lost more often than Ray "
                            f"restarts it ({MAX_RESTARTS} restarts, {MAX_TASK_RETRIES} retries): {reason(exc)}") from None
        if isinstance(item, Tick):
            self.on_tick(job, item)
        elif isinstance(item, ShotResult):
            self.on_result(stream, job, item)
        else:
            raise FarmError(f"shot {job.segment.shot.index}: worker {job.worker + 1} sent {type(item).__name__}")

    def on_tick(self, job: ShotOnWorker, tick: Tick) -> None:
        """A shot's progress; the first tick of a run on a restarted worker says so."""
        self.note_restart(job, tick.pid, finished=False)
        job.frames = tick.frames
        self.show()

    def note_restart(self, job: ShotOnWorker, pid: int, finished: bool) -> None:
        """Say so when ``pid`` is not the process the shot's worker had (see :func:`restarted`); follow it."""
        said = restarted(job, pid, finished)
        if said is not None:
            self.sink(Said(said, "warning"))
            job.pid = pid

    def on_result(self, stream: Any, job: ShotOnWorker, result: ShotResult) -> None:
        """Check the shot's files and write them into the cache; the worker is free again. Ctrl-C waits
        until the shot is written and counted (so the count said on exit is what the cache holds)."""
        check_result(job, result)
        self.note_restart(job, result.pid, finished=True)  # (lost after its last tick: Ray skips the retry's ticks)
        with shielded():
            commit_result(self.plan, self.segments, result, self.cache.folder / "pieces")
            self.done += 1
        del self.running[stream]
        self.idle.append(job.worker)
        self.finished += job.segment.shot.length
        self.report.busy_s.append(result.busy_s)
        self.show()

    def show(self) -> None:
        """One tally for every worker: frames of finished shots and of those under way."""
        self.tally.update(self.base + self.finished + sum(j.frames for j in self.running.values()))


def reason(exc: BaseException) -> str:
    """A Ray error in one short line: the worker's own exception when there is one, else the first sentence
    of Ray's message (Ray prints the rest of it, with where to look, as it happens)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    lines = str(exc).strip().splitlines()
    first = (lines[-1] if lines else type(exc).__name__).split(". ")[0].rstrip(".")
    return first[:300]
