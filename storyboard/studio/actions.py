"""What the page's editor and buttons do, as plain functions of plain values (no Gradio here).

:class:`Studio` holds the folder and the render queue; each method takes what the page
sends (the script's path as typed, the editor's text, the text last saved or opened) and
returns what to show. Every path is confined to the studio's folder here, not in the page:
the page's own requests could be forged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from storyboard.errors import UsageError
from storyboard.studio.checks import Checked, check_text, model_problem
from storyboard.studio.children import Running, Status
from storyboard.studio.folder import Folder
from storyboard.studio.jobs import RESUMABLE, UNFINISHED, RenderJob, RenderQueue

NEW_SCRIPT = """\
version: 1
title: Untitled
output: {path: out/untitled.mp4, width: 768, height: 432, fps: 24, preset: veryfast}
model: preview
scenes:
  - id: opening
    duration: 4s
    prompts: a quiet street at dawn
"""


@dataclass(frozen=True)
class Picked:
    """What the job picker shows: the job chosen, the job running now, and which buttons apply to it."""

    job: str | None
    running: str | None
    can_cancel: bool
    can_resume: bool


def pick_job(jobs: list[RenderJob], chosen: str | None, was_running: str | None) -> Picked:
    """The job the picker shows, given the jobs, the one it showed (``chosen``) and the job that was
    running when it last looked (``was_running``). A job that starts running (another than before)
    takes the picker, so that Cancel aims at what runs, not at a failed job left chosen; otherwise
    the choice stays while its job exists (a person may be about to resume it), else the running
    or next queued job, else the newest. Cancel applies to a queued or running job only, Resume to a
    cancelled, interrupted or failed one."""
    ids = [job.id for job in jobs]
    running = next((job.id for job in jobs if job.state == "running"), None)
    if running is not None and running != was_running:
        value = running
    elif chosen in ids:
        value = chosen
    else:
        value = running or next((job.id for job in jobs if job.state == "queued"), ids[0] if ids else None)
    state = next((job.state for job in jobs if job.id == value), None)
    return Picked(value, running, state in UNFINISHED, state in RESUMABLE)


@dataclass(frozen=True)
class Opened:
    path: str  # relative to the studio's folder
    text: str
    saved: str | None  # the text on disk (None: not saved yet)
    message: str


@dataclass(frozen=True)
class Viewed:
    """A check of the editor's text, with the plan's picture when it planned."""

    checked: Checked
    picture: Path | None
    unsaved: bool


class Studio:
    """The studio of one folder: its scripts, checks, previews, render queue and caches."""

    def __init__(self, folder: Folder, first: str | None = None, *, queue: RenderQueue | None = None):
        self.folder = folder
        self.first = first
        self.queue = queue if queue is not None else RenderQueue(folder)
        self.previews = Running("a preview")

    # --- scripts ------------------------------------------------------------------------------

    def scripts(self) -> list[str]:
        return self.folder.scripts()

    @staticmethod
    def unsaved(text: str | None, saved: str | None) -> bool:
        """Whether the editor's ``text`` holds changes that leaving the script would lose: it differs from
        the file as opened (``saved``), or, for a script never saved, from the new script's text."""
        return (text or "") != (NEW_SCRIPT if saved is None else saved)

    def open(self, path: str | None) -> Opened:
        """Open ``path`` (default: the script the studio was started with, else the first storyboard script
        listed). Raises :class:`~storyboard.studio.folder.Refused` for a file that is not a storyboard
        script, a hidden one, or one in a hidden folder, without reading out its text."""
        path = path or self.first or self._first_script()
        resolved = self.folder.script(path)
        name = self.folder.relative(resolved)
        if not resolved.exists():
            return Opened(name, NEW_SCRIPT, None, f"{name} is new: it is written when you save it")
        text = self.folder.read_script(name)
        return Opened(name, text, text, f"opened {name}")

    def _first_script(self, looked_at: int = 20) -> str:
        """The first of the listed files (among the first ``looked_at``) that is a storyboard script, else
        ``untitled.yaml`` (a folder may hold other tools' YAML files: they are listed, not opened)."""
        for name in self.scripts()[:looked_at]:
            try:
                self.folder.read_script(name)
            except UsageError:
                continue
            return name
        return "untitled.yaml"

    def save(self, path: str, text: str, saved: str | None) -> tuple[str, str]:
        """Write ``text`` to ``path`` atomically; (the text now saved, what happened). The file is
        replaced only if it still holds what was opened (``saved``): a change made to it elsewhere
        since then is never overwritten. Only a storyboard script is written (``text`` is a mapping of
        a script's fields), never over a file that is not one, nor in a hidden folder
        (:meth:`Folder.script`): a page that forged this call cannot write another tool's settings."""
        from storyboard.files import atomic
        from storyboard.studio.folder import Refused, storyboard_problem

        resolved = self.folder.script(path)
        name = self.folder.relative(resolved)
        if problem := storyboard_problem(text, resolved.name):
            raise Refused(f"not saved: the text is not a storyboard script: {problem}. The studio saves only "
                          "storyboard scripts (your text is still in the editor)")
        try:
            on_disk = resolved.read_text(encoding="utf-8") if resolved.is_file() else None
        except (OSError, UnicodeDecodeError):
            on_disk = "\x00"  # unreadable, or not text: not a script
        if on_disk is not None and on_disk.strip() and (problem := storyboard_problem(on_disk, resolved.name)):
            raise Refused(f"not saved: {name} is not a storyboard script ({problem}), and the studio never replaces "
                          "another file; save your script under another name")
        if on_disk != saved:
            what = "was created" if saved is None else "was deleted" if on_disk is None else "changed"
            raise UsageError(f"not saved: {name} {what} on disk since it was opened; "
                             "open it again (your text is still in the editor: copy it first)")
        try:
            resolved.parent.mkdir(parents=True, exist_ok=True)
            with atomic(resolved, resolved.suffix) as tmp:
                tmp.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"not saved: {name}: {exc.strerror or exc} (your text is still in the editor)") from None
        return text, f"saved {name}"

    # --- checks and the plan ------------------------------------------------------------------

    def check(self, path: str, text: str, saved: str | None, model: str | None = None) -> Viewed:
        """Check the editor's text as the script at ``path``, and draw its plan."""
        from storyboard.studio.plot import plan_picture

        resolved = self.folder.script(path)
        checked = check_text(text, resolved, self.folder, model=model)
        picture = None
        if checked.ok:
            assert checked.script is not None and checked.plan is not None
            picture = plan_picture(checked.script, checked.plan, self.folder.plots, checked.name)
        return Viewed(checked, picture, text != saved)

    # --- previews and renders -----------------------------------------------------------------

    def preview(self, path: str, text: str) -> Iterator[Status]:
        """Render the editor's text with the preview backend; its status as it goes (see
        :func:`storyboard.studio.previews.run_preview`)."""
        from storyboard.studio.previews import run_preview

        resolved = self.folder.script(path)
        checked = check_text(text, resolved, self.folder, model="preview")
        if not checked.ok:
            raise UsageError("the script has errors: fix them before previewing")
        yield from run_preview(self.folder, resolved, text, checked, self.previews)

    def render(self, path: str, text: str, saved: str | None, model: str) -> str:
        """Queue a render of the saved script with ``model`` (empty: the script's own); what happened."""
        resolved = self.folder.script(path)
        name = self.folder.relative(resolved)
        if saved is None or text != saved:
            raise UsageError(f"save {name} first: a render job renders the saved script, so that it can resume "
                             "after a restart")
        model = model.strip() or None
        if model is not None and (problem := model_problem(model, self.folder)):
            raise UsageError(problem)
        checked = check_text(saved, resolved, self.folder, model=model)
        if not checked.ok:
            raise UsageError(f"{name} has errors: fix them before rendering")
        assert checked.plan is not None
        job = self.queue.submit(name, str(checked.plan.model.id))
        return f"queued {job.id}: {name} with {job.model}"

    def cancel(self, job_id: str) -> str:
        """Cancel a queued or running job; UsageError for one that has finished (nothing to cancel)."""
        job = self._job(job_id)
        if job.state not in UNFINISHED:
            raise UsageError(f"{job.id} is {job.state}: nothing to cancel")
        return self.queue.cancel(job.id)

    def resume(self, job_id: str) -> str:
        """Queue a cancelled, interrupted or failed job again; UsageError for any other."""
        job = self._job(job_id)
        if job.state not in RESUMABLE:
            raise UsageError(f"{job.id} is {job.state}: only a cancelled, interrupted or failed render resumes")
        return self.queue.resume(job.id)

    def _job(self, job_id: str) -> RenderJob:
        found = next((j for j in self.queue.snapshot()[1] if j.id == job_id), None)
        if found is None:
            raise UsageError(f"no render job '{job_id}'")
        return found

    def models(self) -> dict[str, set[str]]:
        """The models each script was rendered with from the studio (the record its render jobs keep,
        which outlives clearing them)."""
        return self.queue.models()

    # --- caches -------------------------------------------------------------------------------

    def prune(self, cache: str, keep: list[str]) -> str:
        """Prune the cache ``cache`` keeping the segments of the scripts ``keep``; what was done. Refused
        while a render or a preview runs (it may be writing, or about to reuse, what would be deleted);
        none starts until the pruning is done."""
        from storyboard.studio.caches import plans_to_keep, prune_cache

        why = "a cache is being pruned"
        try:
            with self.queue.held(why), self.previews.held(why):
                return prune_cache(self.folder, cache, plans_to_keep(self.folder, keep, self.models()))
        except UsageError as exc:
            if str(exc).startswith("not pruned"):
                raise
            raise UsageError(f"not pruned: {exc}") from None

    def close(self, grace_s: float = 60.0) -> str | None:
        """Stop the running previews (removing their temporary scripts) and the render queue; the id
        of the render it interrupted, if any."""
        self.previews.close(grace_s)
        return self.queue.close(grace_s)
