"""Warnings for characters that no installed font draws (they would show as boxes)."""

from __future__ import annotations

from typing import Iterable

from storyboard.typography.text import CJK_EXTRA, cjk_installed, is_cjk, missing_characters


def glyph_warnings(places: Iterable[tuple[str, str]]) -> list[str]:
    """A warning for each ``(where, text)`` whose text has characters no installed font draws,
    naming them by code point; ``where`` ends with ``caption`` for a burnt-in caption, else the
    text is drawn by the preview. Says how to install the CJK fonts when they would help."""
    warnings = []
    for where, text in places:
        missing = missing_characters(text)
        if not missing:
            continue
        names = ", ".join(f"U+{ord(c):04X} {c!r}" for c in missing)
        cjk = [c for c in missing if is_cjk(c)] if not cjk_installed() else []
        hint = f"; Chinese, Japanese and Korean need the CJK fonts: {CJK_EXTRA}" if cjk else ""
        drawn = "the burnt-in caption" if where.endswith("caption") else "the preview"
        warnings.append(f"{where}: no installed font has {names}: {drawn} shows them as boxes{hint}")
    return warnings
