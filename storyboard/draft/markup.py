"""Read HTML (a web page, or Markdown rendered by markdown-it-py) into an :class:`ArticleBuilder`.

Uses the standard library's tolerant :class:`html.parser.HTMLParser`: unclosed paragraphs and
stray end tags are fine. Headings open sections; paragraphs, list items, quotes and loose text
between block tags become narration; ``<img alt>`` seeds prompts. Code (``<pre>``), tables,
scripts, styles, navigation, forms, footers and asides are skipped (the first ones counted);
inline ``<code>`` is kept only where it reads as words (see :meth:`ArticleBuilder.block`).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from storyboard.draft.outline import ArticleBuilder

# Skipped with everything inside them, and what the summary calls them (None: not counted).
SKIPPED = {"figcaption": "image caption", "pre": "code block", "table": "table", "script": "script or style", "style": "script or style",
           "nav": "navigation block", "form": "form", "noscript": None, "template": None, "svg": None,
           "math": None, "iframe": None, "object": None, "canvas": None, "select": None, "button": None,
           "footer": None, "aside": None, "textarea": None}
BLOCKS = {"p", "div", "blockquote", "section", "article", "main", "header", "figure", "dd", "dt",
          "details", "summary", "hr", "dl", "body", "address", "center"}
LISTS = {"ul", "ol", "menu"}
HEADING = re.compile(r"h([1-6])")
FOOTNOTE_MARK = re.compile(r"\s*\[?\d{1,3}\]?\s*")


class _Reader(HTMLParser):
    """Feeds the builder as tags open and close; see the module's docstring for the rules."""

    def __init__(self, builder: ArticleBuilder):
        super().__init__(convert_charrefs=True)
        self.builder = builder
        self.skipping: list[str] = []  # open skipped tags, innermost last
        self.open_skipped: dict[str, int] = {}  # how many of each tag are in `skipping` (a stray end tag is O(1))
        self.segments: list[tuple[str, bool]] = []  # the block being read: (text, is inline code)
        self.heading: tuple[int, list[str]] | None = None
        self.lists = 0  # depth of open lists
        self.code = 0  # depth of open <code>
        self.superscript = 0
        self.title: list[str] | None = None
        self.page_title = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            if tag == self.skipping[-1] or tag in SKIPPED:
                self._push_skipped(tag)
            return
        if tag == "title":
            self.title = []
        elif tag in SKIPPED:
            self.flush()
            if SKIPPED[tag]:
                self.builder.skip(SKIPPED[tag])
            self._push_skipped(tag)
        elif tag == "img":
            self.builder.image(dict(attrs).get("alt") or "")
        elif tag == "br":
            self.text("\n")
        elif tag == "code":
            self.code += 1
        elif tag == "sup":
            self.superscript += 1
        elif match := HEADING.fullmatch(tag):
            self.flush()
            self.heading = (int(match[1]), [])
        elif tag in LISTS:
            self.flush()
            self.lists += 1
        elif tag == "li" or tag in BLOCKS:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "br", "hr") and not self.skipping:
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            if self.open_skipped.get(tag):  # close it and whatever opened inside it: amortised O(1)
                while (inner := self.skipping.pop()) != tag:
                    self.open_skipped[inner] -= 1
                self.open_skipped[tag] -= 1
            return
        if tag == "title" and self.title is not None:
            self.page_title, self.title = " ".join("".join(self.title).split()), None
        elif tag == "code":
            self.code = max(0, self.code - 1)
        elif tag == "sup":
            self.superscript = max(0, self.superscript - 1)
        elif HEADING.fullmatch(tag) and self.heading:
            level, words = self.heading
            self.heading = None
            self.builder.heading(level, "".join(words))
        elif tag in LISTS:
            self.flush()
            self.lists = max(0, self.lists - 1)
            if not self.lists:
                self.builder.end_list()
        elif tag == "li" or tag in BLOCKS:
            self.flush()

    def _push_skipped(self, tag: str) -> None:
        self.skipping.append(tag)
        self.open_skipped[tag] = self.open_skipped.get(tag, 0) + 1

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        if self.title is not None:
            self.title.append(data)
        elif self.superscript and FOOTNOTE_MARK.fullmatch(data):
            return  # a footnote's number
        else:
            self.text(data)

    def handle_comment(self, data: str) -> None:
        if not self.skipping:
            self.builder.skip("HTML comment")

    def text(self, data: str) -> None:
        if self.heading is not None:
            self.heading[1].append(data)
        else:
            self.segments.append((data, self.code > 0))

    def flush(self) -> None:
        """End the block being read: a list item inside a list, else a paragraph."""
        if self.heading is not None:  # a block tag inside a heading (rare): the heading ends here
            level, words = self.heading
            self.heading = None
            self.builder.heading(level, "".join(words))
        segments, self.segments = self.segments, []
        if not "".join(t for t, _ in segments).strip():
            return
        if self.lists:
            self.builder.item(segments)
        else:
            self.builder.block(segments)


def read_html(text: str, builder: ArticleBuilder) -> str:
    """Feed ``text`` to ``builder``; returns the page's ``<title>`` ('' without one)."""
    reader = _Reader(builder)
    reader.feed(text)
    reader.close()
    reader.flush()
    return reader.page_title
