"""Render: plan -> segments (cached by content, resumable) -> pieces -> MP4 (+ subtitles).

``render_plan`` asks a backend for each missing shot, caches it as a segment, and
assembles the MP4 from pieces with the music mix. Nothing here knows of diffusion:
backends are opened by name through :mod:`storyboard.backends`.
"""

from storyboard.render.orchestrate import (
    Interrupted,
    RenderResult,
    plan_segments,
    render_plan,
)

__all__ = ["Interrupted", "RenderResult", "plan_segments", "render_plan"]
