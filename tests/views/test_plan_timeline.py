"""`storyboard plan`'s table counts in words: "1 sentence", "1 shot, 1 window of 16 frames"."""

from __future__ import annotations

from dataclasses import replace

from storyboard.plan.compile import compile_plan
from storyboard.plan.data import NarrationPlan
from storyboard.views.timeline import timeline_table
from storyboard.script.load import load_script_text


def test_counts_of_one_are_singular():
    plan = compile_plan(load_script_text("scenes:\n  - {duration: 10f, prompts: a}\n", "t.yaml"))
    plan = replace(plan, narration=(NarrationPlan(0, "x.wav", 0.0, 0.4, 1.0, (("Hello.", 0.0, 0.4),)),))
    table = timeline_table(plan)
    assert "[voice 0:00.000, 0.4 s, 1 sentence]" in table  # was "1 sentences"
    assert "untitled: 10 frames, 0.417 s at 24 fps, 1024x576" in table
    assert "narration: 0.4 s of speech, 1 word, 0 caption cues;" in table
    assert "1 shot, 1 window of 16 frames (overlap 4): 1.00 denoiser frame-evaluations per frame" in table


def test_counts_of_many_are_plural():
    plan = compile_plan(load_script_text("scenes:\n  - {duration: 1, prompts: a}\n  - {duration: 1, prompts: b}\n", "t.yaml"))
    assert "2 shots, 4 windows of 16 frames (overlap 4)" in timeline_table(plan)
