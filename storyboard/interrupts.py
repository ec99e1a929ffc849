"""Ctrl-C and SIGTERM that never land halfway through starting a process or renaming a file.

Python raises ``KeyboardInterrupt`` between any two bytecodes. Landing between
starting ffmpeg and recording that it runs leaves an ffmpeg nobody stops, which
writes its file after the clean-up has run; landing inside a rename's bookkeeping
leaves a partial behind. :func:`install` makes both signals raise
``KeyboardInterrupt`` as usual, except inside :func:`shielded` blocks, where the
interruption waits until the block ends.

:func:`keep_exit_code` makes the exit code chosen the one the process ends with.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

_depth = 0
_pending: int | None = None
_received = False
_in_hook = False
_settled = False


def _stop(signum: int, frame: object) -> None:  # noqa: ARG001
    global _pending, _received
    _received = True
    if _settled:  # the interruption was already answered (exit 130): nothing more to stop
        return
    if _in_hook:  # inside the hook below, where a raise is lost: again, a moment later
        _thread.start_new_thread(_again, (signum,))
        return
    if _depth:
        _pending = signum
        return
    raise KeyboardInterrupt


def install() -> None:
    """Make SIGINT and SIGTERM (``kill``) raise ``KeyboardInterrupt``, deferred inside shielded blocks.

    An interruption that lands in a finaliser (a generator closed by the garbage collector,
    a ``__del__``) cannot propagate from there: Python would print "Exception ignored" with a
    traceback and carry on. It is raised again in the main flow instead, silently.
    """
    global _received, _settled
    _received = _settled = False  # a new run
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        if sys.unraisablehook is not _unraisable:
            global _previous_hook
            _previous_hook = sys.unraisablehook
            sys.unraisablehook = _unraisable


_previous_hook = sys.unraisablehook


def _unraisable(info: "sys.UnraisableHookArgs") -> None:
    """An interruption lost in a finaliser is signalled again, a moment later, from another thread:
    it lands in the main flow, which raises it (one that lands in a finaliser again comes back here)."""
    global _in_hook
    if isinstance(info.exc_value, KeyboardInterrupt):
        _in_hook = True
        try:
            _thread.start_new_thread(_again, (signal.SIGINT,))
        finally:
            _in_hook = False
        return
    _previous_hook(info)


def _again(signum: int) -> None:
    time.sleep(0.001)  # let the hook return
    _thread.interrupt_main(signum)


def settle() -> None:
    """The interruption has been answered (the program is exiting with 130): later signals,
    such as one raised again after a finaliser swallowed it, are ignored."""
    global _settled
    _settled = True


def keep_exit_code() -> None:
    """The run is over: make the exit code it chose the one the process ends with.

    - Ctrl-C and SIGTERM are ignored from now on. Python restores their default actions as it
      shuts down, where a signal would kill the process instead of letting it exit.
    - CPython (3.10 to 3.13) marks a ``KeyboardInterrupt`` that leaves code ``exec`` ran from a
      string as unhandled, even once caught (dataclasses build every ``__init__`` that way, at
      import), and ``python -m`` then ends with SIGINT, not the exit code. Every ``exec`` of a
      string clears that mark first; an empty one does just that.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exec("")  # noqa: S102 - clears the mark (see above)


def received() -> bool:
    """Whether SIGINT or SIGTERM arrived since :func:`install`: whatever failed after it (an ffmpeg
    that the same Ctrl-C stopped, an import it broke) failed because the user stopped the run."""
    return _received


@contextmanager
def shielded() -> Iterator[None]:
    """Run a block whole: an interruption that arrives inside it is raised when it ends.

    Signals are handled in the main thread only, so elsewhere (a studio's queue, a farm worker's
    thread) the block runs as it is: a count kept there could hold an interruption back, or
    raise it in a thread that cannot stop the run.
    """
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            _pending = None
            raise KeyboardInterrupt
