"""The page: a ``gr.Blocks`` of the editor, the plan, the preview, the render queue and the caches.

Layout: the script picker and Save on top; the editor and its errors on the left; the plan
(summary with the tempo, the timeline picture) and the preview (button, progress, player)
on the right; below, tabs for the plan's table, the render queue and the caches. Every
callback is a thin wrapper around :class:`storyboard.studio.actions.Studio`, turning its
refusals (:class:`storyboard.errors.UsageError`) into a message on the page. No callback is
exposed as an API endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from html import escape
from typing import TYPE_CHECKING, Any, Iterator

from storyboard.backends.registry import FAMILIES, PREVIEW, built_in
from storyboard.errors import UsageError
from storyboard.studio import views
from storyboard.studio.actions import Studio, pick_job
from storyboard.studio.children import Status
from storyboard.studio.jobs import RESUMABLE, UNFINISHED
from storyboard.words import plural

if TYPE_CHECKING:
    import gradio as gr

PRIVATE = {"api_visibility": "private"}  # the page's own events: not an API for other programs
QUIET = {**PRIVATE, "show_progress": "hidden"}


def model_choices() -> list[tuple[str, str]]:
    """The model picker's ``(label, model id)`` entries: the script's own model, the preview, each
    family's tiny random model, then the published checkpoints the families drive (from
    :mod:`storyboard.backends.registry`)."""
    tiny = [(f"{model} (noise, offline)", model) for model in built_in() if model != PREVIEW]
    published = [(model, model) for family in FAMILIES.values() for model in family.checkpoints]
    return [("the script's own model", ""), (PREVIEW, PREVIEW), *tiny, *published]


@dataclass
class Page:
    """The page's components, by what they show."""

    state: Any = None  # per browser tab: {"path", "saved", "summary"}
    script: Any = None
    save: Any = None
    notice: Any = None
    editor: Any = None
    status: Any = None
    problems: Any = None
    summary: Any = None
    plot: Any = None
    preview: Any = None
    stop: Any = None
    progress: Any = None
    video: Any = None
    table: Any = None
    model: Any = None
    render: Any = None
    jobs: Any = None
    job: Any = None
    cancel: Any = None
    resume: Any = None
    clear: Any = None
    seen: Any = None
    timer: Any = None
    cache_tab: Any = None
    cache: Any = None
    refresh: Any = None
    cache_view: Any = None
    keep: Any = None
    prune: Any = None


def build(studio: Studio) -> "gr.Blocks":
    """The page for ``studio``."""
    import gradio as gr

    page = Page()
    with gr.Blocks(title="storyboard studio", analytics_enabled=False, delete_cache=(900, 3600), fill_width=True) as blocks:
        page.state = gr.State({"path": "", "saved": None, "summary": ""})
        _top(page, studio)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=420):
                page.editor = script_editor(language="yaml", lines=32, max_lines=32, label="Script", elem_id="editor",
                                            interactive=True, wrap_lines=True)
                page.status = gr.HTML(elem_id="check-status")
                page.problems = gr.HTML(elem_id="problems-panel")
            with gr.Column(scale=7, min_width=420):
                _plan_and_preview(page)
        with gr.Tabs():
            with gr.Tab("Plan table"):
                page.table = gr.Code(language=None, interactive=False, show_label=False, elem_id="plan-table", lines=10)
            with gr.Tab("Render"):
                _render_tab(page)
            with gr.Tab("Cache") as page.cache_tab:
                _cache_tab(page)
        _wire_editor(page, studio, blocks)
        _wire_preview(page, studio)
        _wire_render(page, studio)
        _wire_cache(page, studio)
    return blocks


def script_editor(**options: Any) -> "gr.Code":
    """A ``gr.Code`` that shows the text exactly as it is: ``gr.Code`` strips leading and trailing white space,
    which would shift the lines of a script that starts with blank lines and drop its last line break.
    (An instance attribute, not a subclass: Gradio writes a ``.pyi`` beside the source of any subclass.)"""
    import gradio as gr

    editor = gr.Code(**options)
    editor.postprocess = _as_written  # type: ignore[method-assign]
    return editor


def _as_written(value: str | None) -> str | None:
    return value


def _top(page: Page, studio: Studio) -> None:
    import gradio as gr

    with gr.Row(equal_height=False):
        gr.HTML(f"<div style='padding-top:6px'><b style='font-size:1.3em'>storyboard studio</b><br>"
                f"<span class='sb-note'>{escape(str(studio.folder.root))}</span></div>", scale=2)
        page.script = gr.Dropdown(choices=studio.scripts(), allow_custom_value=True, label="Script (a path inside the "
                                  "folder; a new name starts a new script)", elem_id="script", scale=4)
        page.save = gr.Button("Save", elem_id="save", scale=0, min_width=110)
    page.notice = gr.HTML(elem_id="notice")


def _plan_and_preview(page: Page) -> None:
    import gradio as gr

    page.summary = gr.HTML(elem_id="plan-summary")
    page.plot = gr.Image(type="filepath", show_label=False, interactive=False, elem_id="plot",
                         buttons=["fullscreen", "download"])
    with gr.Row():
        page.preview = gr.Button("Preview", variant="primary", elem_id="preview-button")
        page.stop = gr.Button("Stop preview", elem_id="preview-stop")
    page.progress = gr.HTML(elem_id="preview-progress")
    page.video = gr.Video(label="Preview", autoplay=True, interactive=False, elem_id="preview-video",
                          buttons=["download"], height=400)


def _render_tab(page: Page) -> None:
    import gradio as gr

    with gr.Row(equal_height=True):
        page.model = gr.Dropdown(choices=model_choices(), value="", allow_custom_value=True, elem_id="model",
                                 scale=3, label="Model (a hub id, a model folder inside this folder, or preview)")
        page.render = gr.Button("Render", variant="primary", elem_id="render-button", scale=1)
    gr.HTML("<span class='sb-note'>Renders run one at a time, in the order queued, as <code>storyboard render SCRIPT "
            "--model MODEL</code> of the saved script. Cancel keeps the finished segments; Resume (also after the "
            "studio restarts) renders again, reusing them.</span>")
    page.jobs = gr.HTML(elem_id="jobs")
    with gr.Row(equal_height=True):
        page.job = gr.Dropdown(choices=[], label="Job", elem_id="job", scale=2)
        page.cancel = gr.Button("Cancel", variant="stop", elem_id="cancel-button", scale=1, interactive=False)
        page.resume = gr.Button("Resume", elem_id="resume-button", scale=1, interactive=False)
        page.clear = gr.Button("Clear finished", elem_id="clear-button", scale=1)
    page.seen = gr.State({"version": -1, "running": None})
    page.timer = gr.Timer(1.0)


def _cache_tab(page: Page) -> None:
    import gradio as gr

    with gr.Row(equal_height=True):
        page.cache = gr.Dropdown(choices=[], label="Cache", elem_id="cache", scale=3)
        page.refresh = gr.Button("Refresh", elem_id="cache-refresh", scale=1)
    page.cache_view = gr.HTML(elem_id="cache-view")
    page.keep = gr.CheckboxGroup(choices=[], label="Keep the segments of (each planned for its own model, the "
                                 "preview, and the models its renders used)", elem_id="keep")
    page.prune = gr.Button("Prune: delete the segments no ticked script uses", variant="stop", elem_id="prune-button")


# --- the editor: open, save, check -----------------------------------------------------------


def _wire_editor(page: Page, studio: Studio, blocks: Any) -> None:
    opened = [page.script, page.editor, page.state, page.notice]
    blocks.load(lambda state: _open(studio, None, state, force=True), [page.state], opened, **QUIET)
    page.script.input(lambda path, text, state: _open(studio, path, state, text=text), [page.script, page.editor,
                      page.state], opened, **QUIET)
    page.save.click(lambda text, state: _save(studio, text, state), [page.editor, page.state],
                    [page.state, page.notice, page.status], **QUIET)
    page.editor.change(lambda text, state: _check(studio, text, state), [page.editor, page.state],
                       [page.state, page.status, page.problems, page.summary, page.plot, page.table],
                       trigger_mode="always_last", **QUIET)


def _open(studio: Studio, path: str | None, state: dict, text: str | None = None, force: bool = False) -> tuple:
    import gradio as gr

    choices = studio.scripts()
    if not force and text is not None and state.get("path") and studio.unsaved(text, state.get("saved")):
        return (gr.update(value=state["path"], choices=choices), gr.skip(), state,
                views.message(f"{state['path']} has unsaved changes: save them before opening another script", False))
    try:
        opened = studio.open(path)
    except UsageError as exc:
        return gr.update(value=state.get("path") or None, choices=choices), gr.skip(), state, views.message(str(exc), False)
    if opened.path not in choices:
        choices = [*choices, opened.path]
    new_state = {**state, "path": opened.path, "saved": opened.saved}
    return gr.update(value=opened.path, choices=choices), opened.text, new_state, views.message(opened.message)


def _save(studio: Studio, text: str, state: dict) -> tuple:
    import gradio as gr

    try:
        saved, said = studio.save(state["path"], text, state.get("saved"))
    except UsageError as exc:
        return state, views.message(str(exc), False), gr.skip()
    new_state = {**state, "saved": saved}
    viewed = studio.check(state["path"], text, saved)
    return new_state, views.message(said), views.status_line(viewed.checked, viewed.unsaved)


def _check(studio: Studio, text: str, state: dict) -> tuple:
    import gradio as gr

    if not state.get("path"):
        return (state, *[gr.skip()] * 5)
    try:
        viewed = studio.check(state["path"], text or "", state.get("saved"))
    except UsageError as exc:
        return state, views.message(str(exc), False), "", gr.skip(), gr.skip(), gr.skip()
    checked = viewed.checked
    status, problems = views.status_line(checked, viewed.unsaved), views.problems_table(checked)
    if not checked.ok or checked.plan is None:
        stale = views.plan_summary_stale(state.get("summary", ""))
        return state, status, problems, stale, gr.skip(), gr.skip()
    from storyboard.views.timeline import timeline_table

    summary = views.plan_summary(checked.plan)
    assert checked.script is not None
    table = timeline_table(checked.plan, checked.script.storyboard.style)
    return {**state, "summary": summary}, status, problems, summary, str(viewed.picture), table


# --- the preview -------------------------------------------------------------------------------


def _wire_preview(page: Page, studio: Studio) -> None:
    event = page.preview.click(partial(_preview, studio), [page.editor, page.state],  # a generator function: Gradio streams it
                               [page.progress, page.video], concurrency_limit=1, **QUIET)
    page.stop.click(lambda: "<span class='sb-note' id='preview-stopped'>preview stopped</span>", None, [page.progress],
                    cancels=[event], **QUIET)


def _preview(studio: Studio, text: str, state: dict) -> Iterator[tuple]:
    import gradio as gr

    if not state.get("path"):
        yield views.message("open a script first", False), gr.skip()
        return
    yield views.progress(Status()), None
    try:
        last = Status()
        for status in studio.preview(state["path"], text or ""):
            last = status
            if status.phase in ("done", "failed"):
                break
            yield views.progress(status), gr.skip()
    except UsageError as exc:
        yield views.message(str(exc), False), gr.skip()
        return
    yield views.progress(last), (last.output if last.phase == "done" else gr.skip())


# --- the render queue --------------------------------------------------------------------------


def _wire_render(page: Page, studio: Studio) -> None:
    page.render.click(lambda text, state, model: _render(studio, text, state, model), [page.editor, page.state,
                      page.model], [page.notice], **QUIET)
    buttons = [page.cancel, page.resume]
    page.timer.tick(lambda seen, job: _jobs(studio, seen, job), [page.seen, page.job],
                    [page.jobs, page.job, page.seen, *buttons], **QUIET)
    page.job.change(lambda job: _job_buttons(studio, job), [page.job], buttons, **QUIET)
    for button, act in ((page.cancel, studio.cancel), (page.resume, studio.resume)):
        button.click(lambda job, act=act: _job_action(act, job), [page.job], [page.notice], **QUIET)
    page.clear.click(lambda: views.message(f"cleared {plural(studio.queue.clear_finished(), 'finished job')}"), None,
                     [page.notice], **QUIET)


def _render(studio: Studio, text: str, state: dict, model: str | None) -> str:
    try:
        return views.message(studio.render(state.get("path") or "", text or "", state.get("saved"), model or ""))
    except UsageError as exc:
        return views.message(str(exc), False)


def _jobs(studio: Studio, seen: dict, chosen: str | None) -> tuple:
    """The queue's table, the job picker and its buttons, redrawn when the queue changed (``seen``: the
    version last drawn and the job that was running then)."""
    import gradio as gr

    version, jobs = studio.queue.snapshot()
    if version == seen.get("version"):
        return (gr.skip(),) * 5
    picked = pick_job(jobs, chosen, seen.get("running"))
    return (views.jobs_table(jobs), gr.update(choices=[job.id for job in jobs], value=picked.job),
            {"version": version, "running": picked.running}, gr.update(interactive=picked.can_cancel),
            gr.update(interactive=picked.can_resume))


def _job_buttons(studio: Studio, chosen: str | None) -> tuple:
    """Cancel and Resume, enabled only for a job they apply to."""
    import gradio as gr

    state = next((job.state for job in studio.queue.snapshot()[1] if job.id == chosen), None)
    return gr.update(interactive=state in UNFINISHED), gr.update(interactive=state in RESUMABLE)


def _job_action(act: Any, job: str | None) -> str:
    if not job:
        return views.message("choose a job first", False)
    try:
        return views.message(act(job))
    except UsageError as exc:
        return views.message(str(exc), False)


# --- the caches --------------------------------------------------------------------------------


def _wire_cache(page: Page, studio: Studio) -> None:
    outputs = [page.cache, page.cache_view, page.keep]
    for trigger in (page.cache_tab.select, page.refresh.click):
        trigger(lambda name: _caches(studio, name), [page.cache], outputs, **QUIET)
    page.cache.input(lambda name: _cache_view(studio, name), [page.cache], [page.cache_view], **QUIET)
    page.prune.click(lambda name, keep: _prune(studio, name, keep), [page.cache, page.keep],
                     [page.notice, page.cache_view], **QUIET)


def _caches(studio: Studio, chosen: str | None) -> tuple:
    import gradio as gr

    from storyboard.studio.caches import find_caches

    names = find_caches(studio.folder)
    name = chosen if chosen in names else (names[0] if names else None)
    scripts = studio.scripts()
    keep = gr.update(choices=scripts, value=scripts)
    return gr.update(choices=names, value=name), _cache_view(studio, name), keep


def _cache_view(studio: Studio, name: str | None) -> str:
    from storyboard.studio.caches import contents

    if not name:
        return "<span class='sb-note'>no segment cache in this folder yet: renders and previews make one</span>"
    try:
        return views.cache_table(contents(studio.folder, name))
    except UsageError as exc:
        return views.message(str(exc), False)


def _prune(studio: Studio, name: str | None, keep: list[str] | None) -> tuple:
    if not name:
        return views.message("choose a cache first", False), _cache_view(studio, name)
    try:
        said = studio.prune(name, list(keep or []))
    except UsageError as exc:
        return views.message(str(exc), False), _cache_view(studio, name)
    return views.message(said), _cache_view(studio, name)
