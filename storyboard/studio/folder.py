"""The folder the studio was started in: every path the studio reads or writes stays inside it.

A path is taken *after* following symbolic links and ``..``: ``media/song.wav`` that is a
link to ``/home/me/song.wav`` leaves the folder as surely as ``../song.wav`` or
``/etc/passwd`` does, and is refused. The studio keeps its own files (previews, plots,
the render queue, Gradio's copies of what it serves) in ``.storyboard-studio/`` inside
the folder, and refuses to start when any of them is a link or resolves outside it (a
project that arrives with ``.storyboard-studio/plots -> /home/me`` would otherwise have the
studio write there, and its server serve what is there).

The studio reads and writes only *storyboard scripts*: a ``.yaml``/``.yml``/``.json`` file,
outside hidden folders (no part of its path starts with ``.``), whose text is a mapping of
a script's fields (``version``, ``title``, ``output``, ``scenes``, ...). It never opens,
shows or replaces any other file: ``docker-compose.yml``, ``.github/workflows/ci.yml``,
``.vscode/tasks.json`` or ``.config/gh/hosts.yml`` are not its to read or write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError

SCRIPT_SUFFIXES = (".yaml", ".yml", ".json")
STATE_NAME = ".storyboard-studio"
MAX_SCRIPT_BYTES = 4 * 2**20  # a script is text of a few kilobytes; refuse to load anything huge
NAME_MAX = 255  # bytes in one file or folder name (Linux, macOS, Windows)
PATH_MAX = 4095  # bytes in a whole path (Linux)
OWN_FILES = ("studio.lock", "jobs.json", "rendered.json")  # in the state folder
_SKIPPED = {"node_modules", "__pycache__", ".git", ".venv", "venv"}


class Refused(UsageError):
    """A path that leaves the studio's folder, or names something the studio must not touch."""


def shown(text: str, limit: int = 80) -> str:
    """``text`` as a message quotes it: at most ``limit`` characters (the middle of a longer one elided)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit // 2]}\u2026{text[-(limit // 2 - 1):]} ({len(text)} characters)"


def another_tools(text: str, name: str) -> bool:
    """Whether ``text`` reads cleanly as data that is not a script: a mapping with keys no script has, or
    a list or a plain value (a file with a syntax error may be a script being written: False)."""
    from storyboard.errors import ScriptErrors
    from storyboard.script.schema import Storyboard
    from storyboard.script.source import parse_text

    try:
        data = parse_text(text, name, json_syntax=name.lower().endswith(".json")).data
    except ScriptErrors as exc:
        return "expected a mapping of fields at the top level" in str(exc)
    return any(key not in Storyboard.model_fields for key in data)


def storyboard_problem(text: str, name: str) -> str | None:
    """Why ``text`` (of the file ``name``) is not a storyboard script, or None when it is one: a YAML
    (JSON for ``.json``) mapping whose top-level keys are all fields of a script. Its fields' values
    are not checked here (a script with mistakes is still a script: ``validate`` says what they are)."""
    from storyboard.errors import ScriptErrors
    from storyboard.script.schema import Storyboard
    from storyboard.script.source import parse_text

    try:
        data = parse_text(text, name, json_syntax=name.lower().endswith(".json")).data
    except ScriptErrors as exc:
        first = exc.errors[0]
        where = f"line {first.line}: " if first.line else ""
        return f"it is not a mapping of a script's fields ({where}{shown(first.message, 120)})"
    fields = Storyboard.model_fields
    if not data:
        return "it holds no fields"
    foreign = [str(key) for key in data if key not in fields]
    if foreign:
        keys = ", ".join(shown(k, 30) for k in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        return (f"its top-level keys ({keys}) are not a script's (a script has {', '.join(fields)})")
    return None


@dataclass(frozen=True)
class Folder:
    """The studio's root folder (absolute, links resolved)."""

    root: Path

    @classmethod
    def at(cls, path: str | Path) -> "Folder":
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise UsageError(f"{path}: not a folder")
        return cls(root)

    # --- where the studio keeps its own files ---------------------------------------------

    @property
    def state(self) -> Path:
        """``<root>/.storyboard-studio``: the studio's own files."""
        return self.root / STATE_NAME

    @property
    def previews(self) -> Path:
        return self.state / "previews"

    @property
    def plots(self) -> Path:
        return self.state / "plots"

    @property
    def served(self) -> Path:
        """Gradio's upload folder and its copies of the files the page shows (``GRADIO_TEMP_DIR``)."""
        return self.state / "served"

    @property
    def examples(self) -> Path:
        """Gradio's cache of examples (``GRADIO_EXAMPLES_CACHE``; the page has none, but Gradio serves it)."""
        return self.state / "examples"

    def own_folders(self) -> list[Path]:
        """The studio's own folders, as named (not resolved): the state folder first."""
        return [self.state, self.previews, self.plots, self.served, self.examples]

    def check_own(self) -> None:
        """Raise :class:`Refused` when one of the studio's own folders or files is a symbolic link,
        resolves outside the root or is not what it should be; then make the folders that are missing.
        Run at startup, before anything is written there or served from there."""
        files = [self.state / name for name in OWN_FILES]
        for path in [*self.own_folders(), self.previews / ".storyboard-cache", *files]:  # the previews' cache too
            if path.is_symlink() or self.leaves(path):
                raise Refused(f"{path} is a symbolic link or leaves {self.root}: the studio keeps its own files only "
                              f"in {self.state}, a real folder inside the folder it was started in; remove the link "
                              "(or that whole folder: the studio makes it again) and start the studio again")
            if path.exists() and path.is_dir() == (path in files):
                raise Refused(f"{path} is {'a folder' if path.is_dir() else 'a file'}, where the studio keeps its "
                              "own files; move it away and start the studio again")
        for path in self.own_folders():
            path.mkdir(parents=True, exist_ok=True)

    # --- confinement ----------------------------------------------------------------------

    def inside(self, path: str | Path, base: Path | None = None) -> Path:
        """``path`` (relative to ``base``, default the root) with links followed; raises :class:`Refused`
        when it leaves the root. ``~`` is not expanded: it names a home folder, which is outside."""
        text = str(path)
        if not text.strip():
            raise Refused("no path given")
        if "\x00" in text:
            raise Refused(f"{shown(repr(text))}: not a path")
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = (base or self.root) / candidate
        too_long(candidate, text)
        try:
            resolved = Path(os.path.realpath(candidate))
        except OSError as exc:  # ELOOP, EACCES: a path the system itself refuses
            raise Refused(f"'{shown(text)}': {exc.strerror or exc}") from None
        too_long(resolved, text)
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise Refused(f"'{shown(text)}' leaves the studio's folder ({self.root}): the studio reads and writes "
                          "only inside the folder it was started in")
        return resolved

    def leaves(self, path: str | Path, base: Path | None = None) -> bool:
        """Whether ``path`` (relative to ``base``) leaves the root."""
        try:
            self.inside(path, base)
        except Refused:
            return True
        return False

    def relative(self, path: Path) -> str:
        """``path`` (inside the root) as the root-relative text the page shows."""
        return Path(os.path.realpath(path)).relative_to(self.root).as_posix()

    # --- scripts --------------------------------------------------------------------------

    def script(self, path: str | Path) -> Path:
        """A script's path inside the root (it may not exist yet), in no hidden folder and not hidden
        itself, as typed or once links are followed. Raises :class:`Refused`."""
        resolved = self.inside(path)
        said = shown(str(path))
        if resolved.suffix.lower() not in SCRIPT_SUFFIXES:
            raise Refused(f"'{said}': a script is a .yaml, .yml or .json file")
        if resolved.is_relative_to(self.state) or any(p.name == ".storyboard-cache" for p in resolved.parents):
            raise Refused(f"'{said}' is inside a folder storyboard manages (its cache, or the studio's own files)")
        typed = Path(str(path))
        if typed.is_absolute():  # only what lies below the root: the root itself may be in a hidden folder
            typed = typed.relative_to(self.root) if typed.is_relative_to(self.root) else Path()
        parts = [*typed.parts, *resolved.relative_to(self.root).parts]
        hidden = [part for part in parts if part.startswith(".") and part != ".."]
        if hidden:
            raise Refused(f"'{said}' is hidden or in a hidden folder ({shown(hidden[0], 40)}): the studio reads and "
                          "writes only storyboard scripts, never hidden files or what hidden folders hold "
                          "(other tools' settings)")
        try:
            if resolved.exists() and not resolved.is_file():
                raise Refused(f"'{said}' is not a regular file")
        except OSError as exc:
            raise Refused(f"'{said}': {exc.strerror or exc}") from None
        return resolved

    def read_script(self, path: str | Path) -> str:
        """The text of the script at ``path`` (UTF-8). Raises :class:`Refused` or :class:`UsageError`;
        :class:`Refused` for a file that is not a storyboard script (its text is never returned)."""
        resolved = self.script(path)
        said = shown(str(path))
        text = self.read_text(resolved, said)
        if text.strip() and (problem := storyboard_problem(text, resolved.name)):  # an empty file: nothing to show
            raise Refused(f"'{said}' is not a storyboard script: {problem}; the studio opens only storyboard scripts")
        return text

    @staticmethod
    def read_text(resolved: Path, said: str) -> str:
        """The UTF-8 text of the file ``resolved`` (a path from :meth:`script`; ``said``: as the user named
        it), whatever it holds: for the studio's own use, never to show. Raises :class:`UsageError`."""
        try:
            if not resolved.is_file():
                raise UsageError(f"'{said}': no such script")
            if resolved.stat().st_size > MAX_SCRIPT_BYTES:
                raise UsageError(f"'{said}' is larger than {MAX_SCRIPT_BYTES // 2**20} MB: not a storyboard script")
            text = resolved.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"'{said}' is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise UsageError(f"'{said}': {exc.strerror or exc}") from None
        return text

    def scripts(self, limit: int = 500, folders: int = 2000) -> list[str]:
        """The scripts under the root (root-relative, sorted), leaving out hidden folders and files,
        caches and virtual environments; at most ``limit``, looking in at most ``folders`` folders
        (a studio started in a home folder lists what it finds quickly, not everything)."""
        found: list[str] = []
        for seen, (folder, dirs, files) in enumerate(os.walk(self.root)):
            if seen >= folders:
                break
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED)
            for name in sorted(files):
                if name.lower().endswith(SCRIPT_SUFFIXES) and not name.startswith("."):
                    path = Path(folder) / name
                    if not self.leaves(path):
                        found.append(self.relative(path))
                if len(found) >= limit:
                    return sorted(found)
        return sorted(found)


def too_long(path: Path, typed: str) -> None:
    """Raise :class:`Refused` when a name in ``path`` is longer than :data:`NAME_MAX` bytes or the whole
    longer than :data:`PATH_MAX` (the system would refuse it with ENAMETOOLONG)."""
    for part in path.parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise Refused(f"'{shown(typed)}': a file or folder name is at most {NAME_MAX} bytes long, and one "
                          f"here is {len(os.fsencode(part))} bytes")
    size = len(os.fsencode(path))
    if size > PATH_MAX:
        raise Refused(f"'{shown(typed)}': a path is at most {PATH_MAX} bytes long; this one is {size}")
