"""Cache entries that check themselves before they are trusted.

Every file the cache keeps (a segment, a piece, the encoded music) has a note
beside it, ``<name>.json``, written after the file itself: its size in bytes, its
frame count and its SHA-256. An entry is reused only when its note exists and
all three agree, so a truncated file, flipped bytes or a file without its note
is made again rather than muxed into the video.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from storyboard.files import atomic

MISSING = "missing"
UNSEALED = "has no note with its checksum (written by an interrupted or older render)"


def note_path(path: Path) -> Path:
    return path.with_suffix(".json")


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def seal(path: Path, frames: int | None, note: dict[str, Any] | None = None) -> None:
    """Write the note of a finished entry (atomically), recording its size, frames and checksum."""
    info = {**(note or {}), "frames": frames, "bytes": path.stat().st_size, "sha256": file_digest(path),
            "created": time.time()}
    with atomic(note_path(path)) as partial:
        partial.write_text(json.dumps(info, indent=1))


def read_note(path: Path) -> dict[str, Any]:
    """The entry's note, or ``{}`` when it is missing or unreadable."""
    try:
        note = json.loads(note_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return note if isinstance(note, dict) else {}


def problem(path: Path, frames: int | None = None) -> str | None:
    """Why the entry at ``path`` cannot be reused (:data:`MISSING` when absent), or None when it checks out.

    ``frames``: how many frames the entry must hold, when the caller knows.
    """
    if not path.is_file():
        return MISSING
    note = read_note(path)
    if "sha256" not in note:
        return UNSEALED
    size = path.stat().st_size
    if size != note.get("bytes"):
        return f"is {size} bytes, but {note.get('bytes')} were written (truncated or changed)"
    if frames is not None and note.get("frames") != frames:
        return f"holds {note.get('frames')} frames, the plan needs {frames}"
    if file_digest(path) != note["sha256"]:
        return "does not match its checksum (the file was changed or damaged)"
    return None


def remove(path: Path) -> None:
    """Delete an entry and its note."""
    path.unlink(missing_ok=True)
    note_path(path).unlink(missing_ok=True)
