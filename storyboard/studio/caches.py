"""The segment caches inside the studio's folder: what they hold, and pruning them safely.

A cache is a ``.storyboard-cache`` folder that storyboard tagged (``CACHEDIR.TAG``): the one
beside each script's output, and the previews' own. Pruning keeps every segment that a
chosen script still uses, planned for every model it was rendered with from the studio (its
own, the preview, and those of its render jobs), and deletes only what the cache wrote
(:func:`storyboard.render.cache.prune`). A chosen script with errors stops the pruning: its
segments could not be told from the others.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.errors import UsageError
from storyboard.studio.folder import STATE_NAME, Folder

if TYPE_CHECKING:
    from storyboard.plan.data import Plan

CACHE_NAME = ".storyboard-cache"


@dataclass(frozen=True)
class SegmentRow:
    """One cached segment as the page lists it. ``mb`` in megabytes (2**20 bytes)."""

    key: str
    mb: float
    frames: int | str
    model: str
    shot: int | str
    scenes: str
    output: str


@dataclass(frozen=True)
class CacheContents:
    folder: str  # relative to the studio's folder
    segments: tuple[SegmentRow, ...]
    segments_mb: float
    pieces: int
    pieces_mb: float


def find_caches(folder: Folder, limit: int = 100) -> list[str]:
    """The storyboard caches under the studio's folder (relative paths, sorted)."""
    from storyboard.render.segments import is_cache

    found = []
    for where, dirs, _ in os.walk(folder.root):
        here = Path(where)
        if here.name == CACHE_NAME:
            dirs[:] = []
            if is_cache(here) and not folder.leaves(here):
                found.append(folder.relative(here))
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") or d in (CACHE_NAME, STATE_NAME, "previews"))
        if len(found) >= limit:
            break
    return sorted(found)


def cache_folder(folder: Folder, name: str) -> Path:
    """The cache ``name`` (relative), inside the studio's folder and made by storyboard; else UsageError."""
    from storyboard.render.segments import is_cache

    path = folder.inside(name)
    if path.name != CACHE_NAME or not is_cache(path):
        raise UsageError(f"'{name}' is not a storyboard cache (a .storyboard-cache folder with storyboard's CACHEDIR.TAG)")
    return path


def contents(folder: Folder, name: str) -> CacheContents:
    """What the cache ``name`` holds."""
    from storyboard.render.cache import open_cache, pieces_of
    from storyboard.render.segments import folder_size

    path = cache_folder(folder, name)
    cache = open_cache(path)
    rows = []
    for segment, note in cache.entries():
        rows.append(segment_row(folder, segment, note))
    return CacheContents(name, tuple(rows), folder_size(path) / 2**20, len(pieces_of(path)),
                         folder_size(path / "pieces") / 2**20)


def segment_row(folder: Folder, segment: Path, note: object) -> SegmentRow:
    """A segment as the page lists it, from its note. The note is a file in a folder that may have come
    from anyone: a field of the wrong type (or out of range) is shown as ``?``."""
    note = note if isinstance(note, dict) else {}
    try:
        mb = segment.stat().st_size / 2**20
    except OSError:
        mb = 0.0
    scenes = note.get("scenes")
    scenes_text = (", ".join(scenes) if isinstance(scenes, list) and all(isinstance(s, str) for s in scenes)
                   else "?")
    return SegmentRow(segment.stem[:12], mb, _count(note.get("frames")), _text(note.get("model")),
                   _count(note.get("shot")), _clipped(scenes_text), _shown(folder, note.get("output")))


def _count(value: object) -> int | str:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53 else "?"


def _text(value: object) -> str:
    return _clipped(value) if isinstance(value, str) else "?"


def _clipped(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def _shown(folder: Folder, output: object) -> str:
    """An output path as the page shows it: relative to the studio's folder when inside it (``?`` when it
    is not text)."""
    if not isinstance(output, str):
        return "?" if output is not None else ""
    if not output or folder.leaves(output):
        return _clipped(output)
    return _clipped(folder.relative(Path(output)))


def plans_to_keep(folder: Folder, scripts: list[str], models: dict[str, set[str]]) -> list["Plan"]:
    """The plans whose segments pruning keeps: each script in ``scripts`` for its own model, the
    preview (as the studio writes it) and each model in ``models[script]``. Raises UsageError naming
    the scripts that have errors. A file that is plainly another tool's (a mapping of other keys) is
    passed over: no render made segments of it."""
    from storyboard.studio.checks import check_text
    from storyboard.studio.previews import preview_path

    from storyboard.studio.folder import another_tools

    plans, broken = [], []
    for name in scripts:
        path = folder.script(name)
        text = folder.read_text(path, name)
        if another_tools(text, path.name):  # another tool's YAML (docker-compose.yml): it has no segments
            continue
        for model in [None, "preview", *sorted(models.get(name, set()))]:
            checked = check_text(text, path, folder, model=model)
            if not checked.ok:
                broken.append(name)
                break
            assert checked.plan is not None
            plan = checked.plan
            if model == "preview":
                plan = dataclasses.replace(plan, output=dataclasses.replace(plan.output, path=str(preview_path(folder, path))))
            plans.append(plan)
    if broken:
        raise UsageError(f"not pruned: {', '.join(broken)} {'has' if len(broken) == 1 else 'have'} errors, so the "
                         "segments they use cannot be told apart; fix them, or untick them to let their segments go")
    return plans


def prune_cache(folder: Folder, name: str, plans: list["Plan"]) -> str:
    """Prune the cache ``name``, keeping the segments of ``plans``; what was done, in words."""
    from storyboard.render.cache import open_cache, prune

    done = prune(open_cache(cache_folder(folder, name)), plans)
    return (f"pruned {done.segments_removed} of {done.segments_removed + done.segments_kept} segments and "
            f"{done.pieces_removed} unused pieces ({done.bytes_freed / 2**20:.1f} MB); kept {done.segments_kept} segments")
