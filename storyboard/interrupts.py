"""Ctrl-C and SIGTERM that never land halfway through starting a process or renaming a file.

Python raises ``KeyboardInterrupt`` between any two bytecodes. Landing between
starting ffmpeg and recording that it runs leaves an ffmpeg nobody stops, which
writes its file after the clean-up has run; landing inside a rename's bookkeeping
leaves a partial behind. :func:`install` makes both signals raise
``KeyboardInterrupt`` as usual, except inside :func:`shielded` blocks, where the
interruption waits until the block ends.

One more place is unsafe: code that ``exec`` or ``eval`` runs from a string (dataclasses
build every ``__init__`` that way, at import). CPython marks a ``KeyboardInterrupt`` that
leaves such code as unhandled, even when a caller catches it, and ends the process with
SIGINT after the exit code has been chosen. An interruption that lands there is signalled
again a moment later, once the string's code has returned.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
import time
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

_depth = 0
_pending: int | None = None
_received = False
_in_hook = False
_settled = False
_deferred_since = 0.0  # time.monotonic() of an interruption put off until a string's code returns


def _stop(signum: int, frame: FrameType | None) -> None:
    global _pending, _received
    _received = True
    if _settled:  # the interruption was already answered (exit 130): nothing more to stop
        return
    if _in_hook or _in_string_code(frame):  # where a raise is lost or poisons the exit: again, a moment later
        _thread.start_new_thread(_again, (signum,))
        return
    if _depth:
        _pending = signum
        return
    raise KeyboardInterrupt


def _in_string_code(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a caller of it is the code that ``exec``/``eval`` compiled from a string.

    Such code is a ``<module>`` named ``<string>`` with a caller; ``python -c`` code has none.
    A string that runs for more than a second is interrupted where it is.
    """
    global _deferred_since
    while frame is not None:
        code = frame.f_code
        if code.co_filename == "<string>" and code.co_name == "<module>" and frame.f_back is not None:
            now = time.monotonic()
            _deferred_since = _deferred_since or now
            if now - _deferred_since < 1.0:
                return True
            break
        frame = frame.f_back
    _deferred_since = 0.0
    return False


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


def ignore_from_now() -> None:
    """The run is over and its exit code chosen: Ctrl-C or SIGTERM while Python shuts down is
    ignored. (Python restores the default actions as it shuts down, so a signal then would
    kill the process and replace the exit code; an ignored signal stays ignored.)"""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


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
