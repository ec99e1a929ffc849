"""Rendering: plan -> backend -> compositor, shot by shot, with progress."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from storyboard.plan import Plan
from storyboard.progress import Progress


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    duration_s: float
    seconds: float
    subtitles: Path | None


def render_plan(plan: Plan, output: str | Path | None = None, *, quiet: bool = False) -> RenderResult:
    """Render every shot of ``plan`` with the backend its model names and encode the MP4.

    The backend is opened (and its weights loaded) before anything is written.
    """
    from storyboard.backends import open_backend
    from storyboard.compose import compose

    path = Path(output or plan.output["path"])
    started = time.monotonic()
    backend = open_backend(plan.model["id"], plan)
    progress = Progress(plan.total_frames, plan.fps, quiet=quiet)

    def shot_progress(shot):
        # Diffusion backends report the fraction of a shot's sampling done; the bar
        # moves through the shot's frames as it goes (decoding takes the last tenth).
        return lambda fraction: progress.update(shot.start + int(0.9 * fraction * (shot.end - shot.start)))

    def frames(shot):
        if getattr(backend, "name", "") == "preview":
            return backend.render_shot(plan, shot)
        return backend.render_shot(plan, shot, progress=shot_progress(shot))

    try:
        shots = ((shot, frames(shot)) for shot in plan.shots)
        result = compose(plan, shots, path, on_frame=progress.update)
    finally:
        progress.finish()
        backend.close()
    return RenderResult(result.path, result.frames, result.duration_s, time.monotonic() - started, result.subtitles)
