"""Render: plan -> segments (cached by content, resumable) -> pieces -> MP4 (+ subtitles).

``render_plan`` asks a backend for each missing shot, caches it as a segment, and
assembles the MP4 from pieces with the music mix, telling a progress sink
(:mod:`storyboard.progress`) how far it is. Nothing here knows of diffusion: backends
are opened by name through :mod:`storyboard.backends`.

This is the room's public face: other rooms (the CLI, the studio, the farm) import from
here, never from its modules. The farm renders shots elsewhere with the same steps, so the
face also holds those steps: a shot into its segment and pieces (:func:`render_segment`,
:class:`PieceWriter`), the pieces a shot owes (:func:`runs_for`, :func:`piece_key`), and the
sealed cache entries (:func:`note_path`, :func:`entry_problem`).

The names are loaded when first used (PEP 562), so importing :mod:`storyboard.render.outputs`
(where a render writes, and what it may not replace) loads no numpy: ``validate`` checks
outputs without the encoder's stack.
"""

from __future__ import annotations

import importlib
from typing import Any

# Each public name: (module under storyboard.render, its name there).
_FACE: dict[str, tuple[str, str]] = {
    "PieceWriter": ("assemble", "PieceWriter"),
    "piece_key": ("assemble", "piece_key"),
    "runs_for": ("assemble", "runs_for"),
    "note_path": ("sealed", "note_path"),
    "entry_problem": ("sealed", "problem"),
    "Interrupted": ("orchestrate", "Interrupted"),
    "Renderer": ("orchestrate", "Renderer"),
    "RenderResult": ("orchestrate", "RenderResult"),
    "clean_up": ("orchestrate", "clean_up"),
    "plan_segments": ("orchestrate", "plan_segments"),
    "render_plan": ("orchestrate", "render_plan"),
    "render_segment": ("orchestrate", "render_segment"),
    "segment_started": ("orchestrate", "segment_started"),
    "wrote": ("orchestrate", "wrote"),
    "FrameTally": ("progress", "FrameTally"),
    "Segment": ("segments", "Segment"),
    "SegmentCache": ("segments", "SegmentCache"),
}

__all__ = sorted(_FACE)


def __getattr__(name: str) -> Any:
    if name not in _FACE:
        raise AttributeError(f"module 'storyboard.render' has no attribute '{name}'")
    module, attribute = _FACE[name]
    value = getattr(importlib.import_module(f"storyboard.render.{module}"), attribute)
    globals()[name] = value
    return value
