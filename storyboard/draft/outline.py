"""The outline of an article: a title, sections of narratable paragraphs, image alt texts, and a
count of what was left out; and :class:`ArticleBuilder`, which the readers feed in reading order.

What is never narrated (code, tables, image alt texts, comments, footnotes, navigation) is counted
in :attr:`Article.skipped`; image alt texts are kept beside the paragraphs they illustrate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from storyboard.draft.prose import (
    as_sentence,
    clean,
    is_caption,
    is_wordish_code,
    sentences,
    word_count,
)

CODE_MARK = "\ue000"  # stands in for an unspeakable code span until its sentence is dropped
PLURALS = {"code block": "code blocks", "code-heavy line": "code-heavy lines", "table": "tables", "image": "images",
           "footnote": "footnotes", "image caption": "image captions", "HTML comment": "HTML comments", "script or style": "scripts or styles",
           "navigation block": "navigation blocks", "form": "forms"}


@dataclass
class Paragraph:
    """One narratable block: prose (a list becomes one paragraph of sentences) and the alt texts of
    the images placed with it (they seed prompts, never the narration)."""

    text: str
    images: list[str] = field(default_factory=list)

    @property
    def words(self) -> int:
        return word_count(self.text)


@dataclass
class Section:
    """The paragraphs under one heading (``title`` None: the text before the first heading)."""

    title: str | None
    paragraphs: list[Paragraph] = field(default_factory=list)


@dataclass
class Article:
    """What the drafter works from."""

    path: Path
    title: str
    description: str = ""
    sections: list[Section] = field(default_factory=list)
    cover: list[str] = field(default_factory=list)  # alt texts of images before any prose: the title card's
    skipped: Counter = field(default_factory=Counter)
    alt_texts: int = 0  # images whose alt text was kept for prompts

    @property
    def words(self) -> int:
        return sum(p.words for s in self.sections for p in s.paragraphs)

    def skipped_summary(self) -> str:
        """``3 code blocks, 1 table, 2 images (alt text used for prompts)``; empty when nothing was."""
        parts = []
        order = list(PLURALS)
        for key, n in sorted(self.skipped.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
            if n:
                name = PLURALS.get(key, key) if n != 1 else key
                if key == "image":
                    used = "alt text" if self.alt_texts == n else f"{self.alt_texts} alt texts"
                    name += f" ({used} used for prompts)" if self.alt_texts else " (no alt text)"
                parts.append(f"{n} {name}")
        return ", ".join(parts)


class ArticleBuilder:
    """Collects headings, paragraphs, list items and images in reading order into an :class:`Article`.

    The readers call :meth:`heading`, :meth:`block` (a paragraph as ``(text, is_code)`` segments),
    :meth:`item` (a list item), :meth:`end_list`, :meth:`image` and :meth:`skip`. An image goes with the
    next paragraph of its section (the last one, at the section's end); images before any prose
    make the title card's prompt.
    """

    def __init__(self, path: Path):
        self.article = Article(path=path, title="")
        self.pending_images: list[str] = []
        self.items: list[str] = []
        self.seen_prose = False
        self.lead_in = False  # the last paragraph ends with ':' and nothing came after it yet: a list joins it

    def heading(self, level: int, text: str) -> None:
        """A heading: the first level-1 heading titles the article (if nothing else did); the others open sections."""
        self.end_list()
        text = clean(text)
        if not text:
            return
        if level == 1 and not self.article.title and not self.seen_prose:
            self.article.title = text
            return
        self._attach_images_to_last()
        self.lead_in = False
        self.article.sections.append(Section(title=text))

    def block(self, segments: list[tuple[str, bool]]) -> None:
        """A paragraph of prose and inline code; a code-heavy one is skipped and counted."""
        self.end_list()
        text = self._speakable(segments)
        if text and is_caption(text):
            self.skip("image caption")
        elif text:
            self._add(text)

    def item(self, segments: list[tuple[str, bool]]) -> None:
        """A list item: kept until the list ends, then narrated as sentences in one paragraph."""
        text = self._speakable(segments)
        if text:
            self.items.append(as_sentence(text))

    def end_list(self) -> None:
        if self.items:
            text, self.items = " ".join(self.items), []
            if self.lead_in:  # "... the following:" stays with its list
                last = self.article.sections[-1].paragraphs[-1]
                last.text = f"{last.text} {text}"
                self.lead_in = False
            else:
                self._add(text)

    def image(self, alt: str) -> None:
        self.article.skipped["image"] += 1
        alt = clean(alt)
        if alt:
            self.article.alt_texts += 1
            (self.pending_images if self.seen_prose else self.article.cover).append(alt)

    def skip(self, what: str) -> None:
        self.article.skipped[what] += 1

    def finish(self, fallback_title: str) -> Article:
        """The article, titled ``fallback_title`` if nothing titled it, with empty sections dropped."""
        self.end_list()
        self._attach_images_to_last()
        article = self.article
        article.title = article.title or fallback_title
        article.sections = [s for s in article.sections if s.paragraphs]
        return article

    def _speakable(self, segments: list[tuple[str, bool]]) -> str:
        """Prose with word-like code spans kept; a sentence that leans on other code is dropped, and a
        code-heavy line (little prose around its code) is dropped whole: each counted."""
        prose = clean("".join(t for t, code in segments if not code or is_wordish_code(t)))
        code = [t.strip() for t, is_code in segments if is_code and t.strip() and not is_wordish_code(t)]
        if code and (word_count(prose) < 5 or sum(len(c) for c in code) > len(prose)):
            self.skip("code-heavy line")
            return ""
        text = clean("".join(t if not is_code or is_wordish_code(t) else CODE_MARK for t, is_code in segments))
        if CODE_MARK not in text:
            return text
        kept = [s for s in sentences(text) if CODE_MARK not in s]
        for _ in range(len(sentences(text)) - len(kept)):
            self.skip("code-heavy line")
        return " ".join(kept)

    def _add(self, text: str) -> None:
        if not word_count(text):  # nothing a voice can say (emoji, symbols): never a scene of its own
            return
        self.seen_prose = True
        if not self.article.sections:
            self.article.sections.append(Section(title=None))
        paragraph = Paragraph(text, self.pending_images)
        self.pending_images = []
        self.article.sections[-1].paragraphs.append(paragraph)
        self.lead_in = text.endswith(":")

    def _attach_images_to_last(self) -> None:
        if self.pending_images and self.article.sections and self.article.sections[-1].paragraphs:
            self.article.sections[-1].paragraphs[-1].images.extend(self.pending_images)
            self.pending_images = []
