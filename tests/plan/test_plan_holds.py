"""Holds: a hold is where the prompt stays put. One that meets a morph or a glide, or that lasts
no frame, is a located error that names its span, the glide's own span and the span they share."""

from __future__ import annotations

import pytest

from storyboard.errors import PlanError
from storyboard.plan.compile import compile_plan
from storyboard.script.load import load_script_text


def plan_of(text: str):
    return compile_plan(load_script_text(text, "t.yaml"))


def problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        plan_of(text)
    return [str(caught.value)]


MORPH_THEN_HOLD = """
output: {fps: 24}
scenes:
  - {duration: 4, prompts: a}
  - duration: 5
    prompts: b
    transition: {type: morph, duration: 2s}
    hold: {at: 0s, duration: 3s}
"""


def test_a_hold_over_a_morph_is_a_located_error_not_a_shorter_hold():
    # It used to become a 1 s hold from 2 s to 3 s, silently.
    script = load_script_text(MORPH_THEN_HOLD, "t.yaml")
    with pytest.raises(PlanError) as caught:
        compile_plan(script)
    [error] = script.plan_errors(caught.value).errors
    assert (error.line, error.path) == (8, ("scenes", 1, "hold"))
    assert error.message == (
        "the hold (0.000s to 3.000s into the scene) overlaps the morph into this scene, which glides from 0.000s "
        "to 2.000s (they share 0.000s to 2.000s); start the hold when the morph ends (hold.at: 2.000s) or "
        "shorten the morph")


def test_a_hold_over_a_glide_names_the_glides_span_and_the_shared_span():
    # It used to say the glide "moves from 6.000s to 8.000s": the shared span, called the glide's.
    assert problems("scenes:\n  - duration: 10\n    prompts: [{text: a}, {at: 4s, text: b}, {at: 8s, text: c}]\n"
                    "    hold: {at: 6s, duration: 3s}\n") == [
        "scenes[0].hold: the hold (6.000s to 9.000s into the scene) overlaps a prompt glide, which moves from "
        "4.000s to 8.000s (they share 6.000s to 8.000s); set hold.at and hold.duration to a span where the "
        "prompt stays put"]


def test_a_short_hold_at_the_start_of_a_morph_scene_is_an_error_not_inverted():
    # It used to plan the hold as frames [140, 128] (inverted), with no pulse.
    assert problems("output: {fps: 24}\nbpm: 120\nscenes:\n  - {duration: 5, prompts: a}\n"
                    "  - {duration: 5, prompts: b, transition: {type: morph, duration: 20f}, "
                    "hold: {duration: 8f, pulse: beats}}\n") == [
        "scenes[1].hold: the hold (0.000s to 0.333s into the scene) overlaps the morph into this scene, which "
        "glides from 0.000s to 0.833s (they share 0.000s to 0.333s); start the hold when the morph ends "
        "(hold.at: 0.833s) or shorten the morph"]


def test_a_hold_with_no_span_in_a_morph_scene_starts_when_the_morph_ends_and_pulses():
    plan = plan_of("output: {fps: 24}\nbpm: 120\nscenes:\n  - {duration: 5, prompts: a}\n"
                   "  - {duration: 5, prompts: b, transition: {type: morph, duration: 20f}, hold: {pulse: beats}}\n")
    assert plan.scenes[1].hold == (140, 240)
    pulses = [c.pulse for c in plan.shots[0].frames]
    assert [f for f, p in enumerate(pulses) if p == 0.5] == [144, 156, 168, 180, 192, 204, 216, 228]
    assert pulses[139] == 0.0 and pulses[145] == pytest.approx(0.5 * 0.5 ** (1 / 1.92))


@pytest.mark.parametrize("hold, message", [
    ("{at: 1s, duration: 0s}", "scenes[0].hold.duration: '0s' is shorter than one frame at 24 fps; a hold lasts "
                               "at least one frame"),
    ("{at: 1s, duration: 0.01s}", "scenes[0].hold.duration: '0.01s' is shorter than one frame at 24 fps; a hold "
                                  "lasts at least one frame"),
    ("{at: 2s}", "scenes[0].hold.at: '2s' is the scene's end (2.000s); a hold lasts at least one frame, so start "
                 "it earlier"),
])
def test_a_hold_of_no_frame_is_an_error(hold, message):
    # Each used to plan a hold of frames (48, 48) or (24, 24): nothing, silently.
    assert problems(f"output: {{fps: 24}}\nscenes:\n  - {{duration: 2, prompts: a, hold: {hold}}}\n") == [message]


def test_a_hold_in_a_scene_the_morph_fills_is_an_error():
    assert problems("output: {fps: 24}\nscenes:\n  - {duration: 1, prompts: a}\n"
                    "  - {duration: 1, prompts: b, transition: {type: morph, duration: 1s}, hold: true}\n") == [
        "scenes[1].hold: the morph into this scene lasts the whole scene (1.000s), so no frame is left for the "
        "hold; shorten the morph (transition.duration) or remove the hold"]


def test_a_hold_after_the_morph_is_kept_as_written():
    plan = plan_of(MORPH_THEN_HOLD.replace("{at: 0s, duration: 3s}", "{at: 2s, duration: 3s}"))
    assert plan.scenes[1].hold == (96 + 48, 96 + 120)
