"""Captions as pages, and what to tell the user about text on frames.

A caption too long for two lines at the burn-in's size is shown as timed pages, each a
:class:`CaptionPlan` of its own, so the SRT cues and the burnt-in captions follow the same
pages. Pages are measured with fonts, which the plan may not read: the pipeline gives
:func:`storyboard.plan.compile.compile_plan` a :class:`Pager`
(:class:`storyboard.typography.pager.CaptionPager`), and the plan records the fonts it measured
with. :func:`pace_warnings` tells ``validate`` about pages too short to read;
:func:`drawn_texts` lists the text drawn on frames, whose glyphs the typography checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

from storyboard.plan.data import CaptionPlan, Plan

if TYPE_CHECKING:
    from storyboard.script.schema import Storyboard

class Pager(Protocol):
    """Splits a caption into the pages it is shown in on a ``width_px`` x ``height_px`` frame (pixels)."""

    def __call__(self, text: str, width_px: int, height_px: int) -> list[str]: ...

    @property
    def fonts(self) -> tuple[str, ...]:
        """The fonts the pages are measured with (empty: not measured)."""
        ...


class OnePage:
    """The pager of a plan compiled without fonts: each caption is one page, whatever its length."""

    fonts: tuple[str, ...] = ()

    def __call__(self, text: str, width_px: int, height_px: int) -> list[str]:
        return [text]


MIN_PAGE_S = 0.5  # the shortest a caption page may be shown and read (seconds)
READING_CPS = 25.0  # a fast reading rate (characters per second)


def page_frames(pages: Sequence[str], start: int, end: int) -> list[tuple[int, int]]:
    """Frames ``[start, end)`` shared among ``pages`` in proportion to the time each needs to be read
    (:func:`needed_s`: its length in characters, but never under :data:`MIN_PAGE_S`), at least one
    frame each: the spans tile ``[start, end)`` exactly. Needs ``end - start >= len(pages)``."""
    n, spare = len(pages), end - start - len(pages)
    weights = [round(needed_s(p) * READING_CPS) for p in pages]
    total = sum(weights)
    cumulative = [sum(weights[:k]) for k in range(n + 1)]
    bounds = [start + k + (2 * spare * c + total) // (2 * total) for k, c in enumerate(cumulative)]
    return list(zip(bounds, bounds[1:]))


def caption_plans(text: str, start: int, end: int, scene: int, width: int, height: int,
                  pager: Pager) -> list[CaptionPlan]:
    """A caption shown over frames ``[start, end)`` on ``width`` x ``height`` frames (pixels), as one
    :class:`CaptionPlan` per page of ``pager``'s. With fewer frames than pages, the last frame's page
    keeps the rest of the text (and :func:`pace_warnings` says the caption is too fast to read)."""
    if end - start <= 1:
        return [CaptionPlan(text, start, end, scene)]
    pages = pager(text, width, height)
    if len(pages) > end - start:
        keep = end - start
        pages = pages[:keep - 1] + [" ".join(pages[keep - 1:])]
    return [CaptionPlan(page, s, e, scene) for page, (s, e) in zip(pages, page_frames(pages, start, end))]


def pace_warnings(plan: Plan) -> list[str]:
    """A warning for each scene whose caption has a page shown for less than it needs: at least
    :data:`MIN_PAGE_S` seconds, and its characters at :data:`READING_CPS` characters a second."""
    by_scene: dict[int, list[CaptionPlan]] = {}
    for c in plan.captions:
        by_scene.setdefault(c.scene, []).append(c)
    warnings = []
    for scene, pages in by_scene.items():
        def shortfall(c: CaptionPlan) -> float:
            return needed_s(c.text) - (c.end - c.start) / plan.fps

        worst = max(pages, key=shortfall)
        if shortfall(worst) <= 1e-9:
            continue
        total_s = (pages[-1].end - pages[0].start) / plan.fps
        which = f"page {pages.index(worst) + 1} of {len(pages)}" if len(pages) > 1 else "its one page"
        warnings.append(f"scene '{plan.scenes[scene].id}': the caption is too fast to read: shown for {total_s:.2f} s "
                        f"as {len(pages)} page{'s' * (len(pages) > 1)} of at most two lines; {which} "
                        f"(\"{_clip(worst.text)}\") gets {(worst.end - worst.start) / plan.fps:.2f} s but needs "
                        f"{needed_s(worst.text):.2f} s (at least {MIN_PAGE_S:g} s, {READING_CPS:g} characters a "
                        "second). Lengthen the scene or the caption's duration, or shorten its text.")
    return warnings


def needed_s(text: str) -> float:
    """How long a page of ``text`` must be shown to be read (seconds)."""
    return max(MIN_PAGE_S, len(text) / READING_CPS)


def drawn_texts(board: "Storyboard", plan: Plan) -> list[tuple[str, str]]:
    """The text drawn on frames, as ``(where, text)``: each caption when captions are burnt in (where
    ends with ``caption``), and each prompt and the style when the preview animatic draws them."""
    places: list[tuple[str, str]] = []
    burnt = plan.output.captions in ("burn", "both", "all")
    drawn_prompts = plan.model.id == "preview"
    for i, scene in enumerate(board.scenes):
        if burnt and scene.caption is not None:
            places.append((f"scene '{plan.scenes[i].id}' caption", scene.caption.text))
        if drawn_prompts:
            places += [(f"scene '{plan.scenes[i].id}' prompt {k + 1}", key.text) for k, key in enumerate(scene.prompts)]
    if drawn_prompts and board.style:
        places.append(("style", board.style))
    return places


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
