"""Ctrl-C and SIGTERM that never land halfway through starting a process or renaming a file.

Python raises ``KeyboardInterrupt`` between any two bytecodes. Landing between
starting ffmpeg and recording that it runs leaves an ffmpeg nobody stops, which
writes its file after the clean-up has run; landing inside a rename's bookkeeping
leaves a partial behind. :func:`install` makes both signals raise
``KeyboardInterrupt`` as usual, except inside :func:`shielded` blocks, where the
interruption waits until the block ends.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

_depth = 0
_pending: int | None = None
_received = False


def _stop(signum: int, frame: object) -> None:  # noqa: ARG001
    global _pending, _received
    _received = True
    if _depth:
        _pending = signum
        return
    raise KeyboardInterrupt


def install() -> None:
    """Make SIGINT and SIGTERM (``kill``) raise ``KeyboardInterrupt``, deferred inside shielded blocks."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)


def received() -> bool:
    """Whether SIGINT or SIGTERM arrived since :func:`install`: whatever failed after it (an ffmpeg
    that the same Ctrl-C stopped, an import it broke) failed because the user stopped the run."""
    return _received


@contextmanager
def shielded() -> Iterator[None]:
    """Run a block whole: an interruption that arrives inside it is raised when it ends."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            _pending = None
            raise KeyboardInterrupt
