"""The folder the studio was started in: every path the studio reads or writes stays inside it.

A path is taken *after* following symbolic links and ``..``: ``media/song.wav`` that is a
link to ``/home/me/song.wav`` leaves the folder as surely as ``../song.wav`` or
``/etc/passwd`` does, and is refused. The studio keeps its own files (previews, plots,
the render queue, Gradio's copies of what it serves) in ``.storyboard-studio/`` inside
the folder, and refuses to start when any of them is a link or resolves outside it (a
project that arrives with ``.storyboard-studio/plots -> /home/me`` would otherwise have the
studio write there, and its server serve what is there).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import UsageError

SCRIPT_SUFFIXES = (".yaml", ".yml", ".json")
STATE_NAME = ".storyboard-studio"
MAX_SCRIPT_BYTES = 4 * 2**20  # a script is text of a few kilobytes; refuse to load anything huge
OWN_FILES = ("studio.lock", "jobs.json", "rendered.json")  # in the state folder
_SKIPPED = {"node_modules", "__pycache__", ".git", ".venv", "venv"}


class Refused(UsageError):
    """A path that leaves the studio's folder, or names something the studio must not touch."""


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
            raise Refused(f"{text!r}: not a path")
        candidate = Path(text)
        if not candidate.is_absolute():
            candidate = (base or self.root) / candidate
        resolved = Path(os.path.realpath(candidate))
        if resolved != self.root and not resolved.is_relative_to(self.root):
            raise Refused(f"'{text}' leaves the studio's folder ({self.root}): the studio reads and writes only "
                          "inside the folder it was started in")
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
        """A script's path inside the root (it may not exist yet). Raises :class:`Refused`."""
        resolved = self.inside(path)
        if resolved.suffix.lower() not in SCRIPT_SUFFIXES:
            raise Refused(f"'{path}': a script is a .yaml, .yml or .json file")
        if resolved.is_relative_to(self.state) or any(p.name == ".storyboard-cache" for p in resolved.parents):
            raise Refused(f"'{path}' is inside a folder storyboard manages (its cache, or the studio's own files)")
        if resolved.exists() and not resolved.is_file():
            raise Refused(f"'{path}' is not a regular file")
        return resolved

    def read_script(self, path: str | Path) -> str:
        """The text of the script at ``path`` (UTF-8). Raises :class:`Refused` or :class:`UsageError`."""
        resolved = self.script(path)
        if not resolved.is_file():
            raise UsageError(f"'{path}': no such script")
        if resolved.stat().st_size > MAX_SCRIPT_BYTES:
            raise UsageError(f"'{path}' is larger than {MAX_SCRIPT_BYTES // 2**20} MB: not a storyboard script")
        try:
            return resolved.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise UsageError(f"'{path}' is not UTF-8 text ({exc.reason} at byte {exc.start})") from None

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
