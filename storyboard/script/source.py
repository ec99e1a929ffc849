"""Reading YAML and JSON into plain data while remembering where each value stood.

PyYAML's composer gives nodes with marks; we build the data ourselves from the
node tree so that we can (a) record the line and column of every key and value,
(b) reject duplicate keys, which PyYAML silently overwrites, and (c) reject
tags that would construct objects (``!!python/object``), allowing only plain
data. YAML 1.1's ``yes``/``no``/``on``/``off`` stay strings: only ``true`` and
``false`` are booleans.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


class _ScriptLoader(yaml.SafeLoader):
    """SafeLoader whose booleans are only true/false (no 'no' -> False surprises)."""


_ScriptLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_ScriptLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class Document:
    """Plain data from a script file, with 1-based (line, column) of keys and values."""

    file: str
    text: str
    data: Any
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

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
    """Parse script text (YAML, or strict JSON when ``json_syntax``)."""
    doc = Document(file=name, text=text, data=None)
    if json_syntax:
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScriptErrors([ScriptError(f"invalid JSON: {exc.msg}", (), name, exc.lineno, exc.colno, None, doc.line(exc.lineno))]) from None
    loader = _ScriptLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or exc.context or "syntax error"
        kind = "JSON" if json_syntax else "YAML"
        raise ScriptErrors([ScriptError(f"invalid {kind}: {problem}", (), name, line, col, None, doc.line(line) if line else None)]) from None
    except yaml.YAMLError as exc:
        raise ScriptErrors([ScriptError(f"invalid YAML: {exc}", file=name)]) from None
    finally:
        loader.dispose()
    if node is None:
        raise ScriptErrors([ScriptError("the script is empty; expected a mapping with at least 'scenes'", file=name)])
    errors: list[ScriptError] = []
    builder = _Builder(doc, errors)
    doc.data = builder.build(node, ())
    if errors:
        raise ScriptErrors(errors)
    if not isinstance(doc.data, dict):
        raise ScriptErrors([doc.error(f"expected a mapping of fields at the top level, got {_kind(doc.data)}")])
    return doc


class _Builder:
    def __init__(self, doc: Document, errors: list[ScriptError]):
        self.doc, self.errors, self.count = doc, errors, 0
        self.constructor = yaml.SafeLoader("")

    def _fail(self, message: str, node: yaml.Node, path: Loc) -> None:
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        self.errors.append(ScriptError(message, path, self.doc.file, line, col, None, self.doc.line(line)))

    def build(self, node: yaml.Node, path: Loc) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            if self.count == _MAX_NODES + 1:
                self._fail(f"the document expands to more than {_MAX_NODES} values (an alias loop?)", node, path)
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
                key = self.constructor.construct_object(key_node)
                key = key if isinstance(key, str) else str(key)
                if key in out:
                    first = self.doc.keys.get(path + (key,))
                    where = f" (first at line {first[0]})" if first else ""
                    self._fail(f"duplicate key '{key}'{where}", key_node, path + (key,))
                    continue
                self.doc.keys[path + (key,)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                out[key] = self.build(value_node, path + (key,))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        return self.constructor.construct_object(node)


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(type(value), type(value).__name__)
