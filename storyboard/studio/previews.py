"""Previews: the editor's text rendered with the built-in preview backend, into the studio's own folder.

A preview is ``storyboard render SCRIPT --model preview -o .storyboard-studio/previews/NAME.mp4``
run as a child (see :mod:`storyboard.studio.children`), told the SHA-256 of the text that was
checked (it refuses any other) and to keep every path inside the folder: the command line's output checks,
Ctrl-C and cache apply, and its segment cache sits beside the previews, apart from the
renders'. It previews what the editor holds: when that differs from the file, the text is
written to a temporary file beside the script (so that its relative paths resolve the same),
named as storyboard names its partial files, and removed afterwards; a studio that was killed
leaves one behind, which the next one sweeps away; a studio stopped with Ctrl-C stops its
previews and removes theirs. A preview never writes over a user's file.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from storyboard.errors import UsageError
from storyboard.studio.children import Running, Status
from storyboard.studio.folder import Folder

if TYPE_CHECKING:
    from storyboard.studio.checks import Checked


def preview_path(folder: Folder, script: Path) -> Path:
    """Where the preview of ``script`` goes: ``.storyboard-studio/previews/<name>-<8 hex>.mp4`` (one file a script)."""
    name = folder.relative(script)
    tag = hashlib.sha1(name.encode()).hexdigest()[:8]
    return folder.previews / f"{Path(name).stem}-{tag}.mp4"


def check_preview_outputs(checked: "Checked", target: Path) -> None:
    """The command line's output checks for a preview written to ``target`` (``-o``): raises
    :class:`storyboard.errors.UsageError` when writing it could lose anything."""
    from storyboard.pipeline import check_outputs

    assert checked.script is not None and checked.plan is not None
    plan = dataclasses.replace(checked.plan, output=dataclasses.replace(checked.plan.output, path=str(target)))
    check_outputs(checked.script, plan, chosen_by_user=True)


def run_preview(folder: Folder, script: Path, text: str, checked: "Checked",
                running: Running | None = None) -> Iterator[Status]:
    """Render the preview of ``text`` (checked, with no errors) as the script at ``script``, yielding
    its status at every line of progress; the last has ``phase`` ``done`` (``output`` is the MP4) or
    ``failed``. Closing the generator stops the render (Ctrl-C). The child is counted in ``running``
    while it runs (so that the studio stops it, and removes its temporary script, when it stops)."""
    if not checked.ok:
        raise UsageError("the script has errors: fix them before previewing")
    target = preview_path(folder, script)
    check_preview_outputs(checked, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    running = running if running is not None else Running()
    source, temporary = _source(script, text)
    sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()
    status, child = Status(), None
    try:
        args = ["render", folder.relative(source), "--model", "preview", "-o", folder.relative(target),
                "--expect-sha256", sha256, "--confine", str(folder.root)]
        child = running.start(args, folder.root, source if temporary else None)
        for line in child.lines():
            status.feed(line)
            yield status
        code = child.wait()
        status.phase = "done" if code == 0 else "failed"
        status.output = str(target) if code == 0 else None
        yield status
    finally:
        if child is not None:
            if child.process.poll() is None:
                child.stop()
            running.done(child)
        if temporary:
            source.unlink(missing_ok=True)


def _source(script: Path, text: str) -> tuple[Path, bool]:
    """The file to render: the script itself when its bytes are ``text``, else a temporary file beside
    it holding ``text``; and whether it is temporary. (The render insists on those bytes: a script
    saved again in between is not rendered.)"""
    try:
        if script.is_file() and script.read_bytes() == text.encode("utf-8"):
            return script, False
    except (OSError, UnicodeDecodeError):
        pass
    from storyboard.files import temporary_sibling

    script.parent.mkdir(parents=True, exist_ok=True)
    partial = temporary_sibling(script, script.suffix)
    partial.write_bytes(text.encode("utf-8"))
    return partial, True


def sweep_left_behind(folder: Folder, scripts: list[str]) -> None:
    """Remove the temporary preview scripts that a killed studio left beside ``scripts``."""
    from storyboard.files import sweep_stale_partials

    folders = {(folder.root / s).parent for s in scripts} | {folder.root}
    sweep_stale_partials(*sorted(folders))
