"""A worker's files into the driver's cache: checked first, then written atomically, one writer.

Workers return a shot's segment and plain pieces as bytes with their notes. The driver
checks each against its note (size, SHA-256) and against the plan (the segment holds
the shot's frames, each piece its run's, and every piece the shot owes is there), then
writes it as a local render would: the file through a temporary sibling, flushed and
renamed, then its note the same way. A file whose note is missing or does not match is
never reused (see :mod:`storyboard.render.sealed`), so whatever stops the driver
halfway, a cache entry is complete or absent.

Nothing a worker sends names a path: targets come from the driver's own keys.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from storyboard.farm.worker import FileBytes, ShotResult
from storyboard.files import atomic
from storyboard.plan.data import Plan
from storyboard.render import sealed
from storyboard.render.assemble import piece_key, runs_for
from storyboard.render.segments import Segment


class FarmError(RuntimeError):
    """The farm could not render a shot (a worker failed, died too often, or sent something wrong)."""


def plain_pieces(plan: Plan, segments: list[Segment], shot: int) -> dict[str, int]:
    """The pieces a shot's render makes (its plain runs): key -> frames."""
    return {piece_key(plan, run, segments): run.end - run.start
            for run in runs_for(plan) if run.shot == shot and not run.composite}


def check(entry: FileBytes, frames: int, what: str) -> None:
    """Raise :class:`FarmError` unless ``entry``'s bytes match its note and it holds ``frames`` frames."""
    try:
        note = json.loads(entry.note)
    except ValueError:
        note = None
    if not isinstance(note, dict):
        raise FarmError(f"{what}: its note is not readable JSON; nothing of it was kept")
    if note.get("bytes") != len(entry.data) or note.get("sha256") != hashlib.sha256(entry.data).hexdigest():
        raise FarmError(f"{what}: {len(entry.data)} bytes arrived that do not match the worker's note "
                        f"({note.get('bytes')} bytes, sha256 {str(note.get('sha256'))[:12]}); nothing of it was kept")
    if note.get("frames") != frames:
        raise FarmError(f"{what}: holds {note.get('frames')} frames, the plan needs {frames}; nothing of it was kept")


def commit_result(plan: Plan, segments: list[Segment], result: ShotResult, pieces: Path) -> int:
    """Check everything a worker returned for one shot, then write it into the cache: the pieces the cache
    lacks, then the segment. Returns how many pieces were written. Raises :class:`FarmError` before
    writing anything if any file fails its check."""
    if not 0 <= result.shot < len(segments):
        raise FarmError(f"shot {result.shot}: the worker sent a shot the plan does not have ({len(segments)} shots)")
    segment = segments[result.shot]
    origin = f"from worker {result.pid}@{result.host}"
    if result.key != segment.key or result.segment.name != segment.path.name:
        raise FarmError(f"shot {result.shot}: the worker sent segment {result.segment.name}, "
                        f"the driver expects {segment.path.name}")
    check(result.segment, segment.shot.length, f"segment {segment.path.name} of shot {result.shot} {origin}")
    owed = plain_pieces(plan, segments, result.shot)
    sent = {Path(p.name).stem: p for p in result.pieces}
    if set(sent) != set(owed):
        raise FarmError(f"shot {result.shot}: the worker sent pieces {sorted(k[:12] for k in sent)}, "
                        f"the plan's are {sorted(k[:12] for k in owed)}")
    for key, entry in sent.items():
        check(entry, owed[key], f"piece {entry.name} of shot {result.shot} {origin}")
    written = 0
    for key, entry in sent.items():
        target = pieces / f"{key}.h264"
        if sealed.problem(target, owed[key]) is not None:
            write_entry(target, entry)
            written += 1
    write_entry(segment.path, result.segment)
    return written


def write_entry(target: Path, entry: FileBytes) -> None:
    """Write a checked entry atomically: its file, then its note (which seals it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic(target) as partial:
        partial.write_bytes(entry.data)
    with atomic(sealed.note_path(target)) as partial:
        partial.write_bytes(entry.note)
