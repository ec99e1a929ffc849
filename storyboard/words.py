"""Small helpers for the words storyboard prints."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless ``count`` is 1: ``1 scene``, ``2 scenes``,
    ``0 scenes``. ``nouns`` is the plural where adding an ``s`` is wrong (``1 entry``, ``2 entries``)."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
