"""Writing files so that nothing is ever half-written: a temporary sibling, then a rename.

Every stage writes through these (the music analysis cache, synthesised audio,
plots, the JSON Schema, segments, pieces and the MP4), so they sit beside the
stages rather than in one of them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def temporary_sibling(path: Path, suffix: str) -> Path:
    """A unique temporary path in ``path``'s folder (same file system, so rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}.", suffix=".part" + suffix, dir=path.parent)
    os.close(fd)
    return Path(name)


def commit(partial: Path, final: Path) -> None:
    """Give ``partial`` the usual file mode (mkstemp makes it private) and rename it to ``final``."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)
    os.replace(partial, final)


def sweep_partials(*folders: Path) -> None:
    """Remove this process's unfinished temporary files (an interruption can land between a
    file's creation and the code that would clean it up). Other processes' files are left alone."""
    mark = f".{os.getpid()}."
    for folder in folders:
        if folder.is_dir():
            for leftover in folder.glob(".*.part*"):
                if mark in leftover.name:
                    leftover.unlink(missing_ok=True)
