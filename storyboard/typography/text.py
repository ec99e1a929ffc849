"""Fonts and line layout for text on frames, shared by planning (caption pages, warnings) and drawing.

* **Fonts**: a fallback chain of Noto fonts installed from PyPI as dependencies
  (``manimgx-fonts``: Noto Sans for Latin, Greek and Cyrillic, Noto Sans for Arabic, Hebrew and
  the other scripts Latin faces lack, Symbols, monochrome Emoji; the ``cjk`` extra adds Noto Sans
  CJK). Each character is drawn by the first font whose character map covers it.
* **Direction**: runs of right-to-left text (Arabic, Hebrew) are placed right to left by the
  Unicode bidirectional algorithm (python-bidi); within a run Pillow's RAQM layout (HarfBuzz,
  FriBiDi) shapes and orders the glyphs. Without RAQM the run's characters are reversed unshaped.
* **Lines and pages**: line widths are measured with the fonts themselves (pixels), lines break
  at spaces and beside CJK characters, and a caption too long for two lines splits into pages.

Pillow, fontTools and python-bidi are imported inside functions: ``storyboard validate`` imports
this module through the plan and must stay fast. ASCII text needs no character maps at all.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from PIL import ImageFont

FONT_PACKAGE = "manimgx_fonts"
PRIMARY_FONT = "NotoSans[wght].ttf"  # Latin, Greek, Cyrillic: first in the chain, covers all of ASCII
LAST_FONTS = ("NotoSansSymbols", "NotoEmoji")  # tried after every script's own font
CJK_PACKAGE, CJK_FILE, CJK_FACE = "noto_cjk_sans_otc", "NotoSansCJK-Regular.ttc", 2  # face 2: Noto Sans CJK SC
CJK_EXTRA = "pip install 'storyboard[cjk]'"
SAFE_WIDTH = 0.9  # a caption's box fits in the middle 90% of the frame's width
CAPTION_LINES = 2
SENTENCE_END = re.compile(r"[.!?…؟‼]+[\"'”’»)\]]*\s+|[。！？]+[」』”’）]*\s*")
CLAUSE_END = re.compile(r"[,;:،؛]\s+|\s+[-–—]\s+|[–—]|[，；：、]\s*")


# --- fonts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FontFile:
    """One font of the chain: a file and the face in it (a collection holds several)."""

    path: Path
    index: int = 0


def _package_fonts(package: str) -> list[Path]:
    """The font files shipped in ``package``, found through importlib.resources ([] if not installed)."""
    import importlib.resources

    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        return []
    paths = [Path(str(item)) for item in root.iterdir() if item.name.endswith((".ttf", ".otf", ".ttc"))]
    return [p for p in paths if p.is_file()]


def _chain_rank(path: Path) -> tuple[bool, int, str]:
    last = next((k for k, prefix in enumerate(LAST_FONTS) if path.name.startswith(prefix)), -1)
    return path.name != PRIMARY_FONT, last, path.name


@functools.cache
def font_files() -> tuple[FontFile, ...]:
    """The fallback chain in the order tried: Noto Sans, Noto Sans for each other script,
    Symbols, Emoji, then Noto Sans CJK SC when the ``cjk`` extra is installed. Empty when no
    font package is installed (Pillow's built-in font is used then: ASCII only)."""
    base = sorted((p for p in _package_fonts(FONT_PACKAGE) if "Italic" not in p.name), key=_chain_rank)
    cjk = [p for p in _package_fonts(CJK_PACKAGE) if p.name == CJK_FILE]
    return tuple(FontFile(p) for p in base) + tuple(FontFile(p, CJK_FACE) for p in cjk)


def cjk_installed() -> bool:
    """Whether the ``cjk`` extra's font is installed."""
    return any(f.path.name == CJK_FILE for f in font_files())


@functools.cache
def coverage(font: int) -> frozenset[int]:
    """The code points font ``font`` of the chain has glyphs for (its character map)."""
    files = font_files()
    if not files:
        return frozenset(range(0x20, 0x7F))
    from fontTools.ttLib import TTFont

    f = files[font]
    with TTFont(f.path, fontNumber=f.index, lazy=True) as tt:
        return frozenset(tt.getBestCmap() or {})


@functools.cache
def font_for(codepoint: int) -> int | None:
    """The first font of the chain that draws ``codepoint``, or None if none does."""
    return next((i for i in range(max(1, len(font_files()))) if codepoint in coverage(i)), None)


@functools.cache
def raqm() -> bool:
    """Whether Pillow has RAQM layout (shaping and right-to-left text)."""
    from PIL import features

    return bool(features.check_feature("raqm"))


def face(font: int, size: int) -> "ImageFont.FreeTypeFont | ImageFont.ImageFont":
    """Font ``font`` of the chain as a Pillow font of ``size`` pixels (RAQM layout when available)."""
    return _face(font, size, raqm())


@functools.lru_cache(maxsize=64)
def _face(font: int, size: int, with_raqm: bool) -> "ImageFont.FreeTypeFont | ImageFont.ImageFont":
    from PIL import ImageFont

    files = font_files()
    if not files:
        return ImageFont.load_default(size=size)
    layout = ImageFont.Layout.RAQM if with_raqm else ImageFont.Layout.BASIC
    return ImageFont.truetype(str(files[font].path), size, index=files[font].index, layout_engine=layout)


def ignorable(ch: str) -> bool:
    """Characters nothing needs to draw: controls, format characters (joiners, direction marks)
    and variation selectors."""
    cp = ord(ch)
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF


def missing_characters(text: str) -> list[str]:
    """The distinct characters of ``text``, in order, that no font of the chain draws (they come
    out as boxes)."""
    if text.isascii():
        return []
    return [c for c in dict.fromkeys(text) if not c.isascii() and not ignorable(c) and font_for(ord(c)) is None]


def is_cjk(ch: str) -> bool:
    """Whether ``ch`` is Chinese, Japanese or Korean (the ``cjk`` extra's font draws it)."""
    cp = ord(ch)
    return (0x1100 <= cp <= 0x11FF or 0x2E80 <= cp <= 0x9FFF or 0xA960 <= cp <= 0xA97F or 0xAC00 <= cp <= 0xD7FF
            or 0xF900 <= cp <= 0xFAFF or 0xFE30 <= cp <= 0xFE4F or 0xFF00 <= cp <= 0xFFEF or 0x20000 <= cp <= 0x3FFFF)


# --- direction and runs ---------------------------------------------------------------------


ISOLATES_AS_NEUTRAL = dict.fromkeys(range(0x2066, 0x206A), 0xFFFC)  # LRI, RLI, FSI, PDI -> a neutral (ON)


def _strong(ch: str) -> bool:
    """Whether ``ch`` has a strong direction (left to right, right to left or Arabic letter)."""
    return unicodedata.bidirectional(ch) in ("L", "R", "AL")


def bidi_levels(text: str) -> tuple[bool, tuple[int, ...]]:
    """Whether ``text`` is a right-to-left paragraph, and each character's embedding level (odd:
    right to left), by python-bidi's implementation of the Unicode bidirectional algorithm (rules
    P2-P3, X1-X10, W1-W7, N1-N2, I1-I2). It predates isolates, so they are resolved as neutrals;
    the characters rule X9 removes (embedding controls, joiners) take the level of the character
    before them (the first of the text: the paragraph's), as UAX #9 section 5.2 suggests."""
    from bidi import algorithm

    storage = algorithm.get_empty_storage()
    base = algorithm.get_base_level(text)
    storage["base_level"], storage["base_dir"] = base, "LR"[base]
    algorithm.get_embedding_levels(text.translate(ISOLATES_AS_NEUTRAL), storage)
    chars = list(storage["chars"])  # one entry per character; the steps below drop the removed ones
    algorithm.explicit_embed_and_overrides(storage)
    algorithm.resolve_weak_types(storage)
    algorithm.resolve_neutral_types(storage, False)
    algorithm.resolve_implicit_levels(storage, False)
    kept = {id(c) for c in storage["chars"]}
    levels: list[int] = []
    for c in chars:
        levels.append(c["level"] if id(c) in kept else levels[-1] if levels else base)
    return base == 1, tuple(levels)


@functools.cache
def _holds_runs(font: int) -> bool:
    """Whether spaces, punctuation and numbers after a character of ``font`` stay in it: a script's
    font yes (its runs stay whole for shaping), the symbol and emoji fonts no."""
    files = font_files()
    return not files or not files[font].path.name.startswith(LAST_FONTS)


def _assign_fonts(text: str) -> list[int]:
    """Each character's font: the current one for marks, neutrals and numbers it covers (see
    :func:`_holds_runs`), else the first in the chain that covers it (the current one if none does:
    a box)."""
    out: list[int] = []
    current: int | None = None
    for ch in text:
        cp = ord(ch)
        if current is not None and (ignorable(ch) or (not _strong(ch) and _holds_runs(current)
                                                      and cp in coverage(current))):
            out.append(current)
            continue
        found = font_for(cp)
        current = found if found is not None else (current if current is not None else 0)
        out.append(current)
    return out


@dataclass(frozen=True)
class Itemized:
    """A text with each character's font (index into :func:`font_files`) and bidi level."""

    text: str
    fonts: tuple[int, ...]
    levels: tuple[int, ...]
    rtl: bool


@functools.lru_cache(maxsize=4096)
def itemize(text: str) -> Itemized:
    """Fonts and levels for ``text``; ASCII text is all the first font, left to right."""
    if text.isascii():
        return Itemized(text, (0,) * len(text), (0,) * len(text), False)
    rtl, levels = bidi_levels(text)
    return Itemized(text, tuple(_assign_fonts(text)), levels, rtl)


@dataclass(frozen=True)
class Run:
    """A run of one font and one direction; ``text`` in logical (reading) order."""

    text: str
    font: int
    rtl: bool


def visual_runs(a: Itemized, start: int, end: int) -> list[Run]:
    """Characters ``[start, end)`` of ``a`` as runs of one font and one level, in the order they
    are drawn from left to right (rule L2: reverse each run of levels >= k, highest k first)."""
    runs: list[tuple[int, Run]] = []
    i = start
    while i < end:
        j = i + 1
        while j < end and a.fonts[j] == a.fonts[i] and a.levels[j] == a.levels[i]:
            j += 1
        runs.append((a.levels[i], Run(a.text[i:j], a.fonts[i], a.levels[i] % 2 == 1)))
        i = j
    order = list(range(len(runs)))
    odd = [lv for lv, _ in runs if lv % 2]
    for level in range(max((lv for lv, _ in runs), default=0), (min(odd) if odd else 1) - 1, -1):
        k = 0
        while k < len(order):
            if runs[order[k]][0] < level:
                k += 1
                continue
            m = k
            while m < len(order) and runs[order[m]][0] >= level:
                m += 1
            order[k:m] = order[k:m][::-1]
            k = m
    return [runs[k][1] for k in order]


def drawable(run: Run) -> tuple[str, str | None]:
    """What to hand Pillow for ``run``: its text and direction (RAQM), or without RAQM its
    text with invisible characters removed, reversed when it runs right to left."""
    if raqm():
        return run.text, "rtl" if run.rtl else "ltr"
    visible = "".join(c for c in run.text if not ignorable(c))
    return (visible[::-1] if run.rtl else visible), None


def run_width(run: Run, size: int) -> float:
    """How far ``run`` advances at ``size`` pixels (pixels)."""
    return _run_width(run, size, raqm())


@functools.lru_cache(maxsize=8192)
def _run_width(run: Run, size: int, with_raqm: bool) -> float:
    text, direction = drawable(run)
    return face(run.font, size).getlength(text, direction=direction) if text else 0.0


def span_width(a: Itemized, start: int, end: int, size: int) -> float:
    """Width of characters ``[start, end)`` of ``a`` drawn at ``size`` pixels (pixels)."""
    return sum(run_width(p, size) for p in visual_runs(a, start, end))


def line_width(text: str, size: int) -> float:
    """Width of ``text`` drawn on one line at ``size`` pixels (pixels)."""
    a = itemize(text)
    return span_width(a, 0, len(text), size)


# --- lines and pages ------------------------------------------------------------------------


def normalise(text: str) -> str:
    """``text`` with each run of whitespace (newlines included) made one space, and stripped."""
    return " ".join(text.split())


def _wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _joins(ch: str) -> bool:
    """Whether ``ch`` belongs to the character before it (a mark, a joiner, a variation selector)."""
    return unicodedata.category(ch) in ("Mn", "Me", "Mc") or ignorable(ch)


def _break_before(text: str, i: int) -> bool:
    """Whether a line may break before ``text[i]``: after a space, or beside a wide (CJK)
    character unless punctuation binds the two (no closing mark starts a line, no opening one ends it)."""
    prev, ch = text[i - 1], text[i]
    if ch == " " or _joins(ch):
        return False
    if prev == " ":
        return True
    binds = unicodedata.category(ch) in ("Pe", "Pf", "Po") or unicodedata.category(prev) in ("Ps", "Pi")
    return (_wide(prev) or _wide(ch)) and not binds


def _longest_fit(a: Itemized, start: int, stop: int, size: int, max_width: float) -> int:
    """The end of the longest run of whole characters from ``start`` (before ``stop``) that fits
    ``max_width`` pixels; at least one character."""
    best = start + 1
    while best < stop and _joins(a.text[best]):
        best += 1
    for end in range(best + 1, stop):
        if _joins(a.text[end]):
            continue
        if span_width(a, start, end, size) > max_width:
            break
        best = end
    return best


def wrap_spans(a: Itemized, size: int, max_width: float, max_lines: int | None = None) -> list[tuple[int, int]]:
    """Lines of ``a`` (text made by :func:`normalise`) as ``[start, end)`` spans without the spaces at
    their ends, each at most ``max_width`` pixels wide at ``size`` pixels, breaking where
    :func:`_break_before` allows (a word wider than a line breaks between characters). With
    ``max_lines``, stops after ``max_lines + 1`` lines (enough to tell that the text does not fit)."""
    text, n = a.text, len(a.text)
    stops = [i for i in range(1, n) if _break_before(text, i)] + [n]

    def trimmed(end: int) -> int:
        return end - 1 if end > 0 and text[end - 1] == " " else end

    lines: list[tuple[int, int]] = []
    start, k = 0, 0
    while start < n and (max_lines is None or len(lines) <= max_lines):
        fit = None
        while k < len(stops) and span_width(a, start, trimmed(stops[k]), size) <= max_width:
            fit, k = stops[k], k + 1
        if fit is None:
            fit = _longest_fit(a, start, stops[k], size, max_width)
        lines.append((start, trimmed(fit)))
        start = fit + 1 if fit < n and text[fit] == " " else fit
        while k < len(stops) and stops[k] <= start:
            k += 1
    return lines


def wrap(text: str, size: int, max_width: float, max_lines: int | None = None) -> list[str]:
    """``text`` (whitespace normalised) broken into lines at most ``max_width`` pixels wide at
    ``size`` pixels (with ``max_lines``: at most ``max_lines + 1`` of them, see :func:`wrap_spans`)."""
    a = itemize(normalise(text))
    return [a.text[s:e] for s, e in wrap_spans(a, size, max_width, max_lines)]


def box_padding(size: int) -> int:
    """The padding around text on its box (pixels), for text of ``size`` pixels."""
    return max(4, size // 3)


def caption_layout(width_px: int, height_px: int) -> tuple[int, int]:
    """The burnt-in caption's text size and the widest a line of it may be, for a frame of
    ``width_px`` x ``height_px`` (pixels): 1/18 of the frame's shorter side (at least 12), and a
    line with its box's padding fits in the middle :data:`SAFE_WIDTH` of the width."""
    size = max(12, min(width_px, height_px) // 18)
    return size, max(size, int(width_px * SAFE_WIDTH) - 2 * box_padding(size))


def _split_after(text: str, pattern: re.Pattern[str]) -> list[str]:
    """``text`` cut after each match of ``pattern`` (the parts join back into ``text``)."""
    cuts = [m.end() for m in pattern.finditer(text) if 0 < m.end() < len(text)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def _paginate(text: str, fits: Callable[[str], bool], patterns: tuple[re.Pattern[str], ...],
              last: Callable[[str], list[str]]) -> list[str]:
    """Pages of ``text`` that each ``fits``: the parts between ``patterns[0]``'s matches packed
    greedily, a part too long on its own split by the next pattern, finally by ``last``. The last
    page of a split part stays open, so the parts after it can join it (no page of one stray word)."""
    if fits(text):
        return [text]
    if not patterns:
        return last(text)
    pages, current = [], ""
    for part in _split_after(text, patterns[0]):
        if fits(current + part):
            current += part
            continue
        pages += [current] if current else []
        if fits(part):
            current = part
            continue
        *full, current = _paginate(part, fits, patterns[1:], last) or [""]
        pages += full
        current += part[len(part.rstrip()):]  # the space the split part ended with, before the next
    return pages + ([current] if current else [])


def caption_pages(text: str, width_px: int, height_px: int) -> list[str]:
    """``text`` as the pages a caption is shown in on a ``width_px`` x ``height_px`` frame (pixels),
    each at most :data:`CAPTION_LINES` lines at the burn-in's size (:func:`caption_layout`), measured
    with the fonts that draw it. Split at sentence ends first, then at clauses, then between lines.
    Text that fits is returned as it is (one page); pages have their whitespace normalised."""
    size, max_width = caption_layout(width_px, height_px)

    def fits(page: str) -> bool:
        return len(wrap(page, size, max_width, CAPTION_LINES)) <= CAPTION_LINES

    def by_lines(part: str) -> list[str]:
        a = itemize(normalise(part))
        lines = wrap_spans(a, size, max_width)
        return [a.text[lines[k][0]:lines[min(k + CAPTION_LINES, len(lines)) - 1][1]]
                for k in range(0, len(lines), CAPTION_LINES)]

    if fits(text):
        return [text]
    pages = _paginate(normalise(text), fits, (SENTENCE_END, CLAUSE_END), by_lines)
    return [p for p in (normalise(p) for p in pages) if p]
