"""What a voice can say: narration text made safe for the speech engine, and how long it must last.

Piper's text encoder attends over a whole utterance at once, so its memory grows with the
square of the utterance's length: a 30,000-letter word asked onnxruntime for 3.5 GB for one
matrix and failed. Emoji and other symbols are read out by name ("grinning face" fifty times).
So each sentence is spoken as utterances of at most :data:`MAX_UTTERANCE_CHARS` characters,
words longer than :data:`MAX_WORD_CHARS` are split, and symbols a reader would not say are
dropped. Pure text in, text out; no engine is loaded here.
"""

from __future__ import annotations

import re
import unicodedata

MAX_WORD_CHARS = 40  # longer "words" (a URL, a hash, a run of letters) are spoken in pieces this long
MAX_UTTERANCE_CHARS = 400  # characters the engine is given at once (its memory grows with their square)
# The fastest the engine speaks, in letters and digits a second at speed 1: prose is spoken at about 14,
# a run of one-letter words ("a a a ...") at 20. A narration lasts at least its letters over this.
MAX_LETTERS_PER_S = 40.0
TYPICAL_LETTERS_PER_S = 14.0  # ordinary prose at speed 1 (for messages: "about N hours")

_DROPPED = {"Cc", "Cf", "Cs", "Co", "Cn"}  # controls, format characters (zero-width joiners), private, unassigned
_FIRST_PICTOGRAPH = 0x2190  # symbols (So, Sk) from here on are arrows, dingbats, emoji and their modifiers;
# those before it stay: ° © ® ™ № ℃ are read as words
_SELECTORS = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef\u20e3]")  # variation selectors, keycap mark


def speakable(text: str) -> str:
    """``text`` without the symbols a reader would not say (emoji, pictographs, arrows, dingbats,
    control and format characters), its words longer than :data:`MAX_WORD_CHARS` split into
    pieces, and its spaces collapsed. Letters, digits, punctuation, currency and maths signs stay."""
    kept = "".join(" " if _unsaid(c) else c for c in _SELECTORS.sub("", text))
    words = []
    for word in kept.split():
        words += [word[k:k + MAX_WORD_CHARS] for k in range(0, len(word), MAX_WORD_CHARS)]
    return " ".join(words)


def _unsaid(c: str) -> bool:
    category = unicodedata.category(c)
    if c.isspace():
        return False
    return category in _DROPPED or (category in ("So", "Sk") and ord(c) >= _FIRST_PICTOGRAPH)


def letters(text: str) -> int:
    """How many letters and digits ``text`` holds (what takes time to say)."""
    return sum(1 for c in text if c.isalnum())


def has_words(text: str) -> bool:
    """Whether ``text`` holds anything a voice can say: a letter or a digit, once symbols are dropped."""
    return letters(speakable(text)) > 0


def utterances(sentence: str) -> list[str]:
    """A sentence as the engine is given it: :func:`speakable`, then cut at spaces into pieces of at
    most :data:`MAX_UTTERANCE_CHARS` characters (after a comma, semicolon or colon where one falls in
    the second half of a piece). Pieces without a letter or digit are left out: nothing to say."""
    text = speakable(sentence)
    out = []
    while len(text) > MAX_UTTERANCE_CHARS:
        cut = text.rfind(" ", 0, MAX_UTTERANCE_CHARS + 1)
        clause = max(text.rfind(p, MAX_UTTERANCE_CHARS // 2, cut) for p in (", ", "; ", ": "))
        cut = clause + 1 if clause > 0 else cut
        if cut <= 0:  # no space at all: cannot happen after speakable (words are at most 40 characters)
            cut = MAX_UTTERANCE_CHARS
        out.append(text[:cut].strip())
        text = text[cut:].strip()
    out.append(text)
    return [u for u in out if letters(u)]


def shortest_speech_s(text: str, speed: float, pause_s: float, sentences: int) -> float:
    """The least time ``text`` can take to say (seconds): its letters at :data:`MAX_LETTERS_PER_S`
    times ``speed``, with ``pause_s`` between its ``sentences``. Safe to refuse on: the engine
    never speaks faster."""
    return letters(speakable(text)) / (MAX_LETTERS_PER_S * speed) + pause_s * max(sentences - 1, 0)


def usual_speech_s(text: str, speed: float) -> float:
    """About how long ``text`` takes to say at ``speed`` (seconds), for messages."""
    return letters(speakable(text)) / (TYPICAL_LETTERS_PER_S * speed)
