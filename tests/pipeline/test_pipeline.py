"""The spine's steps one by one: load, gather, compile, check outputs (render is tested through the CLI)."""

from __future__ import annotations

import hashlib

import pytest
from helpers import write

from storyboard import pipeline
from storyboard.errors import ScriptErrors, UsageError

SCRIPT = """
    output: {path: out/v.mp4, width: 64, height: 64, fps: 8, captions: both}
    model: {id: preview}
    scenes:
      - {id: a, duration: 2s, prompts: a red room, caption: {text: "Hello there"}}
      - {id: b, duration: 3, prompts: a blue room}
"""


def test_load_applies_the_command_lines_overrides(tmp_path):
    script = pipeline.load(write(tmp_path / "s.yaml", SCRIPT), model="tiny-random", output=str(tmp_path / "x.mp4"),
                           steps=3)
    assert (script.storyboard.model.id, script.storyboard.model.steps) == ("tiny-random", 3)
    assert script.output_path() == tmp_path / "x.mp4"
    assert not script.problems


def test_load_insists_on_the_bytes_that_were_checked(tmp_path):
    path = write(tmp_path / "s.yaml", SCRIPT)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert pipeline.load(path, sha256=digest.upper()).storyboard.scenes[0].id == "a"
    path.write_text(path.read_text() + "\n# edited\n")
    with pytest.raises(UsageError, match=r"changed after it was checked \(its SHA-256 is not "):
        pipeline.load(path, sha256=digest)


def test_gather_without_music_or_narration_reads_nothing(tmp_path):
    gathered = pipeline.gather(pipeline.load(write(tmp_path / "s.yaml", SCRIPT)))
    assert (gathered.speech, gathered.timing, gathered.music_lengths, gathered.warnings) == ({}, None, (), ())


def test_compile_gathered_is_plan_script(tmp_path):
    script = pipeline.load(write(tmp_path / "s.yaml", SCRIPT))
    planned = pipeline.compile_gathered(pipeline.gather(script))
    assert planned.plan == pipeline.plan_script(script).plan
    assert (planned.plan.total_frames, len(planned.plan.scenes)) == (40, 2)
    assert planned.plan.caption_fonts, "the pipeline pages captions with the installed fonts, and says which"


def test_a_script_with_a_problem_never_yields_a_plan(tmp_path):
    bad = SCRIPT.replace("duration: 3,", "duration: -3,")
    with pytest.raises(ScriptErrors) as caught:
        pipeline.plan_script(pipeline.load(write(tmp_path / "s.yaml", bad)))
    assert [e.path for e in caught.value.errors] == [("scenes", 1, "duration")]


def test_check_outputs_names_the_files_a_render_writes(tmp_path):
    script = pipeline.load(write(tmp_path / "s.yaml", SCRIPT))
    outputs = pipeline.check_outputs(script, pipeline.plan_script(script).plan)
    assert outputs.video == tmp_path / "out" / "v.mp4"
    assert outputs.subtitles == (tmp_path / "out" / "v.srt",)
    assert outputs.cache == tmp_path / "out" / ".storyboard-cache"


def test_check_outputs_refuses_to_write_over_the_script(tmp_path):
    path = write(tmp_path / "s.yaml", SCRIPT)
    script = pipeline.load(path, output=str(path))
    with pytest.raises(UsageError, match=r"the video would be written over the script"):
        pipeline.check_outputs(script, pipeline.plan_script(script).plan, chosen_by_user=True)
