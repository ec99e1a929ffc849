"""`plan --plot`: the prompt-weight curves come with a legend naming each prompt in its colour."""

from __future__ import annotations

import time

from storyboard.plan.compile import compile_plan
from storyboard.views.plot import draw_timeline, prompt_colour, timeline_picture
from storyboard.script.load import load_script_text


def plan_of(text: str):
    return compile_plan(load_script_text(text, "t.yaml"))


def test_the_weights_have_a_legend_of_the_prompts_in_their_colours(tmp_path):
    plan = plan_of("style: oil painting\nscenes:\n  - {duration: 2, prompts: [a red room, a blue sea]}\n"
                   "  - {duration: 1, prompts: a very long prompt that goes on and on about a lighthouse at dusk, "
                   "transition: morph}\n")
    picture = timeline_picture(plan, style="oil painting")
    assert [(item.prompt, item.label) for item in picture.legend] == [
        (0, "a red room"), (1, "a blue sea"), (2, "a very long prompt that goes on and on about a \u2026")]
    for item in picture.legend:  # each swatch is drawn in its prompt's curve colour
        x0, y0, x1, y1 = item.box
        assert picture.image.getpixel(((x0 + x1) // 2, (y0 + y1) // 2)) == prompt_colour(item.prompt)
    out = draw_timeline(plan, tmp_path / "plot.png", style="oil painting")
    assert out.stat().st_size > 0


def test_a_legend_of_many_prompts_counts_the_ones_it_cannot_show():
    prompts = ", ".join(f"prompt {k}" for k in range(20))
    picture = timeline_picture(plan_of(f"scenes:\n  - {{duration: 20, prompts: [{prompts}]}}\n"))
    assert [item.label for item in picture.legend] == [f"prompt {k}" for k in range(11)]  # 3 rows of 4, one for the count


def test_a_twelve_hour_plan_plots_in_seconds():
    plan = plan_of("bpm: 120\nscenes:\n  - duration: 43200s\n    prompts: [{text: a}, {at: 21600s, text: b}]\n"
                   "    hold: {at: 30000s, pulse: beats}\n")
    started = time.process_time()
    timeline_picture(plan)
    assert time.process_time() - started < 5.0
