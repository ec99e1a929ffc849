"""Starting and stopping the studio's web server.

The server listens on 127.0.0.1 unless told otherwise; any other address is announced with
a warning. One studio runs in a folder at a time (a lock in ``.storyboard-studio/``), so one
render queue owns its renders. Gradio is kept to the folder: its copies of what the page
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
import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, TextIO

from storyboard.errors import UsageError
from storyboard.studio.folder import Folder

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def host_warning(host: str, root: Path) -> str | None:
    """What to say when the server listens on ``host`` beyond this machine (None for a loopback address)."""
    if host in LOOPBACK or host.startswith("127."):
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
    environment."""
    folder.check_own()
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(folder.served.resolve())  # uploads and copies of what the page shows
    os.environ["GRADIO_EXAMPLES_CACHE"] = str(folder.examples.resolve())  # else <cwd>/.gradio/cached_examples
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    for name in ("GRADIO_SHARE", "GRADIO_ALLOWED_PATHS", "GRADIO_WATCH_DIRS", "GRADIO_HOT_RELOAD"):
        os.environ.pop(name, None)


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
    """Build the page and start serving it without blocking; (the Blocks, the page's URL)."""
    from storyboard.studio.app import build
    from storyboard.studio.views import CSS

    blocks = build(studio)
    folder = studio.folder
    allowed = [str(own.resolve()) for own in (folder.plots, folder.previews)]  # checked by quiet_gradio
    _, local_url, _ = blocks.launch(
        server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, share=False, inbrowser=False,
        allowed_paths=allowed, footer_links=[], run_history=False,
        enable_monitoring=False, mcp_server=False, ssr_mode=False, max_file_size="1mb", strict_cors=True, css=CSS)
    url = str(local_url)
    if host not in LOOPBACK and not host.startswith("127."):
        url = f"http://{host}:{blocks.server_port}/"
    return blocks, url
