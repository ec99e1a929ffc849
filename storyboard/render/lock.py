"""Who uses a segment cache: renders share it; ``cache prune`` must have it alone.

An advisory lock (``flock``) on ``<cache>/.lock``. A render holds it shared from before it
reads the cache until its MP4 is written (:func:`rendering`); prune takes it exclusive
without waiting, and refuses while any render holds it (:func:`alone`). While it runs, a
render also leaves a mark, ``<cache>/.renders/<pid>-<host>`` holding the video it writes, so
the refusal can name it. The kernel drops a lock with its process: a render that was
killed blocks nothing, and its mark is swept by the next prune.

Where ``flock`` is missing (not POSIX) or the lock file cannot be opened (a read-only
folder, where prune could not delete anything either), nothing is locked.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from storyboard.errors import UsageError
from storyboard.files import host_tag, process_alive
from storyboard.words import plural

try:
    import fcntl
except ImportError:  # pragma: no cover (Windows)
    fcntl = None  # type: ignore[assignment]

LOCK = ".lock"
MARKS = ".renders"


class CacheBusy(UsageError):
    """A render is using the cache; prune refused (exit 2)."""


def _open(folder: Path) -> int | None:
    if fcntl is None:
        return None
    try:
        return os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None


@contextmanager
def rendering(folder: Path, output: Path, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the cache in ``folder`` shared while a render writing ``output`` uses it.

    Waits (saying so) while a prune has it alone; prunes take seconds.
    """
    fd = _open(folder)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            if say:
                say(f"waiting for `storyboard cache prune` to finish with {folder}")
            fcntl.flock(fd, fcntl.LOCK_SH)
        mark = folder / MARKS / f"{os.getpid()}-{host_tag()}"
        try:
            mark.parent.mkdir(exist_ok=True)
            mark.write_text(str(output), encoding="utf-8")
        except OSError:
            mark = None  # only the refusal's wording needs it
        try:
            yield
        finally:
            if mark is not None:
                mark.unlink(missing_ok=True)
    finally:
        os.close(fd)  # releases the lock


@contextmanager
def alone(folder: Path, doing: str = "pruned") -> Iterator[None]:
    """Hold the cache in ``folder`` exclusively; raises :class:`CacheBusy` at once (exit 2) while
    a render uses it, naming the render's process and video: nothing was ``doing``."""
    fd = _open(folder)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheBusy(f"{folder}: {users(folder)} using this cache; nothing was {doing}. "
                            "Wait for it to finish, then run the command again.") from None
        for mark in _marks(folder):  # nobody renders now: every mark is a killed render's
            mark.unlink(missing_ok=True)
        yield
    finally:
        os.close(fd)


def _marks(folder: Path) -> list[Path]:
    try:
        return sorted(p for p in (folder / MARKS).iterdir() if p.is_file())
    except OSError:
        return []


def users(folder: Path) -> str:
    """``a render (pid 4242, writing out/v.mp4) is`` or ``2 renders (...) are``: the live marks."""
    here = host_tag()
    found = []
    for mark in _marks(folder):
        pid, _, host = mark.name.partition("-")
        if not pid.isdigit() or (host == here and not process_alive(int(pid))):
            continue
        try:
            output = mark.read_text(encoding="utf-8").strip()
        except OSError:
            output = ""
        where = "" if host == here else " on another machine"
        found.append(f"pid {pid}{where}" + (f", writing {output}" if output else ""))
    if not found:
        return "a render is"
    if len(found) == 1:
        return f"a render ({found[0]}) is"
    return f"{plural(len(found), 'render')} ({'; '.join(found)}) are"
