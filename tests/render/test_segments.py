"""Segments: resume after an interruption, re-render only what changed, dry run, prune."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import read_frames, write

from storyboard.backends.preview import PreviewBackend
from storyboard.cli import main
from storyboard.pipeline import plan_script
from storyboard.render.orchestrate import Interrupted, render_plan
from storyboard.script.load import load_script


class Recording(PreviewBackend):
    """The preview backend, counting the shots it renders; raises after ``fail_after`` of them."""

    def __init__(self, log: list[int], fail_after: int | None = None):
        super().__init__()
        self.log, self.fail_after = log, fail_after

    def render_shot(self, plan, shot):
        if self.fail_after is not None and len(self.log) >= self.fail_after:
            raise KeyboardInterrupt
        self.log.append(shot.index)
        yield from super().render_shot(plan, shot)


@pytest.fixture
def recording(monkeypatch):
    log: list[int] = []
    state = {"fail_after": None}

    def opener(model_id, plan):
        return Recording(log, state["fail_after"])

    monkeypatch.setattr("storyboard.backends.open_backend", opener)
    return log, state


def ten_scenes(tmp_path, prompt3="a lighthouse at dusk", name="s.yaml"):
    scenes = []
    for i in range(10):
        prompt = prompt3 if i == 3 else f"scene {i}, a {['red', 'blue', 'green', 'gold', 'grey'][i % 5]} room"
        transition = "" if i == 0 else [", transition: cut", ", transition: {type: crossfade, duration: 0.25s}",
                                        ", transition: morph"][i % 3]
        scenes.append(f"  - {{id: s{i}, duration: 0.75s, prompts: {prompt!r}{transition}}}\n")
    return write(tmp_path / name, "output: {width: 64, height: 64, fps: 12, preset: ultrafast}\nscenes:\n" + "".join(scenes))


def plan_of(path):
    return plan_script(load_script(path)).plan


@pytest.mark.slow
def test_interrupted_render_resumes_without_redoing_segments_and_matches(tmp_path, recording):
    log, state = recording
    script = ten_scenes(tmp_path)
    plan = plan_of(script)
    shots = len(plan.shots)
    assert shots >= 6
    state["fail_after"] = 3
    out = tmp_path / "out" / "v.mp4"
    with pytest.raises(Interrupted) as stopped:
        render_plan(plan, out, quiet=True)
    assert stopped.value.done == 3 and not out.exists()
    first_pass = list(log)
    assert len(list((out.parent / ".storyboard-cache").glob("*.mkv"))) == 3

    state["fail_after"] = None
    log.clear()
    result = render_plan(plan, out, quiet=True)
    assert sorted(log) == sorted(set(range(shots)) - set(first_pass)), "finished segments are not rendered again"
    assert (result.rendered, result.reused) == (shots - 3, 3)

    clean = tmp_path / "clean" / "v.mp4"
    log.clear()
    render_plan(plan, clean, quiet=True)
    assert len(log) == shots
    resumed, uninterrupted = read_frames(out, 64, 64), read_frames(clean, 64, 64)
    assert resumed.shape == uninterrupted.shape == (plan.total_frames, 64, 64, 3)
    assert np.array_equal(resumed, uninterrupted), "frame for frame"


@pytest.mark.slow
def test_editing_one_scene_rerenders_only_its_segment(tmp_path, recording):
    log, _ = recording
    out = tmp_path / "v.mp4"
    render_plan(plan_of(ten_scenes(tmp_path)), out, quiet=True)
    total = len(log)
    log.clear()
    edited = plan_of(ten_scenes(tmp_path, prompt3="a lighthouse in a storm", name="edited.yaml"))
    result = render_plan(edited, out, quiet=True)
    shot_of_3 = edited.scenes[3].shot
    assert log == [shot_of_3], "only the shot holding scene 3"
    assert result.reused == total - 1
    # scene 3 is joined to scene 4 by a morph? then both live in that one shot
    assert set(edited.shots[shot_of_3].scenes) >= {3}


def test_a_failing_backend_leaves_no_partial_segment(tmp_path, monkeypatch):
    class Broken(PreviewBackend):
        def render_shot(self, plan, shot):
            for n, frame in enumerate(super().render_shot(plan, shot)):
                if n == 3:
                    raise RuntimeError("out of memory")
                yield frame

    monkeypatch.setattr("storyboard.backends.open_backend", lambda model_id, plan: Broken())
    out = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError, match="out of memory"):
        render_plan(plan_of(ten_scenes(tmp_path)), out, quiet=True)
    cache = out.parent / ".storyboard-cache"
    assert not list(cache.glob("*.mkv")) and not list(cache.glob("*.part*"))
    assert not out.exists()


def test_dry_run_lists_what_would_render_and_writes_nothing(tmp_path, capsys):
    script = ten_scenes(tmp_path)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out), "--dry-run"]) == 0
    listing = capsys.readouterr().out
    shots = len(plan_of(script).shots)
    assert listing.count("render ") == shots and f"{shots} of {shots} segments to render" in listing
    assert not out.exists() and not (tmp_path / ".storyboard-cache").exists()
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    capsys.readouterr()
    assert main(["render", str(script), "-o", str(out), "--dry-run"]) == 0
    assert f"0 of {shots} segments to render" in capsys.readouterr().out


@pytest.mark.slow
def test_cache_prune_keeps_only_what_scripts_use(tmp_path, capsys):
    a = ten_scenes(tmp_path)
    b = ten_scenes(tmp_path, prompt3="a different scene three", name="b.yaml")
    out = tmp_path / "v.mp4"
    for script in (a, b):
        assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    cache = tmp_path / ".storyboard-cache"
    before = len(list(cache.glob("*.mkv")))
    assert before == len(plan_of(a).shots) + 1
    capsys.readouterr()
    assert main(["cache", "prune", str(a), "--cache", str(cache)]) == 0
    assert "pruned 1 of" in capsys.readouterr().out
    assert len(list(cache.glob("*.mkv"))) == before - 1
    assert main(["cache", "show", "--cache", str(cache)]) == 0
    assert f"{before - 1} segments" in capsys.readouterr().out


@pytest.mark.slow
def test_interrupt_from_the_cli_says_how_to_resume(tmp_path, recording, capsys):
    log, state = recording
    state["fail_after"] = 2
    script = ten_scenes(tmp_path)
    assert main(["render", str(script), "-o", str(tmp_path / "v.mp4")]) == 130
    err = capsys.readouterr().err
    assert "2 of" in err and "are kept" in err and "Run the same command again to resume" in err


@pytest.mark.slow
def test_sigterm_stops_cleanly_like_ctrl_c(tmp_path):
    """`kill` during a render: exit 130, no partial files, finished segments kept."""
    import signal
    import subprocess
    import sys
    import time

    script = write(tmp_path / "long.yaml", "output: {width: 320, height: 192, fps: 24, preset: ultrafast}\nscenes:\n"
                   + "".join(f"  - {{duration: 4s, prompts: scene {i}}}\n" for i in range(12)))
    proc = subprocess.Popen([sys.executable, "-m", "storyboard", "render", str(script), "-o", str(tmp_path / "v.mp4")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cache = tmp_path / ".storyboard-cache"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(cache.glob("[!.]*.mkv"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Run the same command again to resume" in err
    assert not (tmp_path / "v.mp4").exists()
    assert [p.name for p in tmp_path.rglob("*") if ".part" in p.name] == []
    assert len(list(cache.glob("[!.]*.mkv"))) >= 2


@pytest.mark.slow
def test_reassembly_after_an_edit_copies_unchanged_pieces_and_equals_a_fresh_render(tmp_path, recording):
    log, _ = recording
    out = tmp_path / "v.mp4"
    render_plan(plan_of(ten_scenes(tmp_path)), out, quiet=True)
    pieces = tmp_path / ".storyboard-cache" / "pieces"
    before = set(pieces.glob("*.h264"))
    edited = plan_of(ten_scenes(tmp_path, prompt3="a lighthouse in a storm", name="edited.yaml"))
    render_plan(edited, out, quiet=True)
    new = set(pieces.glob("*.h264")) - before
    from storyboard.render.assemble import runs_for

    shot = edited.scenes[3].shot
    affected = [r for r in runs_for(edited) if r.shot == shot or (r.composite and r.shot == shot + 1)]
    assert 1 <= len(new) <= len(affected), "only runs made from the edited shot are encoded again"
    fresh = tmp_path / "fresh" / "v.mp4"
    render_plan(edited, fresh, quiet=True)
    assert np.array_equal(read_frames(out, 64, 64), read_frames(fresh, 64, 64)), "copied pieces, same frames"


def test_seeking_into_a_segment_gives_exactly_the_frames_asked_for(tmp_path):
    from storyboard.render.segments import SegmentWriter, decode_frames

    path = tmp_path / "s.mkv"
    with SegmentWriter(path, 32, 32, 24) as writer:
        for k in range(100):
            writer.write(np.full((32, 32, 3), k * 2, np.uint8))
    for first in (0, 1, 23, 24, 25, 61, 99):
        got = [int(f[16, 16, 0]) for f in decode_frames(path, 32, 32, first, 24)]
        assert len(got) == 100 - first
        assert abs(got[0] - 2 * first) <= 1, (first, got[:3])
