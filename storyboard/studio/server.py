"""Starting and stopping the studio's web server.

The server listens on 127.0.0.1 unless told otherwise; any other address is announced with
a warning. It answers only requests addressed to it by its own name (``Host`` and ``Origin``:
see :mod:`storyboard.studio.guard`), so a web page open in the same browser cannot use it.
One studio runs in a folder at a time (a lock in ``.storyboard-studio/``), so one render
queue owns its renders. Gradio is kept to the folder: its copies of what the page
shows, and its uploads, live in ``.storyboard-studio/served/`` and its examples cache in
``.storyboard-studio/examples/`` (not ``.gradio/`` in the current folder); the only other
files it may serve are the studio's plots and previews. The studio refuses to start when
any of these is a symbolic link or leaves the folder, and gives Gradio their resolved
paths. Nothing is sent anywhere (no analytics, no version
check, no share link, no monitoring or MCP endpoints, no run history). Stopping the studio
(Ctrl-C) stops a running render as Ctrl-C would, so that it can be resumed, and a running
preview (removing its temporary script).
"""

from __future__ import annotations

import os
import re
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TextIO

from storyboard.errors import UsageError
from storyboard.studio.folder import Folder

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
OWN_GRADIO = ("GRADIO_ANALYTICS_ENABLED", "GRADIO_TEMP_DIR", "GRADIO_EXAMPLES_CACHE")  # set by quiet_gradio


def listen_address(host: str) -> str:
    """``host`` (``--host``) as the address to listen on; UsageError for one the studio cannot listen on.
    An IPv6 address may be written with or without brackets (``::``, ``[::1]``)."""
    import ipaddress

    text = host.strip()
    if not text:
        raise UsageError("--host '': expected an address to listen on, such as 127.0.0.1 (this machine only, the "
                         "default), :: or 0.0.0.0 (every address)")
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare)
        return bare
    except ValueError:
        pass
    labels = bare.rstrip(".").split(".")
    label = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
    if len(bare) > 253 or not all(label.fullmatch(part) for part in labels):
        raise UsageError(f"--host {host[:80]!r}: expected an IP address (127.0.0.1, ::1, 0.0.0.0, ::) or a host name")
    return bare


def is_loopback(host: str) -> bool:
    """Whether ``host`` is an address of this machine only."""
    import ipaddress

    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if bare == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def host_warning(host: str, root: Path) -> str | None:
    """What to say when the server listens on ``host`` beyond this machine (None for a loopback address).
    Raises UsageError for an address the studio cannot listen on (see :func:`listen_address`)."""
    host = listen_address(host)
    if is_loopback(host):
        return None
    return (f"storyboard studio: warning: listening on {host}: anyone who can reach this address can read and write "
            f"the scripts in {root} and start renders on this machine; there is no password. Use --host 127.0.0.1 "
            "(the default) unless you trust the network.")


def gradio_missing() -> bool:
    """Whether the ``studio`` extra (gradio) is not installed."""
    import importlib.util

    return importlib.util.find_spec("gradio") is None


@contextmanager
def folder_lock(folder: Folder) -> Iterator[Path]:
    """Hold ``.storyboard-studio/studio.lock`` while the studio runs; UsageError if another studio holds it."""
    folder.state.mkdir(parents=True, exist_ok=True)
    path = folder.state / "studio.lock"
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform: one studio a folder is up to the user
            yield path
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "its lock is held"
            raise UsageError(f"another studio already runs in {folder.root} ({holder}); stop it first, or open "
                             "that one") from None
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def quiet_gradio(folder: Folder) -> None:
    """Environment for Gradio before it is imported: no analytics, every folder it writes or serves
    inside ``.storyboard-studio/`` (checked by :meth:`Folder.check_own` first), none taken from the
    environment: every other ``GRADIO_*`` variable is removed (``GRADIO_VIBE_MODE`` lets any request
    rewrite Python files, ``GRADIO_ALLOWED_PATHS`` serves folders, ``GRADIO_SHARE`` opens a public
    tunnel, ``GRADIO_NUM_WORKERS`` serves files from other ports, ...). Gradio reads many of them
    when it is imported, so this runs first."""
    folder.check_own()
    for name in [name for name in os.environ if name.upper().startswith("GRADIO_") and name not in OWN_GRADIO]:
        del os.environ[name]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(folder.served.resolve())  # uploads and copies of what the page shows
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(folder.examples.resolve())  # else <cwd>/.gradio/cached_examples
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def serve(script: str | None = None, host: str = "127.0.0.1", port: int | None = None, root: str | Path | None = None,
          *, out: TextIO | None = None, until: threading.Event | None = None,
          started: Callable[[str], None] | None = None) -> None:
    """Run the studio of ``root`` (default: the current folder) until Ctrl-C (or ``until`` is set).

    ``script`` is opened first (relative to ``root``, inside it). ``port`` None: the first free from 7860.
    ``started`` is called with the page's URL once it is served.
    """
    from storyboard.interrupts import shielded
    from storyboard.studio.actions import Studio
    from storyboard.studio.previews import sweep_left_behind

    host = listen_address(host)
    folder = Folder.at(root or Path.cwd())
    first = folder.relative(folder.script(script)) if script else None
    out = out or sys.stdout
    folder.check_own()  # before the lock is written: its folder may be a link
    with folder_lock(folder) as lock:
        quiet_gradio(folder)
        studio = Studio(folder, first)
        blocks = None
        try:
            sweep_left_behind(folder, studio.scripts())
            blocks, url = launch(studio, host, port)
            lock.write_text(f"pid {os.getpid()}, {url}\n", encoding="utf-8")
            print(f"storyboard studio: {url} (the studio of {folder.root}; Ctrl-C stops it)", file=out, flush=True)
            if started is not None:
                started(url)
            (until or threading.Event()).wait()
        finally:
            with shielded():  # a second Ctrl-C must not leave a render running without its queue
                interrupted = studio.close()
                if blocks is not None:
                    blocks.close()
            if interrupted:
                print(f"storyboard studio: render {interrupted} was interrupted; its finished segments are kept: "
                      "resume it from the studio", file=sys.stderr, flush=True)


def launch(studio, host: str, port: int | None) -> tuple[object, str]:
    """Build the page and start serving it without blocking; (the Blocks, the page's URL).

    Every request passes :class:`~storyboard.studio.guard.LocalOnly` (given to Gradio's FastAPI app
    as ``app_kwargs["middleware"]``): Gradio's own middlewares (CORS, compression) sit outside it, and
    answer nothing but CORS preflights (``OPTIONS``) themselves, which run no route."""
    from starlette.middleware import Middleware

    from storyboard.studio.app import build
    from storyboard.studio.guard import LocalOnly, url_host
    from storyboard.studio.views import CSS

    blocks = build(studio)
    folder = studio.folder
    allowed = [str(own.resolve()) for own in (folder.plots, folder.previews)]  # checked by quiet_gradio
    _, local_url, _ = blocks.launch(
        server_name=url_host(host), server_port=port, prevent_thread_lock=True, quiet=True, share=False,
        inbrowser=False, allowed_paths=allowed, footer_links=[], run_history=False, num_workers=0,
        enable_monitoring=False, mcp_server=False, ssr_mode=False, max_file_size="1mb", strict_cors=True, css=CSS,
        app_kwargs={"middleware": [Middleware(LocalOnly, listen=host)]})
    url = str(local_url)
    if not is_loopback(host):
        url = f"http://{url_host(host)}:{blocks.server_port}/"
    return blocks, url
