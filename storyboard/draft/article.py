"""Read an article file into its outline (:class:`~storyboard.draft.outline.Article`).

:func:`read_article` reads Markdown (``.md``, ``.markdown``), plain text (``.txt``) and HTML
(``.html``, ``.htm``). Markdown is rendered to HTML by ``markdown-it-py`` and read by the same
HTML reader as web pages (:mod:`storyboard.draft.markup`), so raw HTML inside Markdown, lists,
code, tables and images are handled once. Front matter (YAML, or TOML's ``title = "..."``) gives
the title and description; footnotes are dropped and counted. Bad input (no such file, an
unknown extension, bytes that are not text, nothing to narrate) is a :class:`UsageError` that
names the file and the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

from storyboard.draft.markup import read_html
from storyboard.draft.outline import Article, ArticleBuilder
from storyboard.draft.prose import clean
from storyboard.errors import UsageError

MARKDOWN = (".md", ".markdown", ".mdown", ".mkd")
TEXT = (".txt", ".text")
HTML = (".html", ".htm", ".xhtml")
MAX_BYTES = 20 * 2**20  # an article, not a book: 20 MB of text is several hundred thousand words
FRONT_MATTER = re.compile(r"\A(?:---|\+\+\+)[ \t]*\r?\n(?P<body>.*?)\r?\n(?:---|\.\.\.|\+\+\+)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
FOOTNOTE_DEF = re.compile(r"^\[\^[^\]\s]+\]:.*(?:\n[ \t]{2,}\S.*)*", re.MULTILINE)  # with its indented lines
FOOTNOTE_REF = re.compile(r"\[\^[^\]\s]+\](?!:)")
BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,3}[.)])\s+")


def read_article(path: Path) -> Article:
    """Read an article, or raise :class:`UsageError` naming the file and what is wrong with it."""
    text = decode(path)
    suffix = path.suffix.lower()
    if suffix in MARKDOWN:
        article = read_markdown(path, text)
    elif suffix in HTML:
        builder = ArticleBuilder(path)
        page_title = read_html(text, builder)
        article = builder.finish(fallback_title=page_title or _title_from_name(path))
    else:
        article = read_text(path, text)
    if not any(s.paragraphs for s in article.sections):
        found = article.skipped_summary()
        raise UsageError(f"{path}: nothing to narrate: no paragraphs of prose" + (f" (found {found})" if found else ""))
    return article


def decode(path: Path) -> str:
    """The file's text (UTF-8, or UTF-16 with a byte-order mark; HTML may name its charset)."""
    suffix = path.suffix.lower()
    if suffix not in MARKDOWN + TEXT + HTML:
        raise UsageError(f"{path}: unknown kind of article '{path.suffix or '(no extension)'}'; expected "
                         f"Markdown ({', '.join(MARKDOWN)}), text ({', '.join(TEXT)}) or HTML ({', '.join(HTML)})")
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")
    if path.stat().st_size > MAX_BYTES:
        raise UsageError(f"{path}: {path.stat().st_size / 2**20:.0f} MB is too large for an article (at most {MAX_BYTES // 2**20} MB)")
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_as(path, data, "utf-16")
    if suffix in HTML and (charset := re.search(rb"<meta[^>]+charset=[\"']?([\w-]+)", data[:4096], re.IGNORECASE)):
        name = charset.group(1).decode("ascii").lower()
        if name not in ("utf-8", "utf8"):
            try:
                return data.decode(name)
            except (LookupError, UnicodeDecodeError):
                pass
    return _decode_as(path, data, "utf-8-sig")


def _decode_as(path: Path, data: bytes, codec: str) -> str:
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not {codec.upper().removesuffix('-SIG')} text: byte 0x{data[exc.start]:02x} at offset "
                         f"{exc.start} cannot be decoded (save the article as UTF-8)") from None
    if "\x00" in text:
        raise UsageError(f"{path}: not a text file (it contains NUL bytes)")
    return text


def front_matter(text: str, path: Path | None = None) -> tuple[dict, str]:
    """(fields of a YAML or TOML front matter block, the text after it); ({}, text) without one.

    YAML goes through the script loader (:func:`storyboard.script.source.parse_text`), with its
    limits: an alias bomb, deep nesting or control characters are refused (:class:`UsageError`
    naming the file and line), not expanded. Front matter that is not a mapping is ignored."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    body, rest = match["body"], text[match.end():]
    if text.startswith("+++"):
        fields = dict(re.findall(r"^(\w+)\s*=\s*[\"'](.*?)[\"']\s*$", body, re.MULTILINE))
        return fields, rest
    if not body.strip():
        return {}, rest
    from storyboard.errors import ScriptErrors
    from storyboard.script.source import parse_text

    try:  # one line in front of the body, so lines are the article's
        fields = parse_text("\n" + body, str(path or "front matter")).data
    except ScriptErrors as exc:
        first = exc.errors[0]
        if first.message.startswith("expected a mapping"):
            return {}, rest
        where = f"{path}:{first.line}" if first.line else str(path)
        raise UsageError(f"{where}: front matter: {first.message}") from None
    return fields, rest


def read_markdown(path: Path, text: str) -> Article:
    """Markdown: front matter for the title and description, footnotes dropped, the rest through HTML."""
    from markdown_it import MarkdownIt

    fields, body = front_matter(text, path)
    builder = ArticleBuilder(path)
    notes = FOOTNOTE_DEF.findall(body)
    for _ in notes:
        builder.skip("footnote")
    body = FOOTNOTE_REF.sub("", FOOTNOTE_DEF.sub("", body))
    renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    read_html(renderer.render(body), builder)
    article = builder.finish(fallback_title=_title_from_name(path))
    title = clean(str(fields.get("title") or ""))
    if title:
        article.title = title
    article.description = clean(str(fields.get("description") or fields.get("summary") or fields.get("subtitle") or ""))
    return article


def read_text(path: Path, text: str) -> Article:
    """Plain text: the first line titles it; paragraphs are separated by blank lines. A paragraph
    whose every line starts with a bullet or number is a list; a short line standing alone with no
    closing punctuation is a section heading."""
    builder = ArticleBuilder(path)
    lines = text.strip().splitlines()
    if not lines:
        return builder.finish(fallback_title=_title_from_name(path))
    builder.heading(1, lines[0])
    for chunk in re.split(r"\n[ \t]*\n", "\n".join(lines[1:])):
        rows = [r.strip() for r in chunk.strip().splitlines() if r.strip()]
        if not rows:
            continue
        if all(BULLET.match(r) for r in rows):
            for row in rows:
                builder.item([(BULLET.sub("", row), False)])
            builder.end_list()
        elif len(rows) == 1 and len(rows[0].split()) <= 10 and rows[0][-1] not in ".!?:;,…\"'”)":
            builder.heading(2, rows[0])
        else:
            builder.block([(" ".join(rows), False)])
    return builder.finish(fallback_title=_title_from_name(path))


def _title_from_name(path: Path) -> str:
    """``hurricane-safety.md`` -> ``Hurricane safety``."""
    words = re.sub(r"[-_]+", " ", path.stem).strip()
    return words[:1].upper() + words[1:] if words else "Untitled"
