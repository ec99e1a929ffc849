"""Caption pages measured with the installed fonts, for the plan.

The plan is pure and reads no font files, so the pipeline gives it a :class:`CaptionPager`: a
caption too long for two lines at the burn-in's size splits into pages, measured with the
fonts of :func:`storyboard.typography.text.font_files`. The plan records which fonts those were
(:attr:`CaptionPager.fonts`), so a plan says what its pages depend on.
"""

from __future__ import annotations

from storyboard.typography.text import caption_pages, font_files

BUILT_IN_FONT = "Pillow's built-in font"  # what draws text when no font package is installed


class CaptionPager:
    """Pages for the burnt-in captions: ``pager(text, width_px, height_px)`` is
    :func:`storyboard.typography.text.caption_pages`."""

    def __call__(self, text: str, width_px: int, height_px: int) -> list[str]:
        return caption_pages(text, width_px, height_px)

    @property
    def fonts(self) -> tuple[str, ...]:
        """The fonts pages are measured with, in the order tried: file names, with the face's index
        after ``#`` for a face of a collection (``NotoSansCJK-Regular.ttc#2``)."""
        files = font_files()
        if not files:
            return (BUILT_IN_FONT,)
        return tuple(f.path.name + (f"#{f.index}" if f.index else "") for f in files)
