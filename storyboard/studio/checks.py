"""Script text -> what ``storyboard validate`` would say about it, and its plan.

The editor's text is checked in memory (nothing is written), the way ``validate`` checks a
file: loaded with every shape error kept, planned, and its outputs checked. An error's
message, line and column are the ones ``validate`` prints for the same text; the studio
adds one rule of its own: a path in the script that leaves the studio's folder (music, a
voice file, a model folder, the output) is refused at its field, before anything is read
from it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from storyboard.errors import Loc, ScriptError, ScriptErrors, UsageError, format_path
from storyboard.script.media import media_references
from storyboard.studio.folder import MAX_SCRIPT_BYTES, Folder
from storyboard.words import plural

if TYPE_CHECKING:
    from storyboard.plan.data import Plan
    from storyboard.render.outputs import Outputs
    from storyboard.script.load import Script


@dataclass(frozen=True)
class Problem:
    """One error, as a row of the page's table. ``line`` and ``column`` are 1-based (None: not located)."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    text: str  # the whole error exactly as ``storyboard validate`` prints it

    @classmethod
    def of(cls, error: ScriptError) -> "Problem":
        message = error.message + (f" ({error.hint})" if error.hint else "")
        return cls(error.file or "", error.line, error.column, format_path(error.path), message, error.format())


@dataclass(frozen=True)
class Checked:
    """The outcome of checking one script's text."""

    name: str  # the script's path as the page shows it (relative to the studio's folder)
    problems: tuple[Problem, ...] = ()
    warnings: tuple[str, ...] = ()
    script: "Script | None" = None
    plan: "Plan | None" = None
    outputs: "Outputs | None" = None

    @property
    def ok(self) -> bool:
        return not self.problems and self.plan is not None

    def report(self) -> str:
        """What ``storyboard validate NAME`` prints for this text (warnings, then errors or the ok line)."""
        lines = [f"{self.name}: warning: {w}" for w in self.warnings]
        if self.problems:
            lines += [p.text for p in self.problems[:ScriptErrors.shown]]
            if len(self.problems) > ScriptErrors.shown:
                lines.append(f"... and {len(self.problems) - ScriptErrors.shown} more")
            if len(self.problems) > 1:
                lines.append(f"{len(self.problems)} errors")
        elif self.plan is not None and self.outputs is not None:
            plan = self.plan
            lines.append(f"{self.name}: ok: {plural(len(plan.scenes), 'scene')}, {plural(len(plan.shots), 'shot')}, "
                         f"{plural(plan.total_frames, 'frame')}, {plan.duration_s:.3f} s at {plan.fps} fps; "
                         f"{self.outputs.describe()}")
            from storyboard.views.timeline import media_summary

            lines += [f"  {line}" for line in media_summary(plan)]  # each image's size, each control video's frames
        return "\n".join(lines)


def check_text(text: str, path: Path, folder: Folder, *, model: str | None = None) -> Checked:
    """Check ``text`` as the script at ``path`` (inside ``folder``; it need not exist), planned for
    ``model`` (default: the script's own). Never raises for a problem with the script."""
    from storyboard.pipeline import check_outputs, plan_script
    from storyboard.script.load import load_script_text, with_overrides

    name = folder.relative(path)
    warnings: tuple[str, ...] = ()
    try:
        script = load_script_text(text, str(path), keep_going=True)
        if model is not None:
            script = with_overrides(script, model=model)
        refused = path_problems(script, folder, model)
        if refused:
            kept = [e for e in script.problems if e.path not in {r.path for r in refused}]
            raise ScriptErrors(sorted(kept + refused, key=lambda e: (e.line or 0, e.column or 0)))
        planned = plan_script(script)
        warnings = planned.warnings
        outputs = check_outputs(script, planned.plan)
    except ScriptErrors as exc:
        return Checked(name, tuple(Problem.of(_named(e, name)) for e in exc.errors), warnings)
    except Exception as exc:  # noqa: BLE001 - validate reports it against the file and goes on; so does the page
        what = str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}"
        return Checked(name, (Problem(name, None, None, "", what, f"{name}: error: {what}"),), warnings)
    return Checked(name, (), warnings, script, planned.plan, outputs)


def _named(error: ScriptError, name: str) -> ScriptError:
    """The error as it reads for the script's page name (the text was loaded under its absolute path)."""
    return dataclasses.replace(error, file=name) if error.file else error


def path_problems(script: "Script", folder: Folder, model: str | None = None) -> list[ScriptError]:
    """An error at each path in the script that leaves the studio's folder: music tracks, voice files
    (``.onnx``), images and control videos, a model folder and the output (after following links)."""
    doc, board = script.document, script.storyboard
    found: list[tuple[Loc, str, Path]] = [(("music", i, "path"), t.path, script.resolve(t.path))
                                          for i, t in enumerate(board.music)]
    found += [(loc, name, _voice_file(name, script.folder)) for loc, name in _voice_names(script)
              if name.endswith(".onnx")]
    found += [(ref.loc, ref.text, script.resolve(ref.text)) for ref in media_references(board)]
    if board.output.path:
        found.append((("output", "path"), board.output.path, script.output_path()))
    errors = [doc.error(f"'{text}' leaves the studio's folder ({folder.root}); the studio reads and writes only inside "
                        "the folder it was started in", doc.resolve(loc)) for loc, text, target in found
              if _leaves(folder, loc, target)]
    problem = model_problem(board.model.id, folder)
    if problem and model is None:
        errors.append(doc.error(problem, doc.resolve(("model", "id"))))
    return errors


def _leaves(folder: Folder, loc: Loc, target: Path) -> bool:
    """Whether ``target`` leaves the folder; for a voice, its ``.onnx.json`` beside it too."""
    if loc[-1] == "voice":  # voice.voice or a scene's narration.voice
        return folder.leaves(target) or folder.leaves(target.with_name(target.name + ".json"))
    return folder.leaves(target)


def _voice_names(script: "Script") -> list[tuple[Loc, str]]:
    """Where a voice is named: ``voice.voice`` and each scene's ``narration.voice``."""
    board = script.storyboard
    names: list[tuple[Loc, str]] = [(("voice", "voice"), board.voice.voice)]
    names += [(("scenes", i, "narration", "voice"), s.narration.voice) for i, s in enumerate(board.scenes)
              if s.narration is not None and s.narration.voice]
    return names


def _voice_file(name: str, folder: Path) -> Path:
    """The ``.onnx`` file a voice name points at, as :func:`storyboard.voice.voices.find_voice` finds it."""
    model = Path(name).expanduser()
    return model if model.is_absolute() else folder / model


def model_problem(model_id: str, folder: Folder) -> str | None:
    """Why ``model_id`` may not be used from the studio: a local model folder outside the studio's folder.
    A hub id (``org/name``, read from the Hugging Face cache) and the built-in models are fine. A model id
    names a folder as the render command reads it, relative to the folder the studio was started in."""
    looks_local = model_id.startswith((".", "/", "~")) or model_id.count("/") > 1 or (folder.root / model_id).exists()
    if looks_local and (model_id.startswith("~") or folder.leaves(model_id)):
        return (f"model '{model_id}' is a folder outside the studio's folder ({folder.root}); the studio reads only "
                "inside the folder it was started in (a hub id such as org/name is read from the Hugging Face cache)")
    return None


def render_problems(folder: Folder, name: str, model: str, shown: int = 3) -> list[str]:
    """Why the script ``name`` (relative to the folder, as it is on disk now) may not be rendered with
    ``model``; empty when it may. See :func:`check_for_render`."""
    return check_for_render(folder, name, model, shown)[0]


def check_for_render(folder: Folder, name: str, model: str, shown: int = 3) -> tuple[list[str], str | None]:
    """The studio's checks of a render, run just before a render job starts (the file may have changed
    since it was queued): (at most ``shown`` messages, empty when it may be rendered; the SHA-256 of the
    exact bytes that were checked, which the render is then told to insist on)."""
    import hashlib

    try:
        path = folder.script(name)
        if path.stat().st_size > MAX_SCRIPT_BYTES:
            raise UsageError(f"'{name}' is larger than {MAX_SCRIPT_BYTES // 2**20} MB: not a storyboard script")
        data = path.read_bytes()
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"'{name}' is not UTF-8 text ({exc.reason} at byte {exc.start})"], None
    except FileNotFoundError:
        return [f"'{name}': no such script"], None
    except OSError as exc:
        return [f"'{name}': cannot read: {exc.strerror}"], None
    except UsageError as exc:
        return [str(exc)], None
    if problem := model_problem(model, folder):
        return [problem], None
    checked = check_text(text, path, folder, model=model)
    if checked.ok:
        return [], hashlib.sha256(data).hexdigest()
    said = [p.text for p in checked.problems[:shown]]
    if len(checked.problems) > shown:
        said.append(f"... and {len(checked.problems) - shown} more")
    return said, None
