"""Sealed files: cache entries that check themselves (against a note of their size, frames and
SHA-256) before they are trusted.

Every file the cache keeps (a segment, a piece, the encoded music) has a note
beside it, ``<name>.json``, written after the file itself: its size in bytes, its
frame count and its SHA-256. An entry is reused only when its note exists and
all three agree, so a truncated file, flipped bytes or a file without its note
is made again rather than muxed into the video.

A note that cannot be read, or that is JSON of the wrong shape, is a damaged note: the
entry is made again. Something that is not a file where an entry or its note belongs (a
folder) would stop the entry being written at all: it is moved aside, to
``<name>.damaged``, never deleted (what a folder holds is not the cache's to delete).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from storyboard.files import atomic, file_sha256

MISSING = "missing"
UNSEALED = "has no note with its checksum (written by an interrupted or older render)"
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def note_path(path: Path) -> Path:
    return path.with_suffix(".json")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    return file_sha256(path)


def seal(path: Path, frames: int | None, note: dict[str, Any] | None = None) -> None:
    """Write the note of a finished entry (atomically), recording its size, frames and checksum."""
    info = {**(note or {}), "frames": frames, "bytes": path.stat().st_size, "sha256": file_digest(path),
            "created": time.time()}
    with atomic(note_path(path)) as partial:
        partial.write_text(json.dumps(info, indent=1))


def read_note(path: Path) -> dict[str, Any]:
    """The entry's note, or ``{}`` when it is missing or unreadable (a folder, bad JSON, not an object)."""
    try:
        note = json.loads(note_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return note if isinstance(note, dict) else {}


def set_aside(path: Path) -> Path | None:
    """Move what stands at ``path`` if it is not a regular file (a folder, say) to ``<name>.damaged``
    (numbered if that is taken), so a file can be written there. Returns where it went; None
    when nothing was in the way, or it could not be moved (the write will then say why)."""
    if not os.path.lexists(path) or path.is_file():
        return None
    n = 0
    while os.path.lexists(aside := path.with_name(f"{path.name}.damaged" + (f"-{n}" if n else ""))):
        n += 1
    try:
        os.rename(path, aside)
    except OSError:
        return None
    return aside


def _in_the_way(path: Path) -> tuple[str, str] | None:
    """(what it was, where it went) when something that is not a file stood at ``path`` and was moved aside."""
    kind = "a folder" if path.is_dir() else "something else"
    aside = set_aside(path)
    return None if aside is None else (kind, f"moved aside to {aside.name}")


def shown(note: dict[str, Any]) -> dict[str, Any]:
    """The note's descriptive fields (``frames``, ``shot``, ``model``, ``scenes``, ``output``) that
    have the right types, for listing: a damaged note shows as unknown fields, never as a crash."""
    kinds = {"frames": int, "shot": int, "model": str, "output": str}
    out = {k: v for k, v in note.items() if k in kinds and isinstance(v, kinds[k]) and not isinstance(v, bool)}
    scenes = note.get("scenes")
    if isinstance(scenes, list) and all(isinstance(x, str) for x in scenes):
        out["scenes"] = scenes
    return out


def well_formed(note: dict[str, Any]) -> bool:
    """Whether a note has the fields :func:`problem` checks, of the right types."""
    frames, size = note.get("frames"), note.get("bytes")
    return (isinstance(note.get("sha256"), str) and SHA256.match(note["sha256"]) is not None
            and isinstance(size, int) and not isinstance(size, bool)
            and (frames is None or (isinstance(frames, int) and not isinstance(frames, bool))))


def problem(path: Path, frames: int | None = None) -> str | None:
    """Why the entry at ``path`` cannot be reused (:data:`MISSING` when absent), or None when it checks out.

    ``frames``: how many frames the entry must hold, when the caller knows. A folder where the
    entry or its note belongs is moved aside (:func:`set_aside`) and reported, naming the file.
    """
    note_file = note_path(path)
    if (moved := _in_the_way(path)) is not None:
        return f"is {moved[0]}, not a file ({moved[1]})"
    if (moved := _in_the_way(note_file)) is not None:
        return f"has {moved[0]} where its note {note_file.name} belongs ({moved[1]})"
    if not path.is_file():
        return MISSING
    note = read_note(path)
    if not note:
        return f"has a damaged note ({note_file.name} cannot be read as one)" if note_file.is_file() else UNSEALED
    if "sha256" not in note:
        return UNSEALED
    if not well_formed(note):
        return f"has a damaged note ({note_file.name}: its sha256, bytes or frames is malformed)"
    try:
        size = path.stat().st_size
        if size != note.get("bytes"):
            return f"is {size} bytes, but {note.get('bytes')} were written (truncated or changed)"
        if frames is not None and note.get("frames") != frames:
            return f"holds {note.get('frames')} frames, the plan needs {frames}"
        if file_digest(path) != note["sha256"]:
            return "does not match its checksum (the file was changed or damaged)"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def remove(path: Path) -> None:
    """Delete an entry and its note (files only: a folder in their place is not the cache's to delete)."""
    for file in (path, note_path(path)):
        if not file.is_dir():
            file.unlink(missing_ok=True)
