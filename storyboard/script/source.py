"""Reading YAML and JSON into plain data while remembering where each value stood.

PyYAML's composer gives nodes with marks; we build the data ourselves from the
node tree so that we can (a) record the line and column of every key and value,
(b) reject duplicate keys, which PyYAML silently overwrites, and (c) reject
tags that would construct objects (``!!python/object``), allowing only plain
data. YAML 1.1's ``yes``/``no``/``on``/``off`` stay strings: only ``true`` and
``false`` are booleans; dates (``2024-01-01``) stay strings too. Numbers in forms
only YAML 1.1 reads as numbers (``010`` octal, ``0x10``, ``1_000``, ``1:30``) are
kept as the text written, with what YAML would have read in :attr:`Document.scalars`,
so that the loader can refuse them where a number goes and keep them where text goes.

JSON is read as JSON (not as YAML), by a small reader that keeps the same locations.
Control characters and nesting deeper than :data:`MAX_DEPTH` are refused, located.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from storyboard.errors import Loc, ScriptError, ScriptErrors

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:seq",
    "tag:yaml.org,2002:map",
}
_MAX_NODES = 200_000  # an alias bomb expands past this
MAX_DEPTH = 64  # levels of nesting; a script needs about six
_TOO_DEEP = f"the data is nested more than {MAX_DEPTH} levels deep (the limit); a script needs only a few"
# What YAML's reader refuses: C0 controls but tab and line breaks, DEL, C1 controls but NEL,
# surrogates, U+FFFE and U+FFFF.
_NOT_ALLOWED = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")
_C0 = ("NUL", "SOH", "STX", "ETX", "EOT", "ENQ", "ACK", "BEL", "BS", "HT", "LF", "VT", "FF", "CR", "SO", "SI", "DLE",
    "DC1", "DC2", "DC3", "DC4", "NAK", "SYN", "ETB", "CAN", "EM", "SUB", "ESC", "FS", "GS", "RS", "US")
_C1 = ("PAD", "HOP", "BPH", "NBH", "IND", "NEL", "SSA", "ESA", "HTS", "HTJ", "VTS", "PLD", "PLU", "RI", "SS2", "SS3",
    "DCS", "PU1", "PU2", "STS", "CCH", "MW", "SPA", "EPA", "SOS", "SGCI", "SCI", "CSI", "ST", "OSC", "PM", "APC")


class _TooDeep(Exception):
    """Nesting past :data:`MAX_DEPTH`, raised before Python's recursion limit is near."""

    def __init__(self, mark: yaml.Mark):
        super().__init__(_TOO_DEEP)
        self.mark = mark


class _ScriptLoader(yaml.SafeLoader):
    """SafeLoader whose booleans are only true/false (no 'no' -> False surprises), with no
    timestamps, and which refuses nesting deeper than :data:`MAX_DEPTH` while composing."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_ScriptLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScriptLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class Scalar:
    """A scalar as written: its text and its type (``str``, ``int``, ``float``, ``bool``, ``null``).

    ``reading`` is set for a number in a form only YAML 1.1 reads as a number (``010`` is
    octal 8): the data then holds ``text``, YAML's value is ``number``, and ``instead``
    is what to write for a plain number.
    """

    text: str
    tag: str
    reading: str | None = None
    number: int | float | None = None
    instead: str | None = None

    @property
    def advice(self) -> str:
        """Why a YAML 1.1 number form is refused, and what to write instead."""
        return (f"'{self.text}' is read by YAML as {self.reading}; write {self.instead} "
                f"(or '{self.text}' in quotes if you meant a string)")


@dataclass
class Document:
    """Plain data from a script file, with 1-based (line, column) of keys and values."""

    file: str
    text: str
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    scalars: dict[Loc, Scalar] = field(default_factory=dict)

    def line(self, number: int) -> str | None:
        lines = self.text.splitlines()
        return lines[number - 1] if 0 < number <= len(lines) else None

    def error(self, message: str, path: Loc = (), *, at_key: bool = False, hint: str | None = None) -> ScriptError:
        """A :class:`ScriptError` located at ``path`` (or its nearest located ancestor)."""
        pos = None
        probe = tuple(path)
        if at_key:
            pos = self.keys.get(probe)
        while pos is None:
            pos = self.values.get(probe)
            if pos is None and probe:
                probe = probe[:-1]
            elif pos is None:
                break
        line, col = pos if pos else (None, None)
        return ScriptError(message, tuple(path), self.file, line, col, hint, self.line(line) if line else None)

    def resolve(self, loc: Loc) -> Loc:
        """Map a validated-data path onto the source's shape.

        Shorthands wrap a value in a list (``music: {...}`` -> ``music[0]``); the
        index that the source lacks is dropped so messages name what the user wrote.
        """
        node, out = self.data, []
        for step in loc:
            if isinstance(step, int) and not isinstance(node, list):
                continue
            out.append(step)
            if isinstance(node, list) and isinstance(step, int) and step < len(node):
                node = node[step]
            elif isinstance(node, dict) and step in node:
                node = node[step]
            else:
                node = None
        return tuple(out)


def load_document(path: str | Path) -> Document:
    """Read a ``.yaml``/``.yml``/``.json`` script into a :class:`Document`.

    Raises :class:`ScriptErrors` for unreadable files, syntax errors, duplicate
    keys and disallowed tags.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScriptErrors([ScriptError(f"no such file: {name}", file=name)]) from None
    except IsADirectoryError:
        raise ScriptErrors([ScriptError(f"{name} is a folder; expected a .yaml or .json script", file=name)]) from None
    except UnicodeDecodeError as exc:
        raise ScriptErrors([ScriptError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", file=name)]) from None
    except OSError as exc:
        raise ScriptErrors([ScriptError(f"cannot read: {exc.strerror}", file=name)]) from None
    return parse_text(text, name, json_syntax=path.suffix.lower() == ".json")


def parse_text(text: str, name: str, *, json_syntax: bool = False) -> Document:
    """Parse script text (YAML, or strict JSON when ``json_syntax``); a leading BOM is dropped."""
    text = text.removeprefix("\ufeff")
    doc = Document(file=name, text=text, data=None)
    lines = _Lines(text)
    _check_characters(doc, lines)
    doc.data = _JsonReader(doc, lines).read() if json_syntax else _read_yaml(doc)
    if not isinstance(doc.data, dict):
        raise ScriptErrors([doc.error(f"expected a mapping of fields at the top level, got {_kind(doc.data)}")])
    return doc


def _read_yaml(doc: Document) -> Any:
    """Compose YAML text into nodes (refusing deep nesting) and build plain data from them."""
    name = doc.file
    try:
        loader = _ScriptLoader(doc.text)
    except yaml.YAMLError as exc:  # the reader's own checks; _check_characters runs before them
        raise ScriptErrors([ScriptError(f"invalid YAML: {exc}", file=name)]) from None
    try:
        node = loader.get_single_node()
    except _TooDeep as exc:
        raise ScriptErrors([_at_mark(doc, _TOO_DEEP, exc.mark)]) from None
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or exc.context or "syntax error"
        raise ScriptErrors([_at_mark(doc, f"invalid YAML: {problem}", exc.problem_mark or exc.context_mark)]) from None
    except yaml.YAMLError as exc:
        raise ScriptErrors([ScriptError(f"invalid YAML: {exc}", file=name)]) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScriptErrors([ScriptError("the script is empty; expected a mapping with at least 'scenes'", file=name)])
    errors: list[ScriptError] = []
    data = _Builder(doc, errors).build(node, ())
    if errors:
        raise ScriptErrors(errors)
    return data


def _at_mark(doc: Document, message: str, mark: yaml.Mark | None) -> ScriptError:
    line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
    return ScriptError(message, (), doc.file, line, col, None, doc.line(line) if line else None)


_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")  # YAML's line breaks (str.splitlines also splits at \f and others)


class _Lines:
    """Character offsets -> 1-based (line, column), with lines split where YAML splits them."""

    def __init__(self, text: str):
        self.starts = [0] + [m.end() for m in _BREAK.finditer(text)]
        ends = [m.start() for m in _BREAK.finditer(text)] + [len(text)]
        self.lines = [text[a:b] for a, b in zip(self.starts, ends)]
        if len(self.lines) > 1 and self.starts[-1] == len(text):
            self.lines.pop()  # as str.splitlines: a final line break starts no line

    def at(self, pos: int) -> tuple[int, int]:
        index = bisect.bisect_right(self.starts, pos) - 1
        return index + 1, pos - self.starts[index] + 1

    def line(self, number: int) -> str | None:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else None


def _check_characters(doc: Document, lines: _Lines) -> None:
    """Refuse control characters, surrogates and U+FFFE/U+FFFF, each named at its line and column."""
    errors: list[ScriptError] = []
    shown: dict[int, str | None] = {}
    for match in _NOT_ALLOWED.finditer(doc.text):
        line, col = lines.at(match.start())
        if line not in shown:
            text = lines.line(line)
            shown[line] = None if text is None else _NOT_ALLOWED.sub(lambda m: _picture(m.group()), text)
        errors.append(ScriptError(f"{_char_name(match.group())} is not allowed in a script", (), doc.file, line, col, None, shown[line]))
    if errors:
        if doc.text.count("\x00") * 4 > len(doc.text):
            errors[0] = replace(errors[0], hint="the file looks like UTF-16: save it as UTF-8")
        raise ScriptErrors(errors)


def _char_name(char: str) -> str:
    """``'\\x00'`` -> ``U+0000 (NUL)``."""
    code = ord(char)
    if code < 0x20:
        name = _C0[code]
    elif code == 0x7F:
        name = "DEL"
    elif 0x80 <= code < 0xA0:
        name = _C1[code - 0x80]
    elif 0xD800 <= code < 0xE000:
        name = "half of a surrogate pair"
    else:
        name = "a noncharacter"
    return f"U+{code:04X} ({name})"


def _picture(char: str) -> str:
    """A printable stand-in of one character's width for a control character in a quoted source line."""
    code = ord(char)
    return chr(0x2400 + code) if code < 0x20 else "\u2421" if code == 0x7F else "\ufffd"


class _Builder:
    def __init__(self, doc: Document, errors: list[ScriptError]):
        self.doc, self.errors, self.count = doc, errors, 0
        self.constructor = yaml.SafeLoader("")
        self.too_deep = False

    def _fail(self, message: str, node: yaml.Node, path: Loc) -> None:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.errors.append(ScriptError(message, path, self.doc.file, line, col, None, self.doc.line(line)))

    def build(self, node: yaml.Node, path: Loc, depth: int = 1) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            if self.count == _MAX_NODES + 1:
                self._fail(f"the document expands to more than {_MAX_NODES} values (an alias loop?)", node, path)
            return None
        if depth > MAX_DEPTH:  # aliases nest deeper than the text does
            if not self.too_deep:
                self._fail(_TOO_DEEP, node, path[:MAX_DEPTH])
            self.too_deep = True
            return None
        self.doc.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if node.tag not in _PLAIN_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            self._fail(f"YAML tag '{tag}' is not allowed: a script holds plain data (strings, numbers, lists, mappings)", node, path)
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._fail("YAML merge keys (<<) are not supported; repeat the fields or use an alias for the whole value", key_node, path)
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _PLAIN_TAGS:
                    self._fail("mapping keys must be plain strings", key_node, path)
                    continue
                key = key_node.value  # as written: `1:` is the key '1', `true:` the key 'true'
                if key in out:
                    first = self.doc.keys.get(path + (key,))
                    where = f" (first at line {first[0]})" if first else ""
                    self._fail(f"duplicate key '{key}'{where}", key_node, path + (key,))
                    continue
                self.doc.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, path + (key,), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,), depth + 1) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.ScalarNode, path: Loc) -> Any:
        """A scalar's value; a YAML 1.1-only number form stays the text written (see :class:`Scalar`)."""
        value = self.constructor.construct_object(node)
        tag = node.tag.rsplit(":", 1)[-1]
        scalar = _yaml11_number(node.value, tag, value) if node.style is None and tag in ("int", "float") else Scalar(node.value, tag)
        self.doc.scalars[path] = scalar
        return node.value if scalar.reading else value


def _yaml11_number(text: str, tag: str, value: float) -> Scalar:
    """Describe a plain number that only YAML 1.1 reads as one: octal, hex, binary, base 60, underscores."""
    body = text.lstrip("+-").lower()
    if ":" in body:
        reading = f"sexagesimal (base 60) {value}"
    elif body.startswith("0x"):
        reading = f"hexadecimal {value}"
    elif body.startswith("0b"):
        reading = f"binary {value}"
    elif tag == "int" and body.startswith("0") and len(body) > 1:
        digits = body.replace("_", "").lstrip("0") or "0"
        return Scalar(text, tag, f"octal {value}", value, ("-" if text.startswith("-") else "") + digits)
    elif "_" in body:
        reading = f"{value}"
    else:
        return Scalar(text, tag)
    return Scalar(text, tag, reading, value, str(value))


# --- JSON ------------------------------------------------------------------------------------

_JSON_SPACE = re.compile(r"[ \t\n\r]*")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _JsonReader:
    """Strict JSON (RFC 8259) to plain data, recording where each key and value starts.

    Strings are decoded by :func:`json.decoder.scanstring` and numbers matched by
    :data:`json.scanner.NUMBER_RE`, as :mod:`json` does; ``NaN`` and ``Infinity`` are refused.
    """

    def __init__(self, doc: Document, lines: _Lines):
        self.doc, self.text, self.lines = doc, doc.text, lines
        self.errors: list[ScriptError] = []
        self.quiet = 0  # >0 while reading a duplicate key's value: record no locations

    def read(self) -> Any:
        pos = self._space(0)
        if pos == len(self.text):
            raise ScriptErrors([ScriptError("the script is empty; expected a mapping with at least 'scenes'", file=self.doc.file)])
        value, pos = self._value(pos, (), 1)
        pos = self._space(pos)
        if pos != len(self.text):
            self._syntax("Extra data", pos)
        if self.errors:
            raise ScriptErrors(self.errors)
        return value

    def _space(self, pos: int) -> int:
        return _JSON_SPACE.match(self.text, pos).end()

    def _error(self, message: str, pos: int, path: Loc = ()) -> ScriptError:
        line, col = self.lines.at(pos)
        return ScriptError(message, path, self.doc.file, line, col, None, self.lines.line(line))

    def _syntax(self, message: str, pos: int) -> NoReturn:
        raise ScriptErrors([self._error(f"invalid JSON: {message}", pos)])

    def _value(self, pos: int, path: Loc, depth: int) -> tuple[Any, int]:
        if depth > MAX_DEPTH:
            raise ScriptErrors([self._error(_TOO_DEEP, pos)])
        if not self.quiet:
            self.doc.values[path] = self.lines.at(pos)
        char = self.text[pos : pos + 1]
        if char == "{":
            return self._object(pos + 1, path, depth)
        if char == "[":
            return self._array(pos + 1, path, depth)
        if char == '"':
            value, end = self._string(pos)
        elif number := json.scanner.NUMBER_RE.match(self.text, pos):
            whole, fraction, exponent = number.groups()
            try:
                value, end = (float(number.group()) if fraction or exponent else int(whole)), number.end()
            except ValueError:  # more digits than Python converts
                self._syntax("number too long", pos)
        else:
            word = next((w for w in ("true", "false", "null") if self.text.startswith(w, pos)), None)
            if word is None:
                self._syntax("Expecting value", pos)
            value, end = {"true": True, "false": False, "null": None}[word], pos + len(word)
        if not self.quiet:
            self.doc.scalars[path] = Scalar(self.text[pos:end], _json_tag(value))
        return value, end

    def _string(self, pos: int) -> tuple[str, int]:
        try:
            value, end = json.decoder.scanstring(self.text, pos + 1, True)
        except json.JSONDecodeError as exc:
            self._syntax(exc.msg.removesuffix(" at").removesuffix(" starting"), exc.pos)
        lone = _SURROGATE.search(value)
        if lone:
            self._syntax(f"the string holds U+{ord(lone.group()):04X}, half of a surrogate pair without its other half", pos)
        return value, end

    def _object(self, pos: int, path: Loc, depth: int) -> tuple[dict[str, Any], int]:
        out: dict[str, Any] = {}
        pos = self._space(pos)
        if self.text[pos : pos + 1] == "}":
            return out, pos + 1
        while True:
            if self.text[pos : pos + 1] != '"':
                self._syntax("Expecting property name enclosed in double quotes", pos)
            key_pos = pos
            key, pos = self._string(pos)
            pos = self._space(pos)
            if self.text[pos : pos + 1] != ":":
                self._syntax("Expecting ':' delimiter", pos)
            duplicate = key in out
            if duplicate:
                if not self.quiet:  # within a refused duplicate's value, as YAML's builder, say nothing
                    first = self.doc.keys.get(path + (key,))
                    where = f" (first at line {first[0]})" if first else ""
                    self.errors.append(self._error(f"duplicate key '{key}'{where}", key_pos, path + (key,)))
                self.quiet += 1
            elif not self.quiet:
                self.doc.keys[path + (key,)] = self.lines.at(key_pos)
            value, pos = self._value(self._space(pos + 1), path + (key,), depth + 1)
            if duplicate:
                self.quiet -= 1
            else:
                out[key] = value
            pos, closed = self._next(pos, "}")
            if closed:
                return out, pos

    def _array(self, pos: int, path: Loc, depth: int) -> tuple[list[Any], int]:
        out: list[Any] = []
        pos = self._space(pos)
        if self.text[pos : pos + 1] == "]":
            return out, pos + 1
        while True:
            value, pos = self._value(pos, path + (len(out),), depth + 1)
            out.append(value)
            pos, closed = self._next(pos, "]")
            if closed:
                return out, pos

    def _next(self, pos: int, close: str) -> tuple[int, bool]:
        """After an item: (the next item's position, False), or (the position after ``close``, True)."""
        pos = self._space(pos)
        char = self.text[pos : pos + 1]
        if char == close:
            return pos + 1, True
        if char != ",":
            self._syntax("Expecting ',' delimiter", pos)
        after = self._space(pos + 1)
        if self.text[after : after + 1] == close:
            self._syntax(f"a trailing comma before '{close}' is not allowed in JSON", pos)
        return after, False


def _json_tag(value: Any) -> str:
    return {str: "str", int: "int", float: "float", bool: "bool"}.get(type(value), "null")


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(type(value), type(value).__name__)
