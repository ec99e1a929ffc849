"""Rendering: plan -> segments (cached, resumable) -> compositor -> MP4.

Each shot is rendered by the backend into a segment in the cache (see
:mod:`storyboard.render.segments`); shots whose segment exists are reused. Then the
segments are decoded in order and composited (crossfades, captions, music) into
the MP4. An interruption keeps every finished segment; running the same command
again resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from storyboard.files import sweep_partials, sweep_stale_partials
from storyboard.interrupts import shielded
from storyboard.plan.data import Plan
from storyboard.progress import Said, SegmentsPlanned, SegmentStarted, Sink, Wrote, default_sink
from storyboard.render import sealed
from storyboard.render.outputs import default_cache
from storyboard.render.encode import abort_all
from storyboard.render.lock import rendering
from storyboard.render.progress import FrameTally
from storyboard.render.segments import Segment, SegmentCache, tag_cache


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    duration_s: float
    seconds: float
    subtitles: tuple[Path, ...]
    rendered: int = 0
    reused: int = 0
    cache: Path | None = None
    assembly_s: float = 0.0


class Interrupted(Exception):
    """Rendering stopped (Ctrl-C); finished segments are kept."""

    def __init__(self, done: int, total: int, cache: Path):
        self.done, self.total, self.cache = done, total, cache
        super().__init__(f"interrupted after {done} of {total} segments")


def plan_segments(plan: Plan, cache: SegmentCache) -> list[Segment]:
    """One segment per shot, keyed by what determines its pixels."""
    from storyboard.backends import backend_identity

    name, version, positional = backend_identity(plan)
    return [cache.segment(plan, shot, name, version, positional) for shot in plan.shots]


def _counted(frames: Iterator[np.ndarray], on_frame: Callable[[], None]) -> Iterator[np.ndarray]:
    for frame in frames:
        yield frame
        on_frame()


# renders the missing segments: (plan, segments, todo, cache, path, tally, sink) -> how many it rendered
Renderer = Callable[[Plan, list[Segment], list[Segment], SegmentCache, Path, FrameTally, Sink], int]


def render_plan(plan: Plan, output: str | Path | None = None, *, quiet: bool = False,
                cache_dir: str | Path | None = None, sink: Sink | None = None,
                renderer: Renderer | None = None) -> RenderResult:
    """Render the plan's missing segments, then assemble the MP4.

    The backend is opened (and its weights loaded) only if a segment is missing,
    before anything is written. Progress goes to ``sink`` as events (default:
    :func:`storyboard.progress.default_sink`, which ``quiet`` silences); its last is a
    :class:`~storyboard.progress.Wrote`. ``renderer`` renders the missing segments into the cache
    (default :func:`render_missing`, here; the farm passes one that renders them on Ray):
    ``renderer(plan, segments, todo, cache, path, tally, sink)`` returns how many it
    rendered and raises :class:`Interrupted` on Ctrl-C. The rest is the same either way.
    """
    sink = sink or default_sink(quiet)
    path = Path(output or plan.output.path)
    cache = SegmentCache(Path(cache_dir) if cache_dir else default_cache(path))
    started = time.monotonic()
    cache.folder.mkdir(parents=True, exist_ok=True)
    tag_cache(cache.folder)

    # Held shared until the MP4 is written: `cache prune` refuses meanwhile (it would delete
    # segments this render counts on).
    with rendering(cache.folder, path, lambda text: sink(Said(text))):
        sweep_stale_partials(cache.folder, cache.folder / "pieces", path.parent)
        segments = plan_segments(plan, cache)
        todo = [s for s in segments if not s.cached]
        sink(SegmentsPlanned(len(segments), len(todo), str(cache.folder)))
        for segment in (s for s in segments if s.damaged):
            sink(Said(f"warning: segment {segment.path.name} (shot {segment.shot.index}) {segment.problem}; "
                      "rendering it again", "warning"))
        # Counted in frames rendered (crossfade handles included), shown as the video's frames.
        tally = FrameTally(sink, "render", sum(s.shot.length for s in segments), plan.fps, frames=plan.total_frames)
        tally.skip(sum(s.shot.length for s in segments if s.cached))
        done = (renderer or render_missing)(plan, segments, todo, cache, path, tally, sink)
        tally.finish()
        assembled_at = time.monotonic()
        result, encoded, copied = assemble_video(plan, segments, path, cache, Interrupted(done, len(todo), cache.folder), sink)
        sink(Said(f"assembled from {encoded + copied} pieces: {encoded} encoded, {copied} copied"))
        now = time.monotonic()
        rendered = RenderResult(result.path, result.frames, result.duration_s, now - started, result.subtitles,
                                rendered=done, reused=len(segments) - len(todo), cache=cache.folder,
                                assembly_s=now - assembled_at)
        sink(wrote(plan, rendered))
        return rendered


def wrote(plan: Plan, result: RenderResult) -> Wrote:
    """The event that says what a render wrote (its :meth:`~storyboard.progress.Wrote.line` is the command's summary)."""
    return Wrote(str(result.path), tuple(str(p) for p in result.subtitles), result.duration_s, result.frames,
                 plan.width, plan.height, plan.fps, result.seconds, result.rendered, result.reused)


def render_missing(plan: Plan, segments: list[Segment], todo: list[Segment], cache: SegmentCache, path: Path,
                   tally: FrameTally, sink: Sink) -> int:
    """Render each segment in ``todo`` with the plan's backend; returns how many were rendered.

    A shot's plain pieces are encoded as its frames stream by. On Ctrl-C (or any failure)
    the unfinished segment and pieces are removed and the finished ones kept.
    """
    from storyboard.render.assemble import PieceWriter

    pieces = PieceWriter(plan, segments, cache.folder / "pieces")
    backend = None
    done = 0
    try:
        if todo:
            from storyboard.backends import open_backend

            backend = open_backend(plan.model.id, plan)
        for n, segment in enumerate(todo, 1):
            sink(segment_started(plan, segment.shot, n, len(todo)))
            render_segment(plan, segment, backend, cache, pieces, tally, path)
            done += 1
    except KeyboardInterrupt:
        clean_up(cache.folder, cache.folder / "pieces", pieces=pieces)
        tally.finish()
        # Counted from the cache, not from `done`: a Ctrl-C just after a segment was sealed, before it
        # was counted, would under-report what is kept.
        kept = sum(1 for s in todo if sealed.problem(s.path, s.shot.length) is None)
        raise Interrupted(kept, len(todo), cache.folder) from None
    except BaseException:
        clean_up(cache.folder, cache.folder / "pieces", pieces=pieces)
        raise
    finally:
        if backend is not None:
            backend.close()
    return done


def segment_started(plan: Plan, shot: Any, n: int, of: int, worker: int = 0) -> SegmentStarted:
    """The event for the ``n``-th of ``of`` segments to render, shot ``shot`` (on the farm's ``worker``)."""
    return SegmentStarted(n, of, shot.index, tuple(plan.scenes[i].id for i in shot.scenes), shot.length, plan.fps,
                          worker)


def render_segment(plan: Plan, segment: Segment, backend: Any, cache: SegmentCache, pieces: Any,
                   tally: FrameTally, path: Path) -> None:
    """One shot: the backend's frames, counted on ``tally`` (anything with ``done`` and ``update``),
    into its pieces and its segment."""
    shot = segment.shot
    before = tally.done

    def sampling(fraction: float) -> None:
        tally.update(before + int(0.9 * fraction * shot.length))

    if getattr(backend, "name", "") == "preview":
        frames = backend.render_shot(plan, shot)
    else:
        frames = backend.render_shot(plan, shot, progress=sampling)
    counter = iter(range(before + 1, before + shot.length + 1))
    frames = _counted(frames, lambda: tally.update(next(counter)))
    frames = pieces.tee(shot, frames)  # the shot's plain runs go straight into their final pieces
    cache.write(segment, plan, frames, {"shot": shot.index, "scenes": [plan.scenes[i].id for i in shot.scenes],
                                        "model": plan.model.id, "output": str(path)})
    pieces.commit(shot)


def assemble_video(plan: Plan, segments: list[Segment], path: Path, cache: SegmentCache, interrupted: Interrupted,
                   sink: Sink) -> tuple[Any, int, int]:
    """Assemble the MP4 from the segments as its own progress stage; Ctrl-C raises ``interrupted``.

    The sound is mixed first (a line says so), then the stage counts the video's frames as their
    pieces are encoded (cached pieces count as done and skipped), then the mux.
    """
    from storyboard.render.assemble import assemble, audio_piece

    def say(text: str) -> None:
        sink(Said(text, "warning" if text.startswith("warning") else "info"))

    assembly = None
    try:
        audio = audio_piece(plan, cache.folder / "pieces", say, say) if plan.has_sound else None
        assembly = FrameTally(sink, "assemble", plan.total_frames, plan.fps)
        return assemble(plan, segments, path, cache.folder / "pieces", on_frame=assembly.update, warn=say,
                        on_reused=assembly.skip, audio=audio)
    except KeyboardInterrupt:
        clean_up(cache.folder / "pieces", path.parent)
        raise interrupted from None
    except BaseException:
        clean_up(cache.folder / "pieces", path.parent)
        raise
    finally:
        if assembly is not None:
            assembly.finish()


def clean_up(*folders: Path, pieces: Any = None) -> None:
    """After an interruption or a failure: stop every encoder and delete this process's partial files.

    Shielded, so a second Ctrl-C cannot cut it short.
    """
    with shielded():
        if pieces is not None:
            pieces.abort()
        abort_all()
        sweep_partials(*folders)
