"""The page's words and tables, as HTML: checks, the plan's summary, progress, jobs and caches.

Every value put into HTML is escaped with :func:`e` (quotes too, so that it is safe in an
attribute): whatever came from a script, a file (``jobs.json``, a cache's notes, a file's
name), a child process, or this code.
"""

from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING

from storyboard.progress import clock
from storyboard.words import plural



def e(value: object) -> str:
    """``value`` as text safe anywhere in HTML: in an element or in a quoted attribute."""
    return escape(str(value), quote=True)


if TYPE_CHECKING:
    from storyboard.plan.data import Plan
    from storyboard.studio.caches import CacheContents
    from storyboard.studio.checks import Checked
    from storyboard.studio.children import Status
    from storyboard.studio.jobs import RenderJob

CSS = """
.sb-table {border-collapse: collapse; width: 100%; font-size: 0.9em}
.sb-table th, .sb-table td {text-align: left; padding: 3px 8px; border-bottom: 1px solid #ddd; vertical-align: top}
.sb-table td.num {text-align: right; font-variant-numeric: tabular-nums}
.sb-table pre {margin: 2px 0 0 0; font-size: 0.95em; white-space: pre-wrap}
.sb-ok {color: #17803d; font-weight: 600}
.sb-bad {color: #b3261e; font-weight: 600}
.sb-note {color: #666}
.sb-bar {display: inline-block; width: 120px; height: 10px; background: #e5e5e5; border-radius: 5px; overflow: hidden;
         vertical-align: middle}
.sb-bar > span {display: block; height: 100%; background: #3b82f6}
#editor .cm-editor {max-height: 640px}
"""


def status_line(checked: "Checked", unsaved: bool) -> str:
    """One line over the errors: valid or how many errors, and whether the text is saved."""
    saved = " <span class='sb-note'>(unsaved changes)</span>" if unsaved else ""
    if checked.ok:
        plan = checked.plan
        assert plan is not None
        return (f"<span class='sb-ok' id='check-ok'>\u2714 {e(checked.name)} is valid</span>: "
                f"{e(plural(len(plan.scenes), 'scene'))}, {e(plural(len(plan.shots), 'shot'))}, "
                f"{e(plural(plan.total_frames, 'frame'))}{saved}")
    count = len(checked.problems)
    return (f"<span class='sb-bad' id='check-bad'>\u2718 {e(checked.name)}: {e(plural(count, 'error'))}</span>{saved}")


def problems_table(checked: "Checked") -> str:
    """The errors with line, column, field and message (and the line of the script, marked), then
    the warnings; as ``storyboard validate`` reports them."""
    rows = []
    for p in checked.problems:
        excerpt = p.text.split("\n", 1)[1] if "\n" in p.text else ""
        rows.append(f"<tr class='problem' data-line='{e(p.line or '')}' data-column='{e(p.column or '')}'>"
                    f"<td class='num'>{e(p.line or '')}</td><td class='num'>{e(p.column or '')}</td>"
                    f"<td>{e(p.field)}</td><td>{e(p.message)}"
                    + (f"<pre>{e(excerpt)}</pre>" if excerpt else "") + "</td></tr>")
    html = ""
    if rows:
        html = ("<table class='sb-table' id='problems'><tr><th>line</th><th>column</th><th>field</th><th>message</th>"
                "</tr>" + "".join(rows) + "</table>")
    if checked.warnings:
        html += "<ul class='sb-warnings'>" + "".join(f"<li>warning: {e(w)}</li>" for w in checked.warnings) + "</ul>"
    return html or "<span class='sb-note'>no errors, no warnings</span>"


def plan_summary(plan: "Plan") -> str:
    """Title, length, frames, size, tempo and model."""
    tempo = plan.tempo
    if tempo is None:
        beat = "no tempo (no music with sync or beats, no bpm:)"
    else:
        source = {"music": "from the music", "bpm": "from bpm:"}.get(str(tempo.get("source")), str(tempo.get("source")))
        bpm = tempo["bpm"]
        beat = f"tempo <b id='plan-tempo' data-bpm='{e(bpm)}'>{e(f'{bpm:.2f}')} BPM</b> ({e(source)})"
    voice = ""
    if plan.narration:
        voice = f" \u00b7 narration {e(f'{sum(n.duration_s for n in plan.narration):.1f}')} s"
    return (f"<b>{e(plan.title or 'untitled')}</b>: <b id='plan-duration' data-seconds='{e(repr(plan.duration_s))}' "
            f"data-frames='{e(plan.total_frames)}'>{e(f'{plan.duration_s:.3f}')} s</b>, "
            f"{e(plural(plan.total_frames, 'frame'))} at {e(plan.fps)} fps, {e(plan.width)}\u00d7{e(plan.height)} "
            f"\u00b7 {beat} \u00b7 {e(plural(len(plan.scenes), 'scene'))}, {e(plural(len(plan.shots), 'shot'))}"
            f"{voice} \u00b7 model {e(plan.model.id)}")


def plan_summary_stale(summary: str) -> str:
    """The last valid text's summary, marked as such (the text now has errors)."""
    if not summary:
        return "<span class='sb-note'>no plan: the text has errors</span>"
    return ("<div class='sb-note' id='plan-stale'>\u26a0 the text has errors: this is the plan of its last valid "
            "version</div>" + summary)


def progress(status: "Status", what: str = "preview") -> str:
    """A render's progress: phase, a bar, frames and ETA."""
    if status.phase == "done":
        return f"<span class='sb-ok' id='{e(what)}-done'>\u2714 {e(what)} ready</span>"
    if status.phase == "failed":
        return f"<span class='sb-bad'>\u2718 {e(what)} failed</span><pre>{e(status.last_words())}</pre>"
    doing = {"starting": "starting", "render": "rendering", "assemble": "assembling"}.get(status.phase, status.phase)
    segment = f", segment {status.segment}/{status.segments}" if status.phase == "render" and status.segments else ""
    eta = f", ETA {clock(status.eta_s)}" if status.eta_s is not None else ""
    frames = f" {status.done}/{status.total} frames" if status.total else ""
    return f"{e(doing)} {bar(status.fraction)} {e(percent(status.fraction))}{e(frames)}{e(segment)}{e(eta)}"


def percent(fraction: float) -> str:
    """``fraction`` (0 to 1) as a whole percentage."""
    return f"{max(0.0, min(1.0, fraction)):.0%}"


def bar(fraction: float) -> str:
    return f"<span class='sb-bar'><span style='width:{e(f'{max(0.0, min(1.0, fraction)) * 100:.1f}')}%'></span></span>"


def jobs_table(jobs: list["RenderJob"]) -> str:
    """The render queue, newest first."""
    if not jobs:
        return "<span class='sb-note'>no renders yet: choose a model and press Render</span>"
    rows = []
    for job in jobs:
        eta = f"ETA {clock(job.eta_s)}" if job.eta_s is not None and job.state == "running" else ""
        doing = f"{job.phase} " if job.state == "running" else ""
        when = time.strftime("%H:%M:%S", time.localtime(job.created))
        rows.append(f"<tr class='job' data-id='{e(job.id)}' data-state='{e(job.state)}'><td>{e(job.id)}</td>"
                    f"<td>{e(when)}</td><td>{e(job.script)}</td><td>{e(job.model)}</td><td>{e(job.state)}</td>"
                    f"<td>{e(doing)}{bar(job.fraction)} {e(percent(job.fraction))} {e(eta)}</td>"
                    f"<td><pre>{e(job.message)}</pre></td></tr>")
    return ("<table class='sb-table' id='jobs-table'><tr><th>job</th><th>queued</th><th>script</th><th>model</th>"
            "<th>state</th><th>progress</th><th>says</th></tr>" + "".join(rows) + "</table>")


def cache_table(cache: "CacheContents") -> str:
    """A cache's segments and pieces."""
    head = (f"<p><b>{e(cache.folder)}</b>: {e(plural(len(cache.segments), 'segment'))}, "
            f"{e(f'{cache.segments_mb:.1f}')} MB; {e(plural(cache.pieces, 'assembled piece'))}, "
            f"{e(f'{cache.pieces_mb:.1f}')} MB</p>")
    if not cache.segments:
        return head
    rows = "".join(f"<tr><td><code>{e(s.key)}</code></td><td class='num'>{e(f'{s.mb:.1f}')}</td>"
                   f"<td class='num'>{e(s.frames)}</td><td>{e(s.model)}</td><td class='num'>{e(s.shot)}</td>"
                   f"<td>{e(s.scenes)}</td><td>{e(s.output)}</td></tr>" for s in cache.segments)
    return (head + "<table class='sb-table' id='cache-table'><tr><th>segment</th><th>MB</th><th>frames</th><th>model</th>"
            "<th>shot</th><th>scenes</th><th>output</th></tr>" + rows + "</table>")


def message(text: str, ok: bool = True) -> str:
    return f"<span class='{'sb-ok' if ok else 'sb-bad'}'>{e(text)}</span>"
