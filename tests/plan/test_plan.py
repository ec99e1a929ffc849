"""The plan: exact frame arithmetic, interpolation weights, shots, windows, JSON."""

from __future__ import annotations

import json
import math
import random

import pytest

from storyboard.plan.times import frame_at
from storyboard.plan.compile import compile_plan
from storyboard.plan.easing import EASINGS, ease
from storyboard.plan.glides import glide_weights
from storyboard.plan.windows import windows_for
from storyboard.script.load import load_script_text


def plan_of(text: str):
    return compile_plan(load_script_text(text, "t.yaml"))


def scene_yaml(durations: list[str], transitions: list[str] | None = None) -> str:
    lines = ["bpm: 123.7", "scenes:"]
    for i, d in enumerate(durations):
        lines += [f"  - duration: {d}", f"    prompts: prompt {i}"]
        if transitions and i:
            lines.append(f"    transition: {transitions[i]}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_scene_lists_tile_the_timeline_exactly(seed):
    rng = random.Random(seed)
    fps = rng.choice([8, 12, 24, 25, 30, 60])
    durations = []
    for _ in range(rng.randint(1, 60)):
        unit = rng.choice(["s", "f", "beats", "bars", "ms"])
        if unit == "s":
            durations.append(f"{rng.uniform(0.2, 7.0):.4f}s")
        elif unit == "ms":
            durations.append(f"{rng.randint(150, 4000)}ms")
        elif unit == "f":
            durations.append(f"{rng.randint(1, 90)}f")
        else:
            durations.append(f"{rng.choice([1, 2, 3, 0.5, 1.5])} {unit}")
    text = scene_yaml(durations).replace("bpm: 123.7", f"bpm: 123.7\noutput: {{fps: {fps}}}")
    plan = plan_of(text)
    starts = [s.start for s in plan.scenes]
    ends = [s.end for s in plan.scenes]
    assert starts[0] == 0
    assert starts[1:] == ends[:-1], "each scene starts where the last ended"
    assert all(s.frames >= 1 for s in plan.scenes)
    assert sum(s.frames for s in plan.scenes) == plan.total_frames
    # The end is the rounded exact total, not a sum of rounded pieces.
    exact = 0.0
    for d in durations:
        amount = float(d.split()[0].rstrip("sfm"))
        exact += {"s": amount, "f": amount / fps, "beats": amount * 60 / 123.7, "bars": amount * 4 * 60 / 123.7}[
            "f" if d.endswith("f") else "beats" if "beat" in d else "bars" if "bar" in d else "s"
        ] if not d.endswith("ms") else amount / 1000
    assert plan.total_frames == frame_at(exact, fps)
    assert plan.duration_s == pytest.approx(plan.total_frames / fps)
    # Every frame belongs to exactly one shot's owned range.
    owned = [f for shot in plan.shots for f in range(shot.start, shot.end)]
    assert owned == list(range(plan.total_frames))


def test_a_thousand_tiny_scenes_lose_no_frame():
    plan = plan_of(scene_yaml(["0.1s"] * 1000).replace("bpm: 123.7", "output: {fps: 24}"))
    assert plan.total_frames == 2400
    # 0.1 s at 24 fps is 2.4 frames: the scenes alternate 2 and 3 frames and never drift.
    assert {s.frames for s in plan.scenes} == {2, 3}
    assert all(abs(s.start - round(i * 2.4)) <= 1 for i, s in enumerate(plan.scenes))


def test_linear_interpolation_between_keys():
    plan = plan_of("""
output: {fps: 10}
scenes:
  - duration: 4s
    prompts:
      - {at: 0, text: a}
      - {at: 2s, text: b}
      - {at: 3s, text: c}
""")
    shot = plan.shots[0]
    a, b, c = (plan.prompts.index(p) for p in "abc")
    assert [(x.a, x.b) for x in shot.frames[:20]] == [(a, b)] * 20
    assert [x.w for x in shot.frames[:20]] == pytest.approx([k / 20 for k in range(20)])
    assert [(x.a, x.b) for x in shot.frames[20:30]] == [(b, c)] * 10
    assert [x.w for x in shot.frames[20:30]] == pytest.approx([k / 10 for k in range(10)])
    assert all((x.a, x.b, x.w) == (c, c, 0.0) for x in shot.frames[30:])


def test_plain_prompt_list_spreads_evenly_and_reaches_the_last_at_the_end():
    plan = plan_of("output: {fps: 10}\nscenes:\n  - duration: 2s\n    prompts: [a, b, c]\n")
    assert plan.scenes[0].keys == (0, 10, 19), "a key at the scene's end lands on its last frame"
    assert plan.shots[0].frames[15].w == pytest.approx(5 / 9)
    last = plan.shots[0].frames[19]
    assert (last.a, last.b, last.w) == (2, 2, 0.0), "the last prompt is shown in full"


@pytest.mark.parametrize("curve", sorted(EASINGS))
def test_easing_curves_start_at_0_end_at_1_and_never_go_back(curve):
    values = [ease(curve, u / 200) for u in range(201)]
    assert values[0] == 0.0 and values[-1] == 1.0
    assert all(b >= a for a, b in zip(values, values[1:]))


def test_easing_values():
    assert ease("linear", 0.25) == 0.25
    assert ease("ease-in", 0.5) == pytest.approx(0.125)
    assert ease("ease-out", 0.5) == pytest.approx(0.875)
    assert ease("ease-in-out", 0.5) == pytest.approx(0.5)
    assert ease("ease-in-out", 0.25) == pytest.approx(0.5 - 0.5 * math.cos(math.pi / 4))
    assert ease("smooth", 0.5) == pytest.approx(0.5)
    assert ease("step", 0.99) == 0.0


def test_scene_curve_shapes_the_glide():
    plan = plan_of("output: {fps: 10}\nscenes:\n  - duration: 2s\n    curve: ease-in\n    prompts: [a, b]\n")
    assert plan.shots[0].frames[10].w == pytest.approx((10 / 19) ** 3)


def test_morph_glides_from_previous_prompt_and_reaches_exactly_1():
    plan = plan_of("""
output: {fps: 10}
scenes:
  - {id: one, duration: 2s, prompts: a}
  - id: two
    duration: 3s
    transition: {type: morph, duration: 1s, curve: linear}
    prompts: [b, c]
""")
    a, b, c = (plan.prompts.index(p) for p in "abc")
    assert len(plan.shots) == 1, "a morph continues the shot"
    tr = plan.transitions[0]
    assert (tr.kind, tr.start, tr.frames) == ("morph", 20, 10)
    assert tr.weights == pytest.approx([(k + 1) / 10 for k in range(10)])
    frames = plan.shots[0].frames
    assert [(x.a, x.b) for x in frames[20:30]] == [(a, b)] * 10
    assert frames[29].w == 1.0
    # After the morph, the scene's own glide b -> c runs to its key at the end.
    assert (frames[30].a, frames[30].b, frames[30].w) == (b, c, 0.0)
    assert frames[40].w == pytest.approx(10 / 19), "b -> c over frames 30..49, c in full on the last frame"


def test_cut_and_crossfade_start_new_shots_with_handles():
    plan = plan_of(scene_yaml(["1s", "1s", "1s", "1s"], ["", "cut", "{type: crossfade, duration: 0.5s}", "morph"])
                   .replace("bpm: 123.7", "output: {fps: 10}"))
    assert [s.scenes for s in plan.shots] == [(0,), (1,), (2, 3)]
    first, second, third = plan.shots
    assert (first.end, first.render_end) == (10, 10)
    assert (second.start, second.end, second.render_end) == (10, 20, 25), "5-frame handle for the crossfade"
    assert second.length == 15 and len(second.frames) == 15
    assert all(c == second.frames[9].held() for c in second.frames[10:])
    fade = plan.transitions[1]
    assert (fade.kind, fade.start, fade.frames) == ("crossfade", 20, 5)
    assert fade.weights == pytest.approx([k / 6 for k in range(1, 6)])


def test_crossfade_longer_than_scene_is_an_error(capsys):
    from storyboard.errors import PlanError

    with pytest.raises(PlanError, match="longer than the scene"):
        plan_of(scene_yaml(["1s", "1s"], ["", "{type: crossfade, duration: 2s}"]))


@pytest.mark.parametrize("length, size, overlap", [(40, 16, 4), (16, 16, 4), (5, 16, 4), (17, 16, 4), (1000, 16, 4), (100, 24, 8), (64, 8, 0)])
def test_windows_cover_every_frame_with_the_overlap(length, size, overlap):
    windows = windows_for(100, 100 + length, size, overlap)
    assert windows[0][0] == 100 and windows[-1][1] == 100 + length
    assert all(e - s == min(size, length) for s, e in windows)
    for (s0, e0), (s1, e1) in zip(windows, windows[1:]):
        assert s1 > s0 and e0 - s1 >= overlap, "neighbours share at least the overlap"
    covered = sorted({f for s, e in windows for f in range(s, e)})
    assert covered == list(range(100, 100 + length))


def test_default_window_costs_at_most_1_35_evaluations_per_frame():
    windows = windows_for(0, 24 * 60, 16, 4)
    assert sum(e - s for s, e in windows) / (24 * 60) <= 1.35


def test_beats_curve_steps_on_beats_and_ends_at_exactly_1():
    beats = [10, 20, 30, 40]
    weights = glide_weights(range(5, 46), 5, 45, "beats", beats)
    assert weights[-1] == 1.0
    assert all(b >= a for a, b in zip(weights, weights[1:]))
    changes = [f for f, (p, q) in zip(range(6, 46), zip(weights, weights[1:])) if q != p]
    assert changes == [10, 20, 30, 40, 45]
    assert weights[10 - 5] == pytest.approx(0.2)


def test_hold_pulses_on_beat_frames():
    plan = plan_of("""
bpm: 120
output: {fps: 24}
scenes:
  - duration: 4 beats
    prompts: x
    hold: {pulse: beats, strength: 0.8}
""")
    pulses = [c.pulse for c in plan.shots[0].frames]
    peaks = [f for f, p in enumerate(pulses) if p == pytest.approx(0.8)]
    assert peaks == [0, 12, 24, 36] == list(plan.beats)
    assert all(pulses[f] < 0.8 for f in range(48) if f not in peaks)
    assert pulses[13] < pulses[12] and pulses[11] < pulses[12]


def test_hold_over_a_glide_is_an_error():
    from storyboard.errors import PlanError

    with pytest.raises(PlanError, match="overlaps a prompt glide"):
        plan_of("scenes:\n  - duration: 2\n    prompts: [a, b]\n    hold: true\n")


def test_seeds_are_per_scene_stable_and_overridable():
    one = plan_of("model: {seed: 5}\nscenes:\n  - {id: x, duration: 1, prompts: a}\n  - {id: y, duration: 1, prompts: b, seed: 9}\n")
    two = plan_of("model: {seed: 5}\nscenes:\n  - {id: new, duration: 1, prompts: q}\n  - {id: x, duration: 1, prompts: a}\n")
    assert one.scenes[1].seed == 9
    assert one.scenes[0].seed == two.scenes[1].seed, "inserting a scene does not reseed the others"
    assert one.scenes[0].seed != two.scenes[0].seed


def test_style_is_appended_to_every_prompt():
    plan = plan_of("style: oil painting\nscenes:\n  - {duration: 1, prompts: a cat}\n")
    assert plan.prompts == ("a cat, oil painting",)


def test_plan_json_has_the_contract_fields():
    plan = plan_of(scene_yaml(["1s", "2 beats"], ["", "morph"]))
    data = json.loads(json.dumps(plan.to_json()))
    assert data["fps"] == 24 and data["total_frames"] == plan.total_frames
    assert data["duration_s"] == pytest.approx(plan.total_frames / 24)
    assert {"scenes", "shots", "transitions", "prompts", "model", "captions", "audio"} <= set(data)
    shot = data["shots"][0]
    runs = shot["runs"]  # spans, not a row per frame: they tile the shot's rendered frames
    assert [r["start"] for r in runs] == [shot["start"]] + [r["end"] for r in runs[:-1]]
    assert runs[-1]["end"] == shot["render_end"]
    assert set(runs[0]) == {"start", "end", "a", "b", "seed", "scene", "w"}
    assert shot["windows"] == {"start": 0, "end": shot["render_end"], "size": 16, "overlap": 4,
                               "count": len(plan.shots[0].windows)}
    morph = data["transitions"][0]
    assert (morph["kind"], morph["ramp"]) == ("morph", {"t0": 23, "t1": 46, "curve": "linear"})


def test_measured_beat_grid_follows_drift_and_extrapolates():
    from storyboard.music.grid import BeatGrid

    times = (1.0, 1.5, 2.1, 2.8, 3.6)  # slowing down
    grid = BeatGrid(times, edge=1)
    assert [grid.time_at(b) for b in range(5)] == list(times)
    assert grid.beat_at(1.8) == pytest.approx(1.5)
    assert grid.time_at(2.5) == pytest.approx(2.45)
    assert grid.time_at(-1) == pytest.approx(0.5), "before the first beat: the first interval continues"
    assert grid.time_at(6) == pytest.approx(3.6 + 2 * 0.8), "after the last: the last interval continues"
    assert grid.beat_at(grid.time_at(7.25)) == pytest.approx(7.25)
    with pytest.raises(ValueError):
        BeatGrid((1.0, 1.0, 2.0))


def test_scenes_in_beats_follow_a_measured_grid():
    from storyboard.music.grid import BeatGrid

    script = load_script_text("output: {fps: 10}\nscenes:\n  - {duration: 2 beats, prompts: a}\n  - {duration: 1 beat, prompts: b}\n", "t.yaml")
    plan = compile_plan(script, grid=BeatGrid((0.0, 0.5, 1.5, 3.0)))
    assert [(s.start, s.end) for s in plan.scenes] == [(0, 15), (15, 30)]
    assert plan.tempo["source"] == "music"


def test_unresolvable_times_are_reported_not_crashed_on():
    from storyboard.errors import PlanError

    with pytest.raises(PlanError) as caught:
        plan_of("scenes:\n  - {duration: 8 beats, prompts: a}\n  - {duration: 2 beats, prompts: b, transition: morph}\n")
    assert [loc for loc, _ in caught.value.problems] == [("scenes", 0, "duration"), ("scenes", 1, "duration")]


def test_every_too_short_scene_is_reported():
    from storyboard.errors import PlanError

    with pytest.raises(PlanError) as caught:
        plan_of("output: {fps: 10}\nscenes:\n  - {duration: 0.01s, prompts: a}\n  - {duration: 1s, prompts: b}\n  - {duration: 1f, prompts: c}\n  - {duration: 0.02s, prompts: d}\n")
    assert [loc[1] for loc, _ in caught.value.problems] == [0, 3]
