"""Load and validate a storyboard script: file -> :class:`Script` or :class:`ScriptErrors`.

Validation has three layers, all reported with file, line, column and field path:
syntax (:mod:`storyboard.script.source`), shape and types (pydantic, :mod:`storyboard.script.schema`),
and meaning (unique scene ids, audio files that exist; timing is checked by the plan).

A user should see every mistake in one round, not fix the shape to learn about the meaning
and then the timing. So a script with shape errors is *repaired* for the later checks: each
bad field is dropped (back to its default) or, when it is required, replaced by a neutral
placeholder, and marked *tainted*. The later checks run on the repaired script; what they
find at a tainted field is left out, and for timing errors anywhere in the object that held
it (they may be echoes of the repair). The repaired script carries its shape errors in :attr:`Script.problems`, and
:func:`storyboard.pipeline.plan_script` raises them with its own, so it never plans for real.
"""

from __future__ import annotations

import copy
import difflib
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from storyboard.errors import Loc, PlanError, ScriptError, ScriptErrors
from storyboard.script.media import media_references, uses_media
from storyboard.script.schema import SUBJECT_NAME, Storyboard
from storyboard.script.source import Document, Scalar, load_document, parse_text
from storyboard.script.timecode import TimeValue, parse_time
from storyboard.words import plural


@dataclass(frozen=True)
class Script:
    """A validated storyboard and where it came from."""

    storyboard: Storyboard
    document: Document
    path: Path
    problems: tuple[ScriptError, ...] = ()  # errors found so far, when loading went on past them
    tainted: tuple[Loc, ...] = ()  # source paths of the fields repaired to go on

    @property
    def folder(self) -> Path:
        """Relative paths in the script resolve against this folder."""
        return self.path.resolve().parent

    def resolve(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.folder / p

    def output_path(self) -> Path:
        """The MP4 to write: ``output.path``, or the script's name with ``.mp4`` beside it."""
        out = self.storyboard.output.path
        return self.resolve(out) if out else self.folder / (self.path.stem + ".mp4")

    def plan_errors(self, error: PlanError) -> ScriptErrors:
        """Locate a :class:`PlanError`'s problems in the source, with the errors found before it."""
        located = (self.document.error(msg, self.document.resolve(loc)) for loc, msg in error.problems)
        return self.with_problems(located, echoes="object")

    def with_problems(self, later: typing.Iterable[ScriptError], echoes: str = "field") -> ScriptErrors:
        """:attr:`problems` and the ``later`` errors (none at a field already faulted), in source order.

        A later error may be an echo of a repair: one at a repaired field is left out, and with
        ``echoes='object'`` (timing errors, which follow from every field of a scene) one
        anywhere in the object that held a repaired field too.
        """
        zones = {t[:-1] if echoes == "object" and len(t) > 1 else t for t in self.tainted}
        if echoes == "object" and any(t[:2] in GLOBAL_TIMING or t[:1] in GLOBAL_TIMING for t in self.tainted):
            zones.add(("scenes",))  # every scene's timing follows from it
        said = {e.path for e in self.problems}  # a field an earlier round faulted: its error says it
        seen = {(e.path, e.message) for e in self.problems}
        kept = list(self.problems)
        for e in later:
            if e.path not in said and (e.path, e.message) not in seen and not any(e.path[:len(z)] == z for z in zones):
                seen.add((e.path, e.message))
                kept.append(e)
        return ScriptErrors(sorted(kept, key=lambda e: (e.line or 0, e.column or 0)))

    def check(self) -> None:
        """Raise :attr:`problems` if there are any."""
        if self.problems:
            raise self.with_problems(())


def load_script(path: str | Path, *, keep_going: bool = False) -> Script:
    """Read, parse and validate a script file. Raises :class:`ScriptErrors`.

    With ``keep_going``, shape and meaning errors are returned in :attr:`Script.problems` of a
    repaired script instead, when the script could be repaired, so that planning it adds the
    timing errors to the same report (:func:`storyboard.pipeline.plan_script` raises them all).
    """
    doc = load_document(path)
    return _validate(doc, Path(path), keep_going)


def load_script_text(text: str, name: str = "<script>.yaml", *, keep_going: bool = False) -> Script:
    """Validate script text (for tests and tools); relative paths resolve against the CWD."""
    doc = parse_text(text, name, json_syntax=name.endswith(".json"))
    return _validate(doc, Path(name), keep_going)


def _validate(doc: Document, path: Path, keep_going: bool = False) -> Script:
    """Shape, then meaning; see the module's docstring for how a bad shape goes on to meaning."""
    errors = _misread_numbers(doc)
    try:
        board = Storyboard.model_validate(doc.data)
    except ValidationError as exc:
        taken = {e.path for e in errors}  # one error a field: ours says what YAML read
        errors += [e for e in (_translate(doc, x) for x in exc.errors(include_url=False)) if e.path not in taken]
        board = None
    errors.sort(key=lambda e: (e.line or 0, e.column or 0))
    tainted: tuple[Loc, ...] = ()
    if errors:
        board, tainted = _repaired(doc, errors)
        if board is None:
            raise ScriptErrors(errors)
    script = Script(board, doc, path, tuple(errors), tainted)
    script = replace(script, problems=script.with_problems(_check_meaning(script)).errors)
    if script.problems and not keep_going:
        script.check()
    return script


# --- going on past shape errors ----------------------------------------------------------

_PLACEHOLDERS: dict[Any, Any] = {TimeValue: "1s", str: "placeholder", int: 1, float: 1.0}
GLOBAL_TIMING = {("bpm",), ("meter",), ("downbeat",), ("output", "fps"), ("music", 0)}  # settings every scene's timing uses


def _repaired(doc: Document, errors: list[ScriptError]) -> tuple[Storyboard | None, tuple[Loc, ...]]:
    """The script with each bad field dropped or replaced by a placeholder, and the source paths
    of the objects that held one; ``(None, ())`` when it cannot be repaired (a bad list item,
    a required field of a type with no placeholder), so only the shape errors are reported."""
    data = copy.deepcopy(doc.data)
    tainted: set[Loc] = set()
    locs = [e.path for e in errors]
    for _ in range(4):
        for loc in locs:
            fixed = _repair_at(data, loc)
            if fixed is None:
                return None, ()
            tainted.add(fixed)
        try:
            return Storyboard.model_validate(data), tuple(sorted(tainted, key=str))
        except ValidationError as exc:
            locs = [doc.resolve(tuple(x["loc"])) for x in exc.errors(include_url=False)]
    return None, ()


def _repair_at(data: Any, loc: Loc) -> Loc | None:
    """Drop the field at ``loc`` (or its nearest mapping key when ``loc`` runs into a shorthand),
    or put a placeholder there if it is missing. The path repaired, or None if it cannot be."""
    node, path = data, []
    for step in loc[:-1]:  # down to the mapping that holds the field
        inside = node[step] if isinstance(node, dict) and step in node else \
            node[step] if isinstance(node, list) and isinstance(step, int) and step < len(node) else None
        if not isinstance(inside, (dict, list)):
            break
        node, path = inside, path + [step]
    if not isinstance(node, dict):
        return None  # a list item, or a value that is not a mapping: cannot drop it without shifting what follows
    key = loc[len(path)] if len(path) < len(loc) else None
    if key in node:
        del node[key]
        return (*path, key)
    ann = _annotation_at((*path, key)) if key is not None else None
    options = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)
    placeholder = next((_PLACEHOLDERS[a] for a in options if a in _PLACEHOLDERS), None)
    if placeholder is None:
        return None
    node[key] = placeholder
    return (*path, key)


def _check_meaning(script: Script) -> list[ScriptError]:
    doc, board, errors = script.document, script.storyboard, []
    seen: dict[str, int] = {}
    for i, scene in enumerate(board.scenes):
        sid = scene_id(board, i)
        if sid in seen:
            errors.append(doc.error(f"duplicate scene id '{sid}' (also scenes[{seen[sid]}])", ("scenes", i, "id") if scene.id else ("scenes", i)))
        seen.setdefault(sid, i)
    for i, track in enumerate(board.music):
        missing = missing_file(script, track.path, "audio file")
        if missing:
            errors.append(doc.error(missing, doc.resolve(("music", i, "path"))))
        for name in ("offset", "start"):
            if getattr(track, name).musical:
                errors.append(doc.error(f"'{getattr(track, name)}': the music's {name} places the beat grid, so it is "
                                        "written in seconds or frames", doc.resolve(("music", i, name))))
        if i > 0 and track.sync != "none":
            errors.append(doc.error("only the first music track can set sync (it gives the beat grid)", doc.resolve(("music", i, "sync"))))
    for loc in _voice_times(board):
        errors.append(doc.error(f"'{_value_at(board, loc)}': the narration's times are written in seconds or frames "
                                "(speech does not follow the beat)", doc.resolve(loc)))
    if board.downbeat.musical:
        errors.append(doc.error(f"'{board.downbeat}': the first downbeat is written in seconds or frames", ("downbeat",)))
    if uses_media(board):
        errors += check_media(script)
    return errors


def missing_file(script: Script, text: str, noun: str, *, folder: bool = False) -> str | None:
    """Why the file a script names as ``text`` cannot be read (it does not exist, is a folder, is
    not a regular file), in the one wording music, images and control videos share; None when it
    is a regular file (or, with ``folder``, a folder)."""
    f = script.resolve(text)
    if f.is_file() or folder and f.is_dir():
        return None
    what = "is a folder" if f.is_dir() else "is not a regular file" if f.exists() else "does not exist"
    return f"{noun} '{text}' {what} (looked for {f})"


def check_media(script: Script) -> list[ScriptError]:
    """Images, subjects, keyframes, continued cuts and control videos: the names a scene cites are
    declared, each file exists and is a regular file (as music's), and each is asked where it can be."""
    doc, board = script.document, script.storyboard
    errors = [doc.error(f"'{name}' is not a valid subject name; use letters, digits, '_', '.' and '-'",
                        ("subjects", name), at_key=True) for name in board.subjects if not SUBJECT_NAME.match(name)]
    for i, scene in enumerate(board.scenes):
        errors += _cited_subjects(script, i)
        errors += [doc.error(message, doc.resolve(("scenes", i, *field))) for field, message in _scene_media_rules(board, i)]
    for ref in media_references(board):
        missing = missing_file(script, ref.text, ref.noun, folder=ref.kind == "control")
        if missing:
            errors.append(doc.error(missing, doc.resolve(ref.loc)))
    return errors


def _cited_subjects(script: Script, i: int) -> list[ScriptError]:
    """An error at each name scene ``i`` cites that the script does not declare (with a did-you-mean),
    and at each name it cites twice."""
    doc, board = script.document, script.storyboard
    declared, errors, seen = list(board.subjects), [], set()
    for k, name in enumerate(board.scenes[i].subjects):
        where = doc.resolve(("scenes", i, "subjects", k))
        if name in seen:
            errors.append(doc.error(f"subject '{name}' is listed twice", where))
        seen.add(name)
        if name in board.subjects:
            continue
        close = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
        if declared:
            message = f"unknown subject '{name}'; the script declares: {', '.join(declared)}"
        else:
            message = (f"unknown subject '{name}': declare it under subjects: at the top of the script, e.g. "
                       f"subjects: {{{name}: {{description: ..., images: {name}.png}}}}")
        errors.append(doc.error(message, where, hint=f"did you mean '{close[0]}'?" if close else None))
    return errors


def _scene_media_rules(board: Storyboard, i: int) -> list[tuple[Loc, str]]:
    """Where scene ``i`` asks for a start image, a continued cut, anchoring or a control's start where
    they cannot be: (field path within the scene, message)."""
    scene, found = board.scenes[i], []
    kind = scene.transition.type
    if scene.image is not None and kind == "morph":
        found.append((("image",), "a morph continues the shot before it, so it cannot start on a picture: give the "
                      "image as a keyframe to pass through it (keyframes: [{at: 0, image: ...}]), or make the "
                      "transition a cut to start a new shot on it"))
    if scene.continue_:
        if i == 0:
            found.append((("continue",), "the first scene has no shot before it to continue from"))
        elif kind == "morph":
            found.append((("continue",), "a morph already continues the shot before it; continue: true is for a cut"))
        elif kind == "crossfade":
            found.append((("continue",), "continue: true starts from the previous shot's last frames, which a "
                          "crossfade blends away; use a cut"))
        elif scene.image is not None:
            found.append((("continue",), "continue: true starts the shot from the previous shot's last frames, so it "
                          "cannot also start on an image: remove one (a keyframe can pass through the image later)"))
    if scene.anchor is not None and kind == "morph" and i > 0:
        found.append((("anchor",), "anchoring is set once a shot, on the scene that starts it; a morph continues "
                      "the shot of the scene before it"))
    if scene.control is not None and scene.control.start.musical:
        found.append((("control", "start"), f"'{scene.control.start}': where the control video starts is written in "
                      "seconds or frames (its own frames)"))
    return found


def _voice_times(board: Storyboard) -> list[Loc]:
    """Where a narration or voice time is written in beats or bars."""
    found: list[Loc] = [("voice", name) for name in ("pause", "attack", "release") if getattr(board.voice, name).musical]
    for i, scene in enumerate(board.scenes):
        n = scene.narration
        if n is not None:
            found += [("scenes", i, "narration", name) for name in ("at", "pause")
                      if getattr(n, name) is not None and getattr(n, name).musical]
    return found


def _value_at(board: Storyboard, loc: Loc) -> Any:
    node: Any = board
    for step in loc:
        node = node[step] if isinstance(step, int) else getattr(node, step)
    return node


def _misread_numbers(doc: Document) -> list[ScriptError]:
    """Booleans where a number goes (``fps: true``), and numbers in forms only YAML 1.1 reads as
    numbers (``010`` octal, ``0x10``, ``1_000``, ``1:30``) where a number or a time goes.

    A time written ``1:30`` or ``1:30.5`` means the same as minutes and seconds, so it stays.
    """
    errors = []
    for path, scalar in doc.scalars.items():
        if scalar.tag != "bool" and scalar.reading is None:
            continue
        expects = _expects(path)
        if scalar.tag == "bool" and expects == "number":
            errors.append(doc.error(f"expected a number, got {scalar.text} (a boolean)", path))
        elif scalar.reading and (expects == "number" or expects == "time" and not _same_time(scalar)):
            errors.append(doc.error(scalar.advice, path))
    return errors


def _expects(path: Loc) -> str | None:
    """``'number'`` or ``'time'`` when the field at a source path takes one, else None."""
    ann = _annotation_at(path)
    if ann in (int, float) or typing.get_origin(ann) is typing.Literal and all(type(a) is int for a in typing.get_args(ann)):
        return "number"
    times = typing.get_args(ann) if typing.get_origin(ann) in (typing.Union, types.UnionType) else (ann,)
    return "time" if TimeValue in times else None  # a scene's duration is a time or auto


def _same_time(scalar: Scalar) -> bool:
    try:
        time = parse_time(scalar.text)
    except ValueError:
        return False
    return time.unit == "s" and time.amount == scalar.number


def scene_id(board: Storyboard, index: int) -> str:
    """A scene's id, or its default ``scene<N>`` (1-based)."""
    return board.scenes[index].id or f"scene{index + 1}"


# --- pydantic error translation -------------------------------------------------


def _translate(doc: Document, err: dict[str, Any]) -> ScriptError:
    loc: Loc = tuple(err["loc"])
    kind, msg, value = err["type"], err["msg"], err.get("input")
    hint = None
    if kind == "extra_forbidden":
        parent = loc[:-1]
        allowed = _fields_at(parent)
        field = str(loc[-1])
        close = difflib.get_close_matches(field, allowed, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else None
        key_pos = doc.keys.get(doc.resolve(loc))
        line = doc.line(key_pos[0]) if key_pos else None
        if value is None and line is not None and "{" in line and not close:
            hint = "a comma inside {...} ends a value in YAML: put text with commas in quotes, e.g. text: \"a, b\""
        listing = ", ".join(allowed)
        return doc.error(f"unknown field '{field}'; expected one of: {listing}", doc.resolve(loc), at_key=True, hint=hint)
    if kind == "missing":
        return doc.error(f"missing required field '{loc[-1]}'", doc.resolve(loc))
    if kind == "literal_error":
        options = _literal_options(loc)
        close = difflib.get_close_matches(str(value), options, n=1, cutoff=0.5) if isinstance(value, str) else []
        hint = f"did you mean '{close[0]}'?" if close else None
        if isinstance(value, str) and value.strip() in options and _annotation_at(loc) is not None and \
                not any(isinstance(a, str) for a in typing.get_args(_annotation_at(loc))):
            hint = f"write {loc[-1]}: {value.strip()} without quotes: it is a number"
        return doc.error(f"unknown value {value!r}; expected one of: {', '.join(options)}", doc.resolve(loc), hint=hint)
    if kind == "multiple_of" and isinstance(value, (int, float)) and not isinstance(value, bool):
        step = err["ctx"]["multiple_of"]
        lower = value // step * step
        return doc.error(f"{value:g} is not a multiple of {step:g} (nearest: {lower:g} or {lower + step:g})", doc.resolve(loc))
    where = _as_written(doc, doc.resolve(loc))
    plain = _plain(kind, loc, err.get("ctx") or {}, value)
    if plain is not None:
        return doc.error(plain, where)
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    elif msg.startswith("Input should be "):
        rest = msg.removeprefix("Input should be ")
        if rest.startswith(("greater", "less", "a multiple")):
            rest = "a number " + rest
        msg = "expected " + rest + f", got {_show(value)}"
    return doc.error(msg, where)


_PLAIN_TYPES = {
    "int_type": "expected a whole number", "int_parsing": "expected a valid integer",
    "int_from_float": "expected a whole number", "float_type": "expected a number", "float_parsing": "expected a number",
    "bool_type": "expected true or false", "bool_parsing": "expected true or false", "string_type": "expected text",
    "list_type": "expected a list", "tuple_type": "expected a list", "dict_type": "expected a mapping of fields",
    "model_type": "expected a mapping of fields", "model_attributes_type": "expected a mapping of fields",
}
_NOUNS = {"prompts": "prompt", "scenes": "scene", "music": "music track", "images": "image", "subjects": "subject",
          "keyframes": "keyframe"}


def _plain(kind: str, loc: Loc, ctx: dict[str, Any], value: Any) -> str | None:
    """Pydantic's complaint about a type or a length in plain words ("expected at least 1 prompt, got
    none"), or None for the others."""
    if kind == "model_type" and len(loc) >= 2 and loc[-2] == "prompts":
        return f"expected a prompt: its text, or a mapping such as {{at: 2s, text: ...}}, got {_show(value)}"
    if kind in _PLAIN_TYPES:
        return f"{_PLAIN_TYPES[kind]}, got {_show(value)}"
    if kind in ("too_short", "too_long"):
        field = next((str(step) for step in reversed(loc) if isinstance(step, str)), "")
        noun = _NOUNS.get(field, "item")
        limit = ctx.get("min_length" if kind == "too_short" else "max_length", 0)
        actual = ctx.get("actual_length", len(value) if isinstance(value, (list, tuple, dict, str)) else 0)
        got = "none" if not actual else str(actual)
        return f"expected {'at least' if kind == 'too_short' else 'at most'} {plural(limit, noun)}, got {got}"
    if kind in ("string_too_short", "string_too_long"):
        limit = ctx.get("min_length" if kind == "string_too_short" else "max_length", 0)
        if kind == "string_too_short" and limit == 1:
            return "expected text, got an empty string"
        size = len(value) if isinstance(value, str) else 0
        return f"expected {'at least' if kind == 'string_too_short' else 'at most'} {plural(limit, 'character')}, got {size}"
    return None


def _as_written(doc: Document, path: Loc) -> Loc:
    """``path`` cut at the first value the user wrote as a scalar: a shorthand's error (``prompts: ''``
    read as ``prompts[0].text``) is reported at the field the user wrote (``prompts``)."""
    node: Any = doc.data
    for depth, step in enumerate(path):
        if isinstance(node, dict) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and step < len(node):
            node = node[step]
        else:
            return path[:depth] if depth and not isinstance(node, (dict, list)) and node is not None else path
    return path


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    text = repr(value)
    return text if len(text) < 60 else text[:57] + "..."


def _annotation_at(loc: Loc) -> Any:
    """The type annotation found by walking ``loc`` down from :class:`Storyboard`."""
    ann: Any = Storyboard
    for step in loc:
        ann = _unwrap(ann)
        if typing.get_origin(ann) is list and not isinstance(step, int):
            ann = _unwrap(typing.get_args(ann)[0])  # a shorthand: one item written without its list
        if isinstance(step, int):
            args = typing.get_args(ann)
            ann = args[0] if args else None
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and _field(ann, step) is not None:
            ann = ann.model_fields[_field(ann, step)].annotation
        elif typing.get_origin(ann) is dict:
            ann = typing.get_args(ann)[1]  # a mapping's value (a subject by its name)
        else:
            return None
    return _unwrap(ann)


def _field(model: type[BaseModel], written: str | int) -> str | None:
    """The field of ``model`` a script writes as ``written`` (its alias, as ``continue`` for ``continue_``)."""
    return next((name for name, f in model.model_fields.items() if (f.alias or name) == written), None)


def _unwrap(ann: Any) -> Any:
    origin = typing.get_origin(ann)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(ann)[0])
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in typing.get_args(ann) if a is not type(None)]
        return _unwrap(non_none[0]) if len(non_none) == 1 else ann
    return ann


def _fields_at(loc: Loc) -> list[str]:
    ann = _annotation_at(loc)
    if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
        return []
    return [f.alias or name for name, f in ann.model_fields.items()]


def _literal_options(loc: Loc) -> list[str]:
    ann = _annotation_at(loc)
    return [str(a) for a in typing.get_args(ann)] if typing.get_origin(ann) is typing.Literal else []


def with_overrides(script: Script, *, model: str | None = None, output: str | None = None, **model_fields: object) -> Script:
    """The script with ``model.id``, ``output.path`` and other ``model`` fields replaced (command-line options).

    An ``output`` given on the command line is relative to the current folder, not the script's.
    ``None`` values leave the script's setting as it is.
    """
    board = script.storyboard
    updates = {k: v for k, v in model_fields.items() if v is not None}
    if model:
        updates["id"] = model
    if updates:
        from storyboard.script.schema import Model

        try:
            merged = Model.model_validate({**board.model.model_dump(), **updates})
        except ValidationError as exc:
            from storyboard.errors import UsageError

            problem = exc.errors(include_url=False)[0]
            option = "--" + str(problem["loc"][0]).replace("_", "-")
            plain = _plain(problem["type"], tuple(problem["loc"]), problem.get("ctx") or {}, problem["input"])
            said = plain.rsplit(", got ", 1)[0] if plain else problem["msg"].replace("Input should be ", "expected ")
            if said.startswith("expected greater") or said.startswith("expected less"):
                said = "expected a number " + said.removeprefix("expected ")
            raise UsageError(f"{option} {problem['input']}: {said}") from None
        board = board.model_copy(update={"model": merged})
    if output:
        board = board.model_copy(update={"output": board.output.model_copy(update={"path": str(Path(output).resolve())})})
    return replace(script, storyboard=board)
