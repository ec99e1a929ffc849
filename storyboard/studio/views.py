"""The page's words and tables, as HTML: checks, the plan's summary, progress, jobs and caches.

Everything that came from a script, a file or a child process is escaped.
"""

from __future__ import annotations

import time
from html import escape
from typing import TYPE_CHECKING

from storyboard.render.progress import clock

if TYPE_CHECKING:
    from storyboard.plan.data import Plan
    from storyboard.studio.caches import CacheContents
    from storyboard.studio.checks import Checked
    from storyboard.studio.children import Status
    from storyboard.studio.jobs import Job

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
        return (f"<span class='sb-ok' id='check-ok'>\u2714 {escape(checked.name)} is valid</span>: {len(plan.scenes)} "
                f"scenes, {len(plan.shots)} shots, {plan.total_frames} frames{saved}")
    count = len(checked.problems)
    return (f"<span class='sb-bad' id='check-bad'>\u2718 {escape(checked.name)}: {count} "
            f"error{'s' if count != 1 else ''}</span>{saved}")


def problems_table(checked: "Checked") -> str:
    """The errors with line, column, field and message (and the line of the script, marked), then
    the warnings; as ``storyboard validate`` reports them."""
    rows = []
    for p in checked.problems:
        excerpt = p.text.split("\n", 1)[1] if "\n" in p.text else ""
        rows.append(f"<tr class='problem' data-line='{p.line or ''}' data-column='{p.column or ''}'>"
                    f"<td class='num'>{p.line or ''}</td><td class='num'>{p.column or ''}</td>"
                    f"<td>{escape(p.field)}</td><td>{escape(p.message)}"
                    + (f"<pre>{escape(excerpt)}</pre>" if excerpt else "") + "</td></tr>")
    html = ""
    if rows:
        html = ("<table class='sb-table' id='problems'><tr><th>line</th><th>column</th><th>field</th><th>message</th>"
                "</tr>" + "".join(rows) + "</table>")
    if checked.warnings:
        html += "<ul class='sb-warnings'>" + "".join(f"<li>warning: {escape(w)}</li>" for w in checked.warnings) + "</ul>"
    return html or "<span class='sb-note'>no errors, no warnings</span>"


def plan_summary(plan: "Plan") -> str:
    """Title, length, frames, size, tempo and model."""
    tempo = plan.tempo
    if tempo is None:
        beat = "no tempo (no music with sync or beats, no bpm:)"
    else:
        source = {"music": "from the music", "bpm": "from bpm:"}.get(str(tempo.get("source")), str(tempo.get("source")))
        beat = f"tempo <b id='plan-tempo' data-bpm='{tempo['bpm']}'>{tempo['bpm']:.2f} BPM</b> ({escape(source)})"
    voice = ""
    if plan.narration:
        voice = f" \u00b7 narration {sum(n.duration_s for n in plan.narration):.1f} s"
    return (f"<b>{escape(plan.title or 'untitled')}</b>: <b id='plan-duration' data-seconds='{plan.duration_s!r}' "
            f"data-frames='{plan.total_frames}'>{plan.duration_s:.3f} s</b>, {plan.total_frames} frames at {plan.fps} fps, "
            f"{plan.width}\u00d7{plan.height} \u00b7 {beat} \u00b7 {len(plan.scenes)} scenes, {len(plan.shots)} shots"
            f"{voice} \u00b7 model {escape(str(plan.model['id']))}")


def plan_summary_stale(summary: str) -> str:
    """The last valid text's summary, marked as such (the text now has errors)."""
    if not summary:
        return "<span class='sb-note'>no plan: the text has errors</span>"
    return ("<div class='sb-note' id='plan-stale'>\u26a0 the text has errors: this is the plan of its last valid "
            "version</div>" + summary)


def progress(status: "Status", what: str = "preview") -> str:
    """A render's progress: phase, a bar, frames and ETA."""
    if status.phase == "done":
        return f"<span class='sb-ok' id='{what}-done'>\u2714 {what} ready</span>"
    if status.phase == "failed":
        return f"<span class='sb-bad'>\u2718 {what} failed</span><pre>{escape(status.last_words())}</pre>"
    doing = {"starting": "starting", "render": "rendering", "assemble": "assembling"}.get(status.phase, status.phase)
    segment = f", segment {status.segment}/{status.segments}" if status.phase == "render" and status.segments else ""
    eta = f", ETA {clock(status.eta_s)}" if status.eta_s is not None else ""
    frames = f" {status.done}/{status.total} frames" if status.total else ""
    return (f"{doing} {bar(status.fraction)} {status.fraction:.0%}{frames}{segment}{eta}")


def bar(fraction: float) -> str:
    return f"<span class='sb-bar'><span style='width:{max(0.0, min(1.0, fraction)) * 100:.1f}%'></span></span>"


def jobs_table(jobs: list["Job"]) -> str:
    """The render queue, newest first."""
    if not jobs:
        return "<span class='sb-note'>no renders yet: choose a model and press Render</span>"
    rows = []
    for job in jobs:
        eta = f"ETA {clock(job.eta_s)}" if job.eta_s is not None and job.state == "running" else ""
        doing = f"{job.phase} " if job.state == "running" else ""
        when = time.strftime("%H:%M:%S", time.localtime(job.created))
        rows.append(f"<tr class='job' data-id='{job.id}' data-state='{job.state}'><td>{job.id}</td><td>{when}</td>"
                    f"<td>{escape(job.script)}</td><td>{escape(job.model)}</td><td>{job.state}</td>"
                    f"<td>{doing}{bar(job.fraction)} {job.fraction:.0%} {eta}</td>"
                    f"<td><pre>{escape(job.message)}</pre></td></tr>")
    return ("<table class='sb-table' id='jobs-table'><tr><th>job</th><th>queued</th><th>script</th><th>model</th>"
            "<th>state</th><th>progress</th><th>says</th></tr>" + "".join(rows) + "</table>")


def cache_table(cache: "CacheContents") -> str:
    """A cache's segments and pieces."""
    head = (f"<p><b>{escape(cache.folder)}</b>: {len(cache.segments)} segments, {cache.segments_mb:.1f} MB; "
            f"{cache.pieces} assembled pieces, {cache.pieces_mb:.1f} MB</p>")
    if not cache.segments:
        return head
    rows = "".join(f"<tr><td><code>{s.key}</code></td><td class='num'>{s.mb:.1f}</td><td class='num'>{s.frames}</td>"
                   f"<td>{escape(s.model)}</td><td class='num'>{s.shot}</td><td>{escape(s.scenes)}</td>"
                   f"<td>{escape(s.output)}</td></tr>" for s in cache.segments)
    return (head + "<table class='sb-table' id='cache-table'><tr><th>segment</th><th>MB</th><th>frames</th><th>model</th>"
            "<th>shot</th><th>scenes</th><th>output</th></tr>" + rows + "</table>")


def message(text: str, ok: bool = True) -> str:
    return f"<span class='{'sb-ok' if ok else 'sb-bad'}'>{escape(text)}</span>"
