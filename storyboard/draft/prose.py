"""Small text tools for drafting: clean extracted prose for a voice, count words, split sentences, slugs.

Nothing here knows where the text came from (Markdown, HTML or plain text); the readers hand
it runs of prose and these make them speakable: no URLs, no leftover markup, one space between
words, a full stop at the end of a list item.
"""

from __future__ import annotations

import re
import unicodedata

WORDS_PER_MINUTE = 150  # a calm narration pace
URL = re.compile(r"(?:\b(?:https?|ftp)://|\bwww\.)[^\s<>()\"']*[^\s<>()\"'.,;:!?]|<(?:https?|mailto):[^>\s]*>",
                 re.IGNORECASE)
CITATION = re.compile(r"\[\^?[\w-]{1,12}\]")  # [1], [^note]: footnote and citation marks
EMPHASIS = re.compile(r"\*{1,3}|(?<![\w])_{1,3}|_{1,3}(?![\w])|~~|`+")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
SPACE_BEFORE = re.compile(r"\s+([,.;:!?%)\]])")
EMPTY_BRACKETS = re.compile(r"\(\s*[,;:]?\s*\)|\[\s*\]")
SENTENCE_BREAK = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9À-Þ])")
WORD = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
WORDISH_CODE = re.compile(r"[A-Za-z][A-Za-z0-9'-]*(?: [A-Za-z][A-Za-z0-9'-]*){0,2}")
ARROW = re.compile(r"\s*(?:->|→|=>)\s*")
DOUBLED_PUNCT = re.compile(r"([,;:])\s*(?=[,;:.!?])")
MAX_WORD_CHARS = 40  # longer "words" (hashes, base64, a pasted run of letters) are not speech
GIANT_WORD = re.compile(r"\S{%d,}" % (MAX_WORD_CHARS + 1))
# Image captions and credits ("Image taken from here.", "Photo: Jane Doe / Unsplash"): short lines a
# voice should not read; their alt text already seeds the prompts.
CAPTION = re.compile(r"^(?:(?:an? |the )?(?:image|photo|photograph|picture|illustration|figure|fig\.|screenshot|"
                     r"source|credit|credits|via|courtesy)\b.{0,160}|.{0,160}\b(?:image|photo|picture|"
                     r"illustration|screenshot)s? (?:taken |borrowed |adapted |reproduced )?"
                     r"(?:from|by|courtesy of|via)\b.{0,120})$", re.IGNORECASE)


def unspeakable(char: str) -> bool:
    """Whether a voice cannot say ``char``: emoji and other symbols (Unicode So, Sk, Cn), their
    variation selectors, skin tones and joiners. Letters, digits, punctuation, currency and maths
    signs (Sc, Sm: the voice says "dollars", "plus") stay; so does private use (Co: the drafter's own marks)."""
    if char in "\u200d\u20e3" or "\ufe00" <= char <= "\ufe0f" or "\U0001f3fb" <= char <= "\U0001f3ff":
        return True
    return unicodedata.category(char) in ("So", "Sk", "Cn")


def speakable(text: str) -> str:
    """``text`` without emoji and symbols a voice cannot say (see :func:`unspeakable`), nor words
    longer than :data:`MAX_WORD_CHARS` characters."""
    if not text.isascii():
        text = "".join(" " if unspeakable(c) else c for c in text)
    return GIANT_WORD.sub(" ", text)


def is_caption(text: str) -> bool:
    """Whether a short paragraph is an image's caption or credit rather than prose (at most 30 words)."""
    return word_count(text) <= 30 and bool(CAPTION.match(text))


def clean(text: str) -> str:
    """Prose fit to be read aloud: URLs, emoji and symbols, words over :data:`MAX_WORD_CHARS` characters,
    citation marks, stray emphasis and control characters removed,
    whitespace collapsed to single spaces, no space before punctuation."""
    text = CONTROL.sub(" ", text)
    text = URL.sub(" ", text)
    text = speakable(text)
    text = CITATION.sub("", text)
    text = EMPHASIS.sub("", text)
    text = EMPTY_BRACKETS.sub(" ", text)
    text = ARROW.sub(" to ", text)
    text = " ".join(text.split())
    text = SPACE_BEFORE.sub(r"\1", text)
    text = DOUBLED_PUNCT.sub("", text)
    return text.lstrip(" ,;:.-–—").rstrip(" ,;-–—")


def as_sentence(text: str) -> str:
    """A list item as a sentence: a capital first letter and a closing full stop (unless it has one)."""
    text = text.strip().rstrip(",;")
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?:…\"'”’)" else text + "."


def word_count(text: str) -> int:
    """Words in ``text`` (runs of letters and digits, with inner apostrophes, hyphens and dots)."""
    return len(WORD.findall(text))


def seconds_of_speech(words: int) -> float:
    """Seconds a narrator takes for ``words`` words at :data:`WORDS_PER_MINUTE`."""
    return words * 60.0 / WORDS_PER_MINUTE


def sentences(text: str) -> list[str]:
    """``text`` split after each sentence's closing punctuation (a capital letter or digit follows)."""
    return [s.strip() for s in SENTENCE_BREAK.split(text) if s.strip()]


def is_wordish_code(code: str) -> bool:
    """Whether an inline code span reads as words (``preview``, ``storyboard render``): one to
    three plain words, which a narrator can say. Paths, flags and expressions are not."""
    return bool(WORDISH_CODE.fullmatch(code.strip())) and len(code.strip()) <= 40


def slug(text: str, limit: int = 40) -> str:
    """A scene id from a heading: ASCII letters and digits joined by ``-``, at most ``limit``
    characters, cut at a word; empty when nothing ASCII is left (the caller numbers it instead)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "")
