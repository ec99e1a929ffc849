"""The segment cache as a whole: opening one safely, what it holds, and pruning what no script uses.

Deletion touches only files the cache wrote: in a folder tagged as a storyboard cache
(``CACHEDIR.TAG``), files named by a cache key (``<40 hex>.mkv``/``.json``, and in
``pieces/`` ``<40 hex>.h264``/``.json`` and ``audio-<40 hex>.m4a``/``.json``). A folder
that is not a cache is refused before anything is read or deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError
from storyboard.files import sweep_stale_partials
from storyboard.plan.data import Plan
from storyboard.render import sealed
from storyboard.render.lock import alone
from storyboard.render.segments import KEY, SegmentCache, is_cache

PIECE = re.compile(r"^(audio-)?[0-9a-f]{40}$")


def open_cache(folder: Path) -> SegmentCache:
    """The cache in ``folder``; refuses (exit 2) a folder that storyboard did not make, and sweeps
    partial files left by renders that no longer run."""
    if folder.exists() and not is_cache(folder):
        raise UsageError(f"{folder} is not a storyboard cache (it has no CACHEDIR.TAG written by storyboard); "
                         "nothing was read or deleted. Point --cache at the .storyboard-cache folder beside your video.")
    sweep_stale_partials(folder, folder / "pieces")
    return SegmentCache(folder)


def pieces_of(folder: Path) -> list[Path]:
    """The assembled pieces and encoded music the cache holds (key-named files only)."""
    pieces = folder / "pieces"
    if not pieces.is_dir():
        return []
    return sorted(p for p in pieces.iterdir() if p.suffix in (".h264", ".m4a") and PIECE.match(p.stem) and p.is_file())


@dataclass(frozen=True)
class Pruned:
    segments_removed: int
    segments_kept: int
    pieces_removed: int
    bytes_freed: int


def prune(cache: SegmentCache, plans: list[Plan]) -> Pruned:
    """Delete the segments and pieces none of ``plans`` uses, with their notes.

    Refuses (:class:`~storyboard.render.lock.CacheBusy`, exit 2, naming the render's pid and
    video) while a render uses the cache: it may be about to assemble from what would go.
    """
    with alone(cache.folder):
        return _prune(cache, plans)


def _prune(cache: SegmentCache, plans: list[Plan]) -> Pruned:
    from storyboard.render.assemble import piece_keys
    from storyboard.render.orchestrate import plan_segments

    keep, keep_pieces = set(), set()
    for plan in plans:
        segments = plan_segments(plan, cache)
        keep |= {seg.key for seg in segments}
        keep_pieces |= piece_keys(plan, segments)
    freed = removed = 0
    segments = cache.entries()
    for path, _ in segments:
        if path.stem not in keep:
            freed += path.stat().st_size
            sealed.remove(path)
            removed += 1
    for note in cache.folder.glob("*.json"):  # notes whose segment is gone
        if KEY.match(note.stem) and note.is_file() and not note.with_suffix(".mkv").exists():
            note.unlink()
    unused = [p for p in pieces_of(cache.folder) if p.stem not in keep_pieces]
    for piece in unused:
        freed += piece.stat().st_size
        sealed.remove(piece)
    return Pruned(removed, len(segments) - removed, len(unused), freed)
