"""The render queue: renders as background jobs, one at a time, that outlive the studio.

One worker thread takes the oldest queued job and runs ``storyboard render SCRIPT --model
MODEL`` as a child process (see :mod:`storyboard.studio.children`), so two renders never
share the GPU. Cancelling sends the child Ctrl-C: it exits with 130 and keeps the segments
it finished. The jobs are kept in ``.storyboard-studio/jobs.json``, written atomically at
every change of state (and every few seconds of progress). When the studio starts again,
a job it left queued or running is *interrupted*, and resuming it renders the same script
again, which reuses every finished segment from the cache. A render the old studio left
running (it was killed) is stopped first, so that it cannot share the GPU with a new one.

Just before a job starts, its script is read and checked again as when it was queued (the
studio's folder rules and the command line's output rules): another tab may have saved other
text since, and a resumed job may be days old. A script that fails the check is not rendered;
its job fails with the check's first messages. The render is then told the SHA-256 of
the bytes that were checked (``--expect-sha256``) and refuses any other text (another tab may save
in between), and it checks again itself that every path stays in the folder (``--confine``).
Its output may not land in the studio's own folder, which the studio serves. The models each script was queued with are
kept apart from the jobs, in ``.storyboard-studio/rendered.json``, so that clearing the
finished jobs does not let pruning delete the segments their renders made.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from storyboard.studio.children import Child, Status, signal_group, still_running
from storyboard.studio.folder import Folder
from storyboard.words import plural

UNFINISHED = ("queued", "running")
RESUMABLE = ("cancelled", "interrupted", "failed")
INTERRUPTED = (130, -2)  # Ctrl-C: the render's own exit status, or SIGINT before Python handled it
SAVE_EVERY_S = 2.0  # progress is written to jobs.json at most this often (changes of state at once)


@dataclass
class RenderJob:
    """One render. Times are seconds since the epoch; ``eta_s`` is seconds left in its phase."""

    id: str
    script: str  # relative to the studio's folder
    model: str
    state: str = "queued"  # queued, running, done, failed, cancelled, interrupted
    created: float = 0.0
    queued: float = 0.0  # when it last joined the queue (the queue is first come, first served)
    started: float | None = None
    finished: float | None = None
    code: int | None = None  # the render's exit status
    phase: str = ""
    done: int = 0
    total: int = 0
    fraction: float = 0.0
    segment: int = 0
    segments: int = 0
    reused: int = 0
    eta_s: float | None = None
    output: str | None = None
    message: str = ""
    pid: int | None = None
    pid_start: float | None = None  # when the process ``pid`` started (seconds since the epoch)
    cancelling: bool = False

    @classmethod
    def from_json(cls, data: object) -> "RenderJob":
        """A job as ``jobs.json`` holds it; ValueError saying what is wrong when it is not one (the file
        may come with a shared project folder: nothing in it is trusted, see :func:`job_problem`)."""
        if not isinstance(data, dict):
            raise ValueError(f"expected a job (a mapping of fields), got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if problem := job_problem(values):
            raise ValueError(problem)
        return cls(**values)

    def took(self, status: Status) -> None:
        """Copy what a running render's output says into the job."""
        self.phase, self.done, self.total, self.fraction = status.phase, status.done, status.total, status.fraction
        self.segment, self.segments, self.reused, self.eta_s = status.segment, status.segments, status.reused, status.eta_s
        self.output = status.output or self.output


STATES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
JOB_ID = re.compile(r"r[0-9]{1,9}")
_TEXTS = ("script", "model", "phase", "message")
_COUNTS = ("done", "total", "segment", "segments", "reused")
_TIMES = ("created", "queued")
_MAYBE_TIMES = ("started", "finished", "eta_s", "pid_start")
_MAYBE_INTS = ("code", "pid")


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def job_problem(values: dict) -> str | None:
    """What is wrong with a job's fields as read from ``jobs.json`` (None: nothing): every field of
    the right type, the id ``r`` and a number, the state a known one, every number finite and in range."""
    job_id = values.get("id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return f"its id {shown(job_id)} is not a job id (r and a number)"
    if values.get("state", "queued") not in STATES:
        return f"{job_id}: its state {shown(values.get('state'))} is not one of {', '.join(STATES)}"
    if not isinstance(values.get("script"), str) or not isinstance(values.get("model"), str):
        return f"{job_id}: it needs a script and a model (text)"
    for name in _TEXTS:
        if name in values and not isinstance(values[name], str):
            return f"{job_id}: its {name} {shown(values[name])} is not text"
    if "output" in values and values["output"] is not None and not isinstance(values["output"], str):
        return f"{job_id}: its output {shown(values['output'])} is not a path"
    for name in _COUNTS:
        if name in values and not (isinstance(values[name], int) and not isinstance(values[name], bool)
                                   and 0 <= values[name] < 2**53):
            return f"{job_id}: its {name} {shown(values[name])} is not a count"
    for name in (*_TIMES, *_MAYBE_TIMES):
        if name in values and not (values[name] is None and name in _MAYBE_TIMES) \
                and not (_number(values[name]) and (name == "eta_s" or 0 <= values[name] < 1e11)):
            return f"{job_id}: its {name} {shown(values[name])} is not a time in seconds"
    if "fraction" in values and not _number(values["fraction"]):  # shown clamped to 0..1
        return f"{job_id}: its fraction {shown(values['fraction'])} is not a number"
    for name in _MAYBE_INTS:
        if name in values and values[name] is not None and not (
                isinstance(values[name], int) and not isinstance(values[name], bool)
                and -2**31 <= values[name] < 2**63):
            return f"{job_id}: its {name} {shown(values[name])} is not a whole number"
    if values.get("pid") is not None and values["pid"] <= 1:
        return f"{job_id}: its pid {values['pid']} is not a render's"
    if "cancelling" in values and not isinstance(values["cancelling"], bool):
        return f"{job_id}: its cancelling {shown(values['cancelling'])} is not true or false"
    return None


def shown(value: object, limit: int = 40) -> str:
    """``value`` as a message quotes it: its repr, at most ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


class JobFile:
    """``jobs.json``: the queue's jobs, written atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.said: str | None = None  # what the last load had to set aside, and why

    def load(self) -> list[RenderJob]:
        """The jobs saved. An unreadable file, or one holding anything but jobs (a job of the wrong
        shape, an id that is not ``r`` and a number, a state not known, a number not finite, the same
        id twice), is set aside (renamed, never deleted), saying so on stderr and in :attr:`said`;
        the queue keeps the jobs that were sound."""
        self.said = None
        if not self.path.is_file():
            return []
        jobs: list[RenderJob] = []
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("jobs"), list):
                raise ValueError("it is not a mapping with a list of jobs")
            problems = []
            for number, item in enumerate(data["jobs"], 1):
                try:
                    job = RenderJob.from_json(item)
                except ValueError as exc:
                    problems.append(f"job {number}: {exc}")
                    continue
                if any(j.id == job.id for j in jobs):
                    problems.append(f"job {number}: its id {job.id} is used twice")
                    continue
                jobs.append(job)
            if problems:
                more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
                raise ValueError("; ".join(problems[:3]) + more)
        except (OSError, ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            aside = self.path.with_name(f"jobs.unreadable-{int(time.time())}.json")
            self.path.replace(aside)
            self.said = (f"storyboard studio: {self.path} was set aside as {aside.name}: {exc}; the studio keeps "
                         f"{plural(len(jobs), 'sound job')} from it")
            print(self.said, file=sys.stderr, flush=True)
        return jobs

    def save(self, jobs: list[RenderJob]) -> None:
        from storyboard.files import atomic

        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "jobs": [dataclasses.asdict(j) for j in jobs]}, indent=1)
        with atomic(self.path, ".json") as tmp:
            tmp.write_text(text, encoding="utf-8")


class RenderedModels:
    """``rendered.json``: the models each script was rendered with from the studio (``{script: [model, ...]}``),
    written atomically; only ever added to (pruning keeps their segments), never by clearing jobs."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()

    def load(self) -> dict[str, set[str]]:
        """The record; an unreadable one counts as empty (and is rewritten at the next render)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return {str(script): {str(m) for m in models} for script, models in data["models"].items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}

    def add(self, pairs: list[tuple[str, str]]) -> None:
        """Note that each ``(script, model)`` was rendered (or is about to be)."""
        from storyboard.files import atomic

        with self.lock:
            known = self.load()
            if all(model in known.get(script, ()) for script, model in pairs):
                return
            for script, model in pairs:
                known.setdefault(script, set()).add(model)
            text = json.dumps({"version": 1, "models": {k: sorted(v) for k, v in sorted(known.items())}}, indent=1)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with atomic(self.path, ".json") as tmp:
                tmp.write_text(text, encoding="utf-8")


def recovered(jobs: list[RenderJob], grace_s: float = 60.0) -> list[RenderJob]:
    """The jobs a previous studio left, as this one takes them over: unfinished ones become interrupted
    (a render still running from the old studio is stopped first, as Ctrl-C would)."""
    for job in jobs:
        if job.state not in UNFINISHED:
            continue
        if job.state == "running" and still_running(job.pid, job.pid_start) and is_our_render(job.pid):
            stop_orphan(job.pid, job.pid_start, grace_s)
        job.state, job.pid, job.pid_start, job.eta_s, job.cancelling = "interrupted", None, None, None, False
        job.message = ("the studio stopped before this render finished; resume it to go on from the segments "
                       "it finished")
    return jobs


def is_our_render(pid: int | None) -> bool:
    """Whether process ``pid`` is a ``storyboard render`` as the studio starts it (its command line, read
    with psutil): a shared ``jobs.json`` may name any process, which must never be signalled."""
    import psutil

    if pid is None:
        return False
    try:
        args = psutil.Process(pid).cmdline()
    except (psutil.Error, ValueError):  # gone, not ours to read, or a negative pid
        return False
    return "storyboard" in args and "render" in args and "--expect-sha256" in args


def stop_orphan(pid: int | None, started: float | None, grace_s: float) -> None:
    """Stop a render a previous studio left running: SIGINT to its group, then SIGKILL after ``grace_s``."""
    import signal

    assert pid is not None
    signal_group(pid, signal.SIGINT)
    deadline = time.monotonic() + grace_s
    while still_running(pid, started):
        if time.monotonic() > deadline + 10:
            return  # not even SIGKILL: leave it (the new queue's renders may then share the GPU with it)
        if time.monotonic() > deadline:
            signal_group(pid, signal.SIGKILL)
        time.sleep(0.05)


class RenderQueue:
    """Jobs, first come first served, run one at a time by one worker thread."""

    def __init__(self, folder: Folder, *, run: bool = True):
        self.folder = folder
        self.file = JobFile(folder.state / "jobs.json")
        self.rendered = RenderedModels(folder.state / "rendered.json")
        self.changed = threading.Condition()
        self.jobs: list[RenderJob] = recovered(self.file.load())
        self.version = 0  # goes up at every change, so the page redraws only when something changed
        self.child: Child | None = None
        self.closing = False
        self.holding: str | None = None  # why no job may start now (a cache is being pruned)
        self._saved_at = 0.0
        if self.jobs:
            self.rendered.add([(j.script, j.model) for j in self.jobs])  # jobs from before the record was kept
            self._save()
        self.worker = threading.Thread(target=self._work, name="storyboard-render-queue", daemon=True)
        if run:
            self.worker.start()

    # --- what the page asks -----------------------------------------------------------------

    def submit(self, script: str, model: str) -> RenderJob:
        """Queue a render of ``script`` (relative to the folder, already checked) with ``model``."""
        with self.changed:
            number = 1 + max((int(j.id.lstrip("r")) for j in self.jobs if j.id.lstrip("r").isdigit()), default=0)
            now = time.time()
            job = RenderJob(f"r{number}", script, model, created=now, queued=now,
                      message="waiting for the render before it" if self._busy() else "starting")
            self.rendered.add([(script, model)])
            self.jobs.append(job)
            self._changed(save=True)
            return dataclasses.replace(job)

    def cancel(self, job_id: str) -> str:
        """Cancel a queued job, or stop a running one (Ctrl-C: it keeps its finished segments)."""
        with self.changed:
            job = self._job(job_id)
            if job.state == "queued":
                job.state, job.finished, job.message = "cancelled", time.time(), "cancelled before it started"
                self._changed(save=True)
                return f"{job.id} cancelled"
            if job.state != "running":
                return f"{job.id} is {job.state}: nothing to cancel"
            job.cancelling, job.message = True, "stopping: the segment being rendered is dropped, finished ones kept"
            if self.child is not None:
                self.child.interrupt()
            # else it is being checked, about to start: _start sees job.cancelling and does not start it
            self._changed(save=True)
            return f"stopping {job.id}"

    def resume(self, job_id: str) -> str:
        """Queue a cancelled, interrupted or failed job again: it reuses the segments it finished."""
        with self.changed:
            job = self._job(job_id)
            if job.state not in RESUMABLE:
                return f"{job.id} is {job.state}: only a cancelled, interrupted or failed render resumes"
            job.state, job.queued, job.finished, job.code, job.eta_s = "queued", time.time(), None, None, None
            job.message = "queued to resume: finished segments are reused from the cache"
            self._changed(save=True)
            return f"{job.id} queued to resume"

    def clear_finished(self) -> int:
        """Forget the jobs that are done, failed or cancelled; how many."""
        with self.changed:
            kept = [j for j in self.jobs if j.state in UNFINISHED or j.state == "interrupted"]
            gone = len(self.jobs) - len(kept)
            self.jobs = kept
            self._changed(save=True)
            return gone

    def models(self) -> dict[str, set[str]]:
        """The models each script was rendered with from the studio (kept after its jobs are cleared)."""
        found = self.rendered.load()
        with self.changed:
            for job in self.jobs:
                found.setdefault(job.script, set()).add(job.model)
        return found

    @contextmanager
    def held(self, why: str) -> Iterator[None]:
        """Start no job while the block runs (queued ones wait); UsageError if one runs now."""
        from storyboard.errors import UsageError

        with self.changed:
            job = next((j for j in self.jobs if j.state == "running"), None)
            if job is not None:
                raise UsageError(f"render {job.id} ({job.script}) is running: wait for it (or cancel it) first")
            self.holding = why
        try:
            yield
        finally:
            with self.changed:
                self.holding = None
                self.changed.notify_all()

    def snapshot(self) -> tuple[int, list[RenderJob]]:
        """(version, copies of the jobs), newest first."""
        with self.changed:
            return self.version, [dataclasses.replace(j) for j in reversed(self.jobs)]

    def wait(self, test, timeout: float) -> list[RenderJob]:
        """Block until ``test(jobs)`` holds (or ``timeout`` seconds pass: TimeoutError); the jobs then."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not test(self.jobs):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"render queue: condition not met in {timeout:g} s; jobs: {self.jobs}")
                self.changed.wait(min(left, 1.0))
            return [dataclasses.replace(j) for j in self.jobs]

    def close(self, grace_s: float = 60.0) -> str | None:
        """Stop the worker: a running render is interrupted (resumable when the studio starts again).
        The id of the job it interrupted, if any."""
        with self.changed:
            self.closing = True
            child = self.child
            running = next((j.id for j in self.jobs if j.state == "running"), None)
            self.changed.notify_all()
        if child is not None:
            child.stop(grace_s)
        if self.worker.is_alive():
            self.worker.join(grace_s + 10)
        return running

    # --- the worker --------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self.changed:
                while not self.closing and (self.holding or not any(j.state == "queued" for j in self.jobs)):
                    self.changed.wait()
                if self.closing:
                    return
                job = min((j for j in self.jobs if j.state == "queued"), key=lambda j: j.queued)
                job.state, job.started, job.cancelling = "running", time.time(), False
                job.phase, job.done, job.total, job.fraction, job.message = "starting", 0, 0, 0.0, "starting"
                self._changed(save=True)
            self._run(job)

    def _run(self, job: RenderJob) -> None:
        """Check one job's script again, then run its render to its end, reading its progress."""
        from storyboard.studio.checks import check_for_render

        status = Status()
        problems, sha256 = check_for_render(self.folder, job.script, job.model)
        if problems or sha256 is None:
            self._finish(job, None, status, "not started: the script, as it is on disk now, has problems:\n"
                         + "\n".join(problems))
            return
        try:
            child = self._start(job, sha256)
        except OSError as exc:
            self._finish(job, None, status, f"could not start the render: {exc}")
            return
        if child is None:  # cancelled, or the studio began to close, while it was checked
            self._finish(job, None, status, "cancelled before it started")
            return
        for line in child.lines():
            with self.changed:
                status.feed(line)
                job.took(status)
                if not job.cancelling:
                    job.message = status.describe()
                self._changed(save=time.monotonic() - self._saved_at > SAVE_EVERY_S)
        self._finish(job, child.wait(), status)

    def _start(self, job: RenderJob, sha256: str) -> Child | None:
        """Start the job's render of exactly the script text that was checked (``sha256``: the child
        refuses any other) with every path confined to the folder, checked again in the child (None
        when it was cancelled, or the studio began to close, first). The
        lock is held from the check of ``job.cancelling`` until ``self.child`` is set, so that a Cancel
        click in between is never lost: either it finds the child, or the child is never started."""
        with self.changed:
            if job.cancelling or self.closing:
                return None
            child = Child(["render", job.script, "--model", job.model, "--expect-sha256", sha256,
                           "--confine", str(self.folder.root)], self.folder.root)
            self.child, job.pid, job.pid_start = child, child.pid, child.started
            self._changed(save=True)
            return child

    def _finish(self, job: RenderJob, code: int | None, status: Status, note: str = "") -> None:
        with self.changed:
            self.child = None
            job.took(status)
            job.code, job.finished, job.pid, job.pid_start, job.eta_s = code, time.time(), None, None, None
            if code == 0:
                job.state, job.fraction, job.phase = "done", 1.0, "done"
                job.message = status.summary or "done"
            elif job.cancelling and (code in INTERRUPTED or code is None):
                job.state = "cancelled"
                job.message = note or f"cancelled: {status.last_words() or 'stopped'}".strip()
            elif self.closing:
                job.state, job.message = "interrupted", ("the studio stopped during this render; resume it to go "
                                                         "on from the segments it finished")
            else:
                job.state = "interrupted" if code in INTERRUPTED else "failed"
                job.message = note or status.last_words() or f"the render stopped with exit status {code}"
            job.cancelling = False
            self._changed(save=True)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _busy(self) -> bool:
        return any(j.state in UNFINISHED for j in self.jobs)

    def _job(self, job_id: str) -> RenderJob:
        from storyboard.errors import UsageError

        for job in self.jobs:
            if job.id == job_id:
                return job
        raise UsageError(f"no render job '{job_id}'")

    def _changed(self, *, save: bool) -> None:
        """Note a change (the lock is held): wake whoever waits, and write jobs.json if ``save``."""
        self.version += 1
        self.changed.notify_all()
        if save:
            self._save()

    def _save(self) -> None:
        self._saved_at = time.monotonic()
        self.file.save(self.jobs)
