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
"""

from storyboard.render.assemble import PieceWriter, piece_key, runs_for
from storyboard.render.sealed import note_path
from storyboard.render.sealed import problem as entry_problem
from storyboard.render.orchestrate import (
    Interrupted,
    Renderer,
    RenderResult,
    clean_up,
    plan_segments,
    render_plan,
    render_segment,
    segment_started,
    wrote,
)
from storyboard.render.progress import FrameTally
from storyboard.render.segments import Segment, SegmentCache

__all__ = ["FrameTally", "Interrupted", "PieceWriter", "RenderResult", "Renderer", "Segment", "SegmentCache",
           "clean_up", "entry_problem", "note_path", "piece_key", "plan_segments", "render_plan",
           "render_segment", "runs_for", "segment_started", "wrote"]
