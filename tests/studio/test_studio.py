"""The studio: paths kept inside its folder, validate's errors, the render queue, and the page in a real browser.

The browser tests drive Debian's chromium (``/usr/bin/chromium``) with Playwright. Without it they
are skipped, unless ``STORYBOARD_REQUIRE_BROWSER=1`` (CI sets it), when they fail.
``STORYBOARD_UPDATE_SCREENSHOT=1`` makes the browser test write the README's screenshot,
``docs/studio.png``.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers import ROOT, probe, run_cli, write

from storyboard.errors import UsageError
from storyboard.studio.checks import check_text, model_problem
from storyboard.studio.folder import Folder, Refused

WAIT_S = 300.0  # the longest any test waits for something to happen (a busy machine is slow, never stuck)
CHROMIUM = Path("/usr/bin/chromium")

TINY = """\
version: 1
title: Tiny
output: {path: out/tiny.mp4, width: 128, height: 72, fps: 12, preset: ultrafast, captions: none}
model: preview
scenes:
  - {id: a, duration: 1s, prompts: a red square}
  - {id: b, duration: 1s, prompts: a blue circle}
"""


def three_shots(seconds: int) -> str:
    """A script of three cuts (three segments), each ``seconds`` long, quick to preview."""
    scenes = "".join(f"  - {{id: s{i}, duration: {seconds}s, prompts: shape number {i}}}\n" for i in range(3))
    return ("version: 1\ntitle: Three\noutput: {path: out/three.mp4, width: 128, height: 72, fps: 24, "
            "preset: ultrafast, captions: none}\nmodel: preview\nscenes:\n" + scenes)


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    root = tmp_path / "studio"
    root.mkdir()
    return Folder.at(root)


# --- paths stay inside the folder -------------------------------------------------------------


def test_paths_that_leave_the_folder_are_refused(folder, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("version: 1\n")
    (folder.root / "sub").mkdir()
    (folder.root / "sub" / "ok.yaml").write_text(TINY)
    os.symlink(outside, folder.root / "link-out")
    os.symlink(folder.root / "sub", folder.root / "link-in")

    assert folder.script("sub/ok.yaml") == folder.root / "sub" / "ok.yaml"
    assert folder.script("link-in/ok.yaml") == folder.root / "sub" / "ok.yaml"  # a link that stays inside is fine
    for bad in ("../outside/secret.yaml", str(outside / "secret.yaml"), "link-out/secret.yaml", "sub/../../x.yaml",
                "/etc/passwd"):
        with pytest.raises(Refused, match="leaves the studio's folder"):
            folder.script(bad)
    with pytest.raises(Refused):
        folder.read_script("link-out/secret.yaml")
    with pytest.raises(Refused, match="a .yaml, .yml or .json"):
        folder.script("sub/notes.txt")
    with pytest.raises(Refused, match="manages"):
        folder.script(".storyboard-studio/jobs.json")
    assert folder.scripts() == ["sub/ok.yaml"]  # hidden folders, links and non-scripts are not listed


@pytest.mark.parametrize("link", [".storyboard-studio", ".storyboard-studio/plots", ".storyboard-studio/served",
                                  ".storyboard-studio/previews", ".storyboard-studio/studio.lock"])
def test_the_studio_refuses_to_start_when_its_own_folders_are_links(folder, tmp_path, link):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret")
    (folder.root / link).parent.mkdir(parents=True, exist_ok=True)
    os.symlink(home / ".ssh" / "id_rsa" if link.endswith(".lock") else home, folder.root / link)
    with pytest.raises(Refused, match="is a symbolic link or leaves"):
        folder.check_own()
    said = run_cli("studio", cwd=folder.root)
    assert said.returncode == 2 and "is a symbolic link or leaves" in said.stderr, said.stderr
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == [".ssh", ".ssh/id_rsa"]
    assert (home / ".ssh" / "id_rsa").read_text() == "secret"  # nothing written through the link


def test_the_studios_own_folders_are_made_real_and_inside(folder):
    folder.check_own()
    for own in folder.own_folders():
        assert own.is_dir() and not own.is_symlink() and own.resolve().is_relative_to(folder.root)
    (folder.state / "jobs.json").mkdir()
    with pytest.raises(Refused, match="is a folder"):
        folder.check_own()


def test_a_script_whose_music_or_output_leaves_the_folder_is_refused_at_the_field(folder, tmp_path):
    from storyboard.music.synth import synth_track, write_wav

    outside = tmp_path / "elsewhere"
    write_wav(synth_track(120.0, 4.0), outside / "song.wav")
    (folder.root / "media").mkdir()
    os.symlink(outside / "song.wav", folder.root / "media" / "linked.wav")
    os.symlink(outside, folder.root / "out")
    for music in ("../elsewhere/song.wav", str(outside / "song.wav"), "media/linked.wav"):
        text = TINY.replace("model: preview\n", f"model: preview\nmusic: {{path: '{music}'}}\n")
        checked = check_text(text, folder.root / "s.yaml", folder)
        assert not checked.ok
        (problem,) = [p for p in checked.problems if p.field == "music.path"]
        assert "leaves the studio's folder" in problem.message and problem.line == 5, problem
    checked = check_text(TINY, folder.root / "s.yaml", folder)  # out/ is a link to a folder outside
    assert [(p.field, p.line) for p in checked.problems] == [("output.path", 3)]
    assert "leaves the studio's folder" in checked.problems[0].message


def test_voice_files_and_model_folders_outside_the_folder_are_refused(folder, tmp_path):
    text = TINY.replace("model: preview\n", "model: preview\nvoice: {voice: ../voices/me.onnx}\n")
    checked = check_text(text, folder.root / "s.yaml", folder)
    assert [(p.field, p.line) for p in checked.problems] == [("voice.voice", 5)]
    text = TINY.replace("model: preview\n", f"model: {tmp_path}\n")
    checked = check_text(text, folder.root / "s.yaml", folder)
    assert [p.field for p in checked.problems] == ["model.id"]
    assert model_problem("damo-vilab/text-to-video-ms-1.7b", folder) is None  # a hub id, from the HF cache
    assert model_problem("tiny-random", folder) is None
    assert model_problem("~/models/wan", folder) and model_problem("../models/wan", folder)
    (folder.root / "models" / "wan").mkdir(parents=True)
    assert model_problem("models/wan", folder) is None


# --- checks say what validate says --------------------------------------------------------------


@pytest.mark.parametrize("mistake", [("duration: 1s", "duration: 1 parsec"), ("fps: 12", "fps: twelve"),
                                     ("{id: b,", "{id: b, colour: red,"), ("version: 1\n", "version: 1\nversion: 2\n")])
def test_a_mistake_gives_validates_message_line_and_column(folder, mistake):
    text = TINY.replace(*mistake, 1)
    script = write(folder.root / "bad.yaml", text)
    said = run_cli("validate", "bad.yaml", cwd=folder.root)
    assert said.returncode == 2
    checked = check_text(text, script, folder)
    assert not checked.ok and checked.problems
    assert checked.report() == said.stderr.rstrip("\n")  # the same words, lines and columns, error for error
    first = checked.problems[0]
    assert said.stderr.startswith(f"bad.yaml:{first.line}:{first.column}: error:")


def test_a_valid_script_plans_as_the_command_line_does(folder):
    script = write(folder.root / "tiny.yaml", TINY)
    checked = check_text(TINY, script, folder)
    assert checked.ok and checked.plan is not None
    planned = json.loads(run_cli("plan", "tiny.yaml", "--json", cwd=folder.root).stdout)
    assert checked.plan.total_frames == planned["total_frames"] and checked.plan.duration_s == planned["duration_s"]
    said = run_cli("validate", "tiny.yaml", cwd=folder.root)
    assert checked.report() == said.stdout.rstrip("\n")
    assert not any(folder.root.rglob("*.mp4"))  # checking writes nothing


# --- the render queue --------------------------------------------------------------------------


def _queue(folder):
    from storyboard.studio.jobs import RenderQueue

    return RenderQueue(folder)


def _state(queue_, job_id):
    return next(j for j in queue_.snapshot()[1] if j.id == job_id)


def test_renders_run_one_at_a_time_in_the_order_queued(folder):
    for name in ("a", "b", "c"):
        write(folder.root / f"{name}.yaml", TINY.replace("out/tiny.mp4", f"out/{name}.mp4"))
    renders = _queue(folder)
    seen_running: list[int] = []
    try:
        ids = [renders.submit(f"{name}.yaml", "preview").id for name in ("a", "b", "c")]

        said_while_rendering: set[str] = set()

        def all_done(jobs):
            seen_running.append(sum(j.state == "running" for j in jobs))
            said_while_rendering.update(j.message for j in jobs if j.state == "running" and j.phase == "render")
            return all(j.state in ("done", "failed") for j in jobs)

        jobs = renders.wait(all_done, WAIT_S)
    finally:
        renders.close()
    assert [j.state for j in jobs] == ["done"] * 3, [j.message for j in jobs]
    assert max(seen_running) == 1
    assert said_while_rendering and all(m.startswith("rendering") for m in said_while_rendering), said_while_rendering
    spans = sorted((j.started, j.finished) for j in jobs)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:])), spans  # never two at once
    assert [j.id for j in sorted(jobs, key=lambda j: j.started)] == ids
    for name in ("a", "b", "c"):
        assert probe(folder.root / "out" / f"{name}.mp4").frames == 24


def _segments(folder: Folder, out: str = "out") -> list[Path]:
    return sorted((folder.root / out / ".storyboard-cache").glob("*.mkv"))


def test_cancel_stops_with_130_keeps_finished_segments_and_resume_reuses_them(folder):
    write(folder.root / "three.yaml", three_shots(60))
    renders = _queue(folder)
    try:
        job = renders.submit("three.yaml", "preview")
        renders.wait(lambda jobs: jobs[0].segment >= 2 or jobs[0].state != "queued" and jobs[0].state != "running",
                     WAIT_S)
        assert "stopping" in renders.cancel(job.id)
        (stopped,) = renders.wait(lambda jobs: jobs[0].state not in ("queued", "running"), WAIT_S)
        assert (stopped.state, stopped.code) == ("cancelled", 130), stopped
        kept = _segments(folder)
        assert 1 <= len(kept) < 3, kept
        assert not (folder.root / "out" / "three.mp4").exists()
        assert "queued to resume" in renders.resume(job.id)
        (resumed,) = renders.wait(lambda jobs: jobs[0].state not in ("queued", "running"), WAIT_S)
    finally:
        renders.close()
    assert (resumed.state, resumed.code) == ("done", 0), resumed
    assert re.search(rf"\((\d) segments rendered, {len(kept)} reused\)", resumed.message), resumed.message
    assert probe(folder.root / "out" / "three.mp4").frames == 3 * 60 * 24


def test_jobs_survive_a_restart_and_resume_through_the_cache(folder):
    write(folder.root / "three.yaml", three_shots(60))
    renders = _queue(folder)
    try:
        job = renders.submit("three.yaml", "preview")
        renders.wait(lambda jobs: jobs[0].segment >= 2 or jobs[0].state not in ("queued", "running"), WAIT_S)
    finally:
        renders.close()  # the studio stops: the render is interrupted (Ctrl-C), its finished segments kept
    kept = _segments(folder)
    assert 1 <= len(kept) < 3
    saved = json.loads((folder.state / "jobs.json").read_text())["jobs"]
    assert [(j["id"], j["state"]) for j in saved] == [(job.id, "interrupted")]

    again = _queue(folder)  # a new studio in the same folder
    try:
        assert _state(again, job.id).state == "interrupted"
        again.resume(job.id)
        (resumed,) = again.wait(lambda jobs: jobs[0].state not in ("queued", "running"), WAIT_S)
    finally:
        again.close()
    assert resumed.state == "done", resumed
    assert f"{len(kept)} reused)" in resumed.message


def test_a_studio_that_was_killed_leaves_its_render_interrupted_and_stopped(folder):
    from storyboard.studio.children import Child, Status
    from storyboard.studio.jobs import JobFile, RenderJob

    import hashlib

    script = write(folder.root / "three.yaml", three_shots(60))
    sha256 = hashlib.sha256(script.read_bytes()).hexdigest()
    orphan = Child(["render", "three.yaml", "--expect-sha256", sha256, "--confine", str(folder.root)],
                   folder.root)  # the render a killed studio left running
    try:
        status = Status()
        for line in orphan.lines():
            status.feed(line)
            if status.segment >= 2:
                break
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
        JobFile(folder.state / "jobs.json").save([
            RenderJob("r1", "three.yaml", "preview", state="running", pid=orphan.pid, pid_start=orphan.started),
            RenderJob("r2", "three.yaml", "preview", state="running", pid=int(dead.stdout), pid_start=1),
            RenderJob("r3", "three.yaml", "preview", state="queued"), RenderJob("r4", "three.yaml", "preview", state="done")])
        renders = _queue(folder)
        try:
            assert orphan.wait(WAIT_S) == 130  # stopped as Ctrl-C stops it, before anything new could start
            assert [(j.id, j.state) for j in reversed(renders.snapshot()[1])] == [
                ("r1", "interrupted"), ("r2", "interrupted"), ("r3", "interrupted"), ("r4", "done")]
        finally:
            renders.close()
    finally:
        orphan.stop(5.0)  # should the test fail before the queue stopped it: never outlive pytest


def test_a_jobs_file_naming_another_process_never_has_it_signalled(folder):
    """A shared jobs.json may name any running process, with its true start time: only a render the studio
    started (its command line) is ever stopped."""
    from storyboard.studio.children import process_start
    from storyboard.studio.jobs import JobFile, RenderJob

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        JobFile(folder.state / "jobs.json").save([RenderJob("r1", "x.yaml", "preview", state="running", pid=other.pid,
                                                      pid_start=process_start(other.pid))])
        renders = _queue(folder)
        renders.close()
        time.sleep(0.3)
        assert other.poll() is None, "the process a jobs.json named was signalled"
        assert [(j.id, j.state) for j in renders.snapshot()[1]] == [("r1", "interrupted")]
    finally:
        other.kill()
        other.wait()


def _finished(jobs) -> bool:
    return all(j.state not in ("queued", "running") for j in jobs)


def test_a_job_checks_its_script_again_just_before_it_starts(folder, tmp_path):
    from storyboard.music.synth import synth_track, write_wav
    from storyboard.studio.jobs import RenderQueue

    write_wav(synth_track(120.0, 4.0), tmp_path / "elsewhere" / "x.wav")
    write(folder.root / "tiny.yaml", TINY)
    renders = RenderQueue(folder, run=False)  # the job waits in the queue ...
    try:
        job = renders.submit("tiny.yaml", "preview")
        changed = TINY.replace("model: preview\n", f"model: preview\nmusic: {{path: '{tmp_path}/elsewhere/x.wav'}}\n")
        write(folder.root / "tiny.yaml", changed)  # ... while another tab saves other text
        renders.worker.start()
        (failed,) = renders.wait(_finished, WAIT_S)
        assert (failed.state, failed.code, failed.pid) == ("failed", None, None), failed
        assert failed.message.startswith("not started") and "leaves the studio's folder" in failed.message
        assert "tiny.yaml:5:" in failed.message  # the check's own words, at the field
        assert "queued to resume" in renders.resume(job.id)  # resuming checks again: still refused
        (again,) = renders.wait(_finished, WAIT_S)
        assert again.state == "failed" and "leaves the studio's folder" in again.message
    finally:
        renders.close()
    assert not (folder.root / "out").exists()  # nothing was rendered


def test_a_cancel_while_a_job_is_about_to_start_is_not_lost(folder, monkeypatch):
    from storyboard.studio import checks

    checking, release = threading.Event(), threading.Event()

    def slow_check(*args, **kwargs):  # the job is running (being checked) and has no child yet
        checking.set()
        release.wait(WAIT_S)
        return [], "0" * 64

    monkeypatch.setattr(checks, "check_for_render", slow_check)
    write(folder.root / "tiny.yaml", TINY)
    renders = _queue(folder)
    try:
        job = renders.submit("tiny.yaml", "preview")
        assert checking.wait(WAIT_S)
        assert _state(renders, job.id).state == "running"
        assert renders.cancel(job.id) == f"stopping {job.id}"
        release.set()
        (cancelled,) = renders.wait(_finished, WAIT_S)
    finally:
        release.set()
        renders.close()
    assert (cancelled.state, cancelled.code) == ("cancelled", None), cancelled
    assert not (folder.root / "out").exists()  # its render never started


def test_the_models_renders_used_are_kept_after_their_jobs_are_cleared(folder):
    from storyboard.studio.actions import Studio
    from storyboard.studio.caches import plans_to_keep
    from storyboard.studio.jobs import RenderQueue

    text = TINY.replace("height: 72", "height: 64")  # tiny-random wants multiples of 16
    write(folder.root / "a.yaml", text)
    studio = Studio(folder, "a.yaml", queue=RenderQueue(folder, run=False))
    try:
        said = studio.render("a.yaml", text, text, "tiny-random")
        job_id = said.split()[1].rstrip(":")
        studio.queue.cancel(job_id)
        assert studio.queue.clear_finished() == 1 and not studio.queue.snapshot()[1]
        assert studio.models() == {"a.yaml": {"tiny-random"}}
    finally:
        studio.close()
    again = Studio(folder, queue=RenderQueue(folder, run=False))  # after a restart too
    try:
        assert again.models() == {"a.yaml": {"tiny-random"}}
        plans = plans_to_keep(folder, ["a.yaml"], again.models())
        assert sorted(str(p.model.id) for p in plans) == ["preview", "preview", "tiny-random"]
    finally:
        again.close()
    assert json.loads((folder.state / "rendered.json").read_text())["models"] == {"a.yaml": ["tiny-random"]}


def test_pruning_is_refused_while_a_render_or_a_preview_runs(folder):
    from storyboard.studio.actions import Studio

    write(folder.root / "three.yaml", three_shots(60))
    studio = Studio(folder, "three.yaml")
    preview = None
    try:
        job_id = studio.render("three.yaml", three_shots(60), three_shots(60), "").split()[1].rstrip(":")
        studio.queue.wait(lambda jobs: jobs[0].segment >= 2 or _finished(jobs), WAIT_S)
        assert _state(studio.queue, job_id).state == "running"
        with pytest.raises(UsageError, match=rf"not pruned: render {job_id} \(three.yaml\) is running"):
            studio.prune("out/.storyboard-cache", ["three.yaml"])
        studio.queue.cancel(job_id)
        studio.queue.wait(_finished, WAIT_S)
        before = _segments(folder)
        preview = studio.preview("three.yaml", three_shots(60))
        assert next(preview).phase in ("starting", "render")  # its child runs
        with pytest.raises(UsageError, match="not pruned: a preview is running"):
            studio.prune("out/.storyboard-cache", [])
        assert _segments(folder) == before and before  # nothing was deleted
        preview.close()  # Stop preview
        assert not studio.previews.busy()
        assert studio.prune("out/.storyboard-cache", []).startswith(f"pruned {len(before)} of {len(before)}")
    finally:
        if preview is not None:
            preview.close()
        studio.close()


def test_stopping_the_studio_stops_a_running_preview_and_removes_its_script(folder):
    from storyboard.studio.actions import Studio

    write(folder.root / "three.yaml", three_shots(60))
    studio = Studio(folder, "three.yaml")
    preview = studio.preview("three.yaml", three_shots(60) + "# not saved\n")  # an unsaved text: a temporary script
    try:
        assert next(preview).phase in ("starting", "render")
        ((child, temporary),) = studio.previews.children.items()
        assert temporary is not None and temporary.is_file() and temporary.parent == folder.root
        studio.close(grace_s=WAIT_S)  # Ctrl-C on the studio, with the preview's generator left as it was
        assert child.process.poll() in (130, -signal.SIGINT), child.process.poll()
        assert not temporary.exists()
        with pytest.raises(UsageError, match="the studio is stopping"):
            next(studio.preview("three.yaml", three_shots(60)))
    finally:
        preview.close()
        studio.close(grace_s=5.0)
    assert not [p for p in folder.root.glob(".*") if p.name != ".storyboard-studio"]


def test_a_new_script_never_saved_can_be_left_unless_it_was_edited(folder):
    from storyboard.studio import app
    from storyboard.studio.actions import NEW_SCRIPT, Studio
    from storyboard.studio.jobs import RenderQueue

    write(folder.root / "tiny.yaml", TINY)
    studio = Studio(folder, queue=RenderQueue(folder, run=False))
    try:
        opened = studio.open("new.yaml")
        assert (opened.text, opened.saved) == (NEW_SCRIPT, None)
        assert not studio.unsaved(NEW_SCRIPT, None) and studio.unsaved(NEW_SCRIPT + "# mine\n", None)
        state = {"path": "new.yaml", "saved": None, "summary": ""}
        _, text, new_state, _ = app._open(studio, "tiny.yaml", state, text=NEW_SCRIPT)
        assert (text, new_state["path"]) == (TINY, "tiny.yaml")
        _, text, kept, notice = app._open(studio, "tiny.yaml", state, text=NEW_SCRIPT + "# mine\n")
        assert kept is state and "unsaved changes" in notice
    finally:
        studio.close()


def test_the_studio_refuses_renders_of_unsaved_or_broken_scripts(folder):
    from storyboard.studio.actions import Studio

    write(folder.root / "tiny.yaml", TINY)
    studio = Studio(folder, "tiny.yaml")
    try:
        opened = studio.open(None)
        assert (opened.path, opened.text, opened.saved) == ("tiny.yaml", TINY, TINY)
        with pytest.raises(UsageError, match="save tiny.yaml first"):
            studio.render("tiny.yaml", TINY + "# edited\n", TINY, "preview")
        broken = TINY.replace("1s", "1 parsec")
        saved, _ = studio.save("tiny.yaml", broken, TINY)
        with pytest.raises(UsageError, match="has errors"):
            studio.render("tiny.yaml", broken, saved, "")
        with pytest.raises(UsageError, match="outside the studio's folder"):
            studio.render("tiny.yaml", broken, saved, "/opt/models/wan")
        (folder.root / "tiny.yaml").write_text(TINY)  # changed on disk behind the studio's back
        with pytest.raises(UsageError, match="changed on disk"):
            studio.save("tiny.yaml", "version: 1\n", saved)
        assert (folder.root / "tiny.yaml").read_text() == TINY
    finally:
        studio.close()


def test_a_preview_of_unsaved_text_renders_it_without_touching_the_script(folder):
    from storyboard.studio.actions import Studio

    write(folder.root / "tiny.yaml", TINY)
    edited = TINY.replace("duration: 1s, prompts: a blue", "duration: 2s, prompts: a blue")
    studio = Studio(folder, "tiny.yaml")
    try:
        statuses = list(studio.preview("tiny.yaml", edited))
    finally:
        studio.close()
    last = statuses[-1]
    assert last.phase == "done", last.lines
    video = Path(last.output)
    assert video.parent == folder.previews
    assert probe(video).frames == 36  # 3 s at 12 fps: the editor's text, not the file's
    assert (folder.root / "tiny.yaml").read_text() == TINY
    assert not [p for p in folder.root.glob(".*") if p.name != ".storyboard-studio"]  # its temporary script is gone
    assert not (folder.root / "out").exists()


def test_progress_events_give_phase_segment_and_an_eta_that_ignores_reused_frames():
    from storyboard.progress import (
        Advanced,
        Finished,
        Said,
        SegmentsPlanned,
        SegmentStarted,
        Started,
        Wrote,
        to_json,
    )
    from storyboard.studio.children import Status

    status = Status()
    wrote = Wrote("/x/out/a.mp4", ("/x/out/a.srt",), 12.0, 300, 128, 72, 24, 11.0, 2, 1)
    for now, event in [(0.0, SegmentsPlanned(3, 2, "/x/.storyboard-cache")), (0.0, Started("render", 300, "frame", 24)),
                       (0.0, Advanced("render", 100, skipped=100)), (0.5, SegmentStarted(1, 2, 1, ("b",), 100, 24))]:
        status.feed(to_json(event) + "\n", now=now)
    assert (status.phase, status.segment, status.segments, status.reused, status.eta_s) == ("render", 1, 2, 1, None)
    assert (status.done, status.total) == (100, 300)
    status.feed(to_json(Advanced("render", 150, skipped=100)), now=10.0)
    assert status.eta_s == pytest.approx(30.0)  # 50 frames in 10 s, 150 to go (the 100 reused took no time)
    assert status.fraction == pytest.approx(0.45)
    assert status.describe() == "rendering: segment 1 of 2 (1 reused from the cache)"  # not "starting" at 45%
    status.feed("assemble [########################] 100% 300/300 frames  0:12/0:12 video", now=10.5)
    assert status.phase == "render" and status.done == 150, "printed text is kept to show, never parsed"
    for event in [Finished("render"), Started("assemble", 300, "frame", 24), Advanced("assemble", 300),
                  Finished("assemble"), Said("assembled from 3 pieces: 1 encoded, 2 copied"), wrote]:
        status.feed(to_json(event), now=11.0)
    assert (status.phase, status.output, status.fraction) == ("assemble", "/x/out/a.mp4", pytest.approx(1.0))
    assert status.summary == ("wrote /x/out/a.mp4 and /x/out/a.srt: 12.000 s, 300 frames, 128x72 at 24 fps, in 11.0 s "
                              "(2 segments rendered, 1 reused)")
    assert status.last_words().splitlines()[-2:] == ["assembled from 3 pieces: 1 encoded, 2 copied", status.summary]


def test_pruning_keeps_the_ticked_scripts_segments_and_stops_at_one_with_errors(folder):
    from storyboard.studio.caches import (
        contents,
        find_caches,
        plans_to_keep,
        prune_cache,
    )

    write(folder.root / "a.yaml", TINY.replace("out/tiny.mp4", "out/a.mp4"))
    write(folder.root / "b.yaml", TINY.replace("out/tiny.mp4", "out/b.mp4").replace("square", "star"))
    for name in ("a.yaml", "b.yaml"):
        assert run_cli("render", name, "-q", cwd=folder.root).returncode == 0
    assert find_caches(folder) == ["out/.storyboard-cache"]
    before = contents(folder, "out/.storyboard-cache")
    assert len(before.segments) == 3  # b's second shot is a's (same prompt, same seed)
    said = prune_cache(folder, "out/.storyboard-cache", plans_to_keep(folder, ["a.yaml"], {}))
    assert said.startswith("pruned 1 of 3 segments")
    assert {s.output for s in contents(folder, "out/.storyboard-cache").segments} <= {"out/a.mp4", "out/b.mp4"}
    assert run_cli("render", "a.yaml", "-q", cwd=folder.root).stdout.endswith("(0 segments rendered, 2 reused)\n")
    write(folder.root / "b.yaml", "version: 1\nscenes: oops\n")
    with pytest.raises(UsageError, match="b.yaml has errors"):
        plans_to_keep(folder, ["a.yaml", "b.yaml"], {})
    with pytest.raises(UsageError, match="not a storyboard cache"):
        contents(folder, "out")


# --- the command ---------------------------------------------------------------------------------


def test_studio_explains_itself():
    result = run_cli("studio", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: storyboard studio")
    for word in ("--port", "--host", "127.0.0.1", "storyboard[studio]"):
        assert word in result.stdout


def test_any_host_but_loopback_is_warned_about(tmp_path):
    from storyboard.studio.server import host_warning

    assert host_warning("127.0.0.1", tmp_path) is None and host_warning("localhost", tmp_path) is None
    warning = host_warning("0.0.0.0", tmp_path)
    assert warning and "anyone who can reach" in warning and str(tmp_path) in warning


def test_the_command_warns_before_it_serves_beyond_this_machine(monkeypatch, capsys):
    from storyboard import cli
    from storyboard.studio import server

    served = []
    monkeypatch.setattr(server, "serve", lambda *args: served.append(args))  # nothing is exposed
    assert cli.main(["studio", "--host", "0.0.0.0"]) == 0
    assert served == [(None, "0.0.0.0", None)]
    assert "anyone who can reach this address" in capsys.readouterr().err
    assert cli.main(["studio"]) == 0 and "anyone" not in capsys.readouterr().err


def test_without_gradio_the_studio_says_what_to_install(monkeypatch, capsys):
    from storyboard import cli
    from storyboard.studio import server

    monkeypatch.setattr(server, "gradio_missing", lambda: True)
    assert cli.main(["studio"]) == 2
    assert "install storyboard[studio]" in capsys.readouterr().err


class Server:
    """``storyboard studio ARGS`` in a folder, as a child process; its URL once it serves. Started without
    ``--port``: the studio takes the first port it can bind from 7860 and prints it (a port chosen here
    could be taken by another program before the studio binds it)."""

    def __init__(self, folder: Path, *args: str, env: dict[str, str] | None = None):
        self.process = subprocess.Popen([sys.executable, "-m", "storyboard", "studio", *args], cwd=folder,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
        self.lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stderr: list[str] = []
        threading.Thread(target=self._read, args=(self.process.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._collect, daemon=True).start()

    @staticmethod
    def _read(stream, into) -> None:
        for line in stream:
            into.put(line)

    def _collect(self) -> None:
        for line in self.process.stderr:
            self.stderr.append(line)

    def url(self) -> str:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            if match := re.search(r"(http://\S+/)", line):
                return match.group(1)
        raise AssertionError(f"the studio did not start: {''.join(self.stderr)}")

    def stop(self) -> int:
        """Ctrl-C; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(WAIT_S)
        finally:
            if self.process.poll() is None:
                self.process.kill()


def test_a_second_studio_in_a_folder_is_refused_and_ctrl_c_stops_with_130(tmp_path):
    write(tmp_path / "tiny.yaml", TINY)
    first = Server(tmp_path, "tiny.yaml")
    try:
        first.url()
        second = run_cli("studio", cwd=tmp_path)
        assert second.returncode == 2 and "another studio already runs" in second.stderr
        outside = run_cli("studio", "../elsewhere.yaml", cwd=tmp_path)
        assert outside.returncode == 2 and "leaves the studio's folder" in outside.stderr
    finally:
        assert first.stop() == 130
    assert "studio: stopped" in "".join(first.stderr)


# --- the page, in a real browser -----------------------------------------------------------------


def browser_or_skip():
    """Playwright's chromium, launched from Debian's package; skipped (or, in CI, failed) without it."""
    required = os.environ.get("STORYBOARD_REQUIRE_BROWSER") == "1"
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason is None and not CHROMIUM.exists():
        reason = f"no chromium at {CHROMIUM} (apt-get install chromium)"
    if reason is not None:
        if required:
            pytest.fail(f"STORYBOARD_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def night_city(tmp_path_factory) -> Path:
    """A folder holding a copy of examples/night-city.yaml and its music, made by the synthesiser."""
    from storyboard.music.synth import synth_track, write_wav

    folder = tmp_path_factory.mktemp("night-city")
    (folder / "night-city.yaml").write_text((ROOT / "examples" / "night-city.yaml").read_text())
    write_wav(synth_track(120.0, 48.0), folder / "media" / "pulse-120.wav")
    return folder


def not_blank(path: Path, colours_at_least: int = 1000) -> None:
    """A screenshot shows a page: many colours, and contrast (a blank or single-colour page has neither)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB"))
    colours = len(np.unique(pixels.reshape(-1, 3), axis=0))
    assert colours >= colours_at_least and pixels.std() > 25, f"{path} looks blank: {colours} colours, std {pixels.std():.1f}"


def edit_line(page, has_text: str, backspaces: int, typed: str) -> None:
    """Put the cursor at the end of the editor's line holding ``has_text``, delete, type: as a person would."""
    line = page.locator("#editor .cm-line", has_text=has_text).first
    line.click()
    page.keyboard.press("End")
    for _ in range(backspaces):
        page.keyboard.press("Backspace")
    page.keyboard.type(typed)


def cli_plan(folder: Path, name: str, text: str) -> dict:
    write(folder / name, text)
    result = run_cli("plan", name, "--json", cwd=folder)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_the_studio_in_a_browser(night_city, tmp_path):
    """Open the studio on an example, make a mistake and see validate's message with its line, fix it and
    see the plan follow, preview it and play an MP4 as long as the plan."""
    sync_playwright = browser_or_skip()
    original = (night_city / "night-city.yaml").read_text()
    mistaken, fixed = original.replace("  fps: 24\n", "  fps: 24x\n"), original.replace("  fps: 24\n", "  fps: 25\n")
    server = Server(night_city, "night-city.yaml")
    try:
        url = server.url()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            elsewhere: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(url) else elsewhere.append(r.url))
            page.set_default_timeout(WAIT_S * 1000)
            shots = _open_mistake_fix(page, url, night_city, mistaken, fixed, tmp_path)
            video = _preview_plays(page, night_city, fixed, tmp_path)
            shots += [video["shot"], video["page"]]
            browser.close()
        assert not elsewhere, f"the page asked for something beyond the studio: {elsewhere}"
        _serves_only_the_studios_files(url, night_city, video["src"])
    finally:
        code = server.stop()
    assert code == 130, "".join(server.stderr)
    for shot in shots:
        not_blank(shot)
    assert (night_city / "night-city.yaml").read_text() == original  # nothing was saved
    assert not (night_city / ".gradio").exists()  # Gradio's caches are the studio's own, in .storyboard-studio
    if os.environ.get("STORYBOARD_UPDATE_SCREENSHOT") == "1":
        readme_screenshot(video["page"], ROOT / "docs" / "studio.png")


def _open_mistake_fix(page, url: str, folder: Path, mistaken: str, fixed: str, shots: Path) -> list[Path]:
    """Steps 1 to 3: open, mistake, fix. The screenshots taken."""
    page.goto(url)
    page.wait_for_selector("#plan-duration")  # 1. the example is open and planned
    assert "title: Night city" in page.inner_text("#editor .cm-content")
    assert page.locator("#check-ok").count() == 1
    assert "unsaved" not in page.inner_text("#check-status")  # the editor holds the file exactly, last line break too
    assert "120." in page.inner_text("#plan-tempo")
    page.wait_for_selector("#plot img")
    page.screenshot(path=shots / "1-open.png")

    edit_line(page, "fps: 24", 0, "x")  # 2. a mistake: its message, line and column, as validate says them
    row = page.wait_for_selector("#problems tr.problem")
    said = run_cli("validate", write(folder / "mistaken.yaml", mistaken).name, cwd=folder).stderr
    where = re.match(r"mistaken\.yaml:(\d+):(\d+): error: (\S+): (.*)", said)
    assert where, said
    assert (row.get_attribute("data-line"), row.get_attribute("data-column")) == (where[1], where[2])
    assert where[4] in row.inner_text() and where[3] in row.inner_text()
    assert page.locator("#check-bad").count() == 1
    page.screenshot(path=shots / "2-mistake.png")

    edit_line(page, "fps: 24x", 3, "25")  # 3. fixed: the plan follows
    planned = cli_plan(folder, "fixed.yaml", fixed)
    page.wait_for_function("frames => { const d = document.querySelector('#plan-duration');"
                           " return d && d.dataset.frames === String(frames) && !document.querySelector('#plan-stale')"
                           " && document.querySelector('#check-ok'); }", arg=planned["total_frames"])
    shown = float(page.get_attribute("#plan-duration", "data-seconds"))
    assert shown == pytest.approx(planned["duration_s"], abs=1e-9)
    assert page.locator("#problems tr.problem").count() == 0
    return [shots / "1-open.png", shots / "2-mistake.png"]


def _preview_plays(page, folder: Path, fixed: str, shots: Path) -> dict:
    """Step 4: preview; the video element loads an MP4 as long as the plan, and plays."""
    planned = cli_plan(folder, "fixed.yaml", fixed)
    page.click("#preview-button")
    page.wait_for_selector("#preview-done")
    page.wait_for_function("() => { const v = document.querySelector('#preview-video video');"
                           " return v && v.readyState >= 1 && v.duration > 0; }")
    page.evaluate("() => { const v = document.querySelector('#preview-video video');"
                  " if (v.paused) v.play(); }")  # it autoplays after the click; should a browser refuse, play it
    page.wait_for_function("() => document.querySelector('#preview-video video').currentTime > 0")
    video = page.evaluate("() => { const v = document.querySelector('#preview-video video');"
                          " return {duration: v.duration, src: v.currentSrc}; }")
    # The MP4's duration is its longest track's. The video track is exactly total_frames / fps; the AAC
    # track ends within one AAC frame (1024 samples, 23 ms at 44.1 kHz) of it. Both are well under one video
    # frame (40 ms at 25 fps); a frame lost or doubled would be off by 40 ms.
    assert video["duration"] == pytest.approx(planned["duration_s"], abs=0.025), (video, planned["duration_s"])
    page.evaluate("() => new Promise(done => { const v = document.querySelector('#preview-video video'); v.pause();"
                  " v.addEventListener('seeked', done, {once: true}); setTimeout(done, 30000);"
                  " v.currentTime = 0.45 * v.duration; })")  # a frame from the middle, for the screenshot
    page.screenshot(path=shots / "4-preview.png")
    page.screenshot(path=shots / "4-preview-page.png", full_page=True)
    return {**video, "shot": shots / "4-preview.png", "page": shots / "4-preview-page.png"}


def _serves_only_the_studios_files(url: str, folder: Path, video_src: str) -> None:
    """The server serves what the page shows (copies inside the folder) and refuses any other file."""
    import urllib.error
    import urllib.parse
    import urllib.request

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(url.rstrip("/") + path, timeout=WAIT_S) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    served = urllib.parse.unquote(urllib.parse.urlparse(video_src).path.split("file=", 1)[1])
    assert Path(served).resolve().is_relative_to(folder.resolve()), served
    assert status("/gradio_api/file=" + urllib.parse.quote(served)) == 200
    for path in ("/etc/passwd", str(folder / "night-city.yaml"), str(folder / "media" / "pulse-120.wav"),
                 str(folder / ".storyboard-studio" / "previews" / ".." / ".." / "night-city.yaml"),
                 str(folder / ".storyboard-studio" / "jobs.json"), "../../../../etc/passwd"):
        assert status("/gradio_api/file=" + urllib.parse.quote(path)) in (403, 404), path
    assert status("/gradio_api/file=/etc/passwd") == 403


def readme_screenshot(shot: Path, target: Path) -> None:
    """The README's picture of the studio: the test's last screenshot as a PNG under 300 KB."""
    from PIL import Image

    from storyboard.files import atomic

    with Image.open(shot) as image:
        picture = image.convert("RGB")
    target.parent.mkdir(parents=True, exist_ok=True)
    for width in (1440, 1280, 1120, 960):
        scaled = picture.resize((width, round(picture.height * width / picture.width)), Image.LANCZOS)
        small = scaled.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        with atomic(target, ".png") as tmp:
            small.save(tmp, format="PNG", optimize=True)
        if target.stat().st_size < 300_000:
            break
    assert target.stat().st_size < 300_000, f"{target}: {target.stat().st_size} bytes"
    not_blank(target, colours_at_least=64)


def test_a_process_start_names_one_running_process_and_none_once_it_exits():
    from storyboard.studio.children import process_start, still_running

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started = process_start(child.pid)
        assert started is not None and abs(started - time.time()) < WAIT_S
        assert process_start(child.pid) == started and still_running(child.pid, started)
        assert not still_running(child.pid, started + 0.5), "another start time names another process"
    finally:
        child.kill()
    deadline = time.monotonic() + WAIT_S
    while process_start(child.pid) is not None and time.monotonic() < deadline:  # killed, not yet collected
        time.sleep(0.05)
    assert process_start(child.pid) is None and not still_running(child.pid, started), "a zombie counts as gone"
    child.wait()
    assert process_start(child.pid) is None and process_start(-1) is None


def test_the_model_picker_offers_the_preview_each_tiny_model_and_every_published_checkpoint():
    from storyboard.backends.registry import FAMILIES
    from storyboard.studio.app import model_choices

    choices = model_choices()
    assert choices[:3] == [("the script's own model", ""), ("preview", "preview"),
                           ("tiny-random (noise, offline)", "tiny-random")]
    ids = [model for _, model in choices]
    assert len(ids) == len(set(ids)) == 2 + len(FAMILIES) + sum(len(f.checkpoints) for f in FAMILIES.values())
    assert {"tiny-wan", "tiny-ltx", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "Lightricks/LTX-Video"} <= set(ids)
