"""A plan stores per-frame data as spans and keys: a 12-hour scene plans in well under a second of
CPU into kilobytes, and every frame reads the same values as when the plan held a row per frame."""

from __future__ import annotations

import hashlib
import json
import pickle
import time

import pytest

from storyboard.plan.compile import compile_plan
from storyboard.script.load import load_script_text

TWELVE_HOURS = """
output: {width: 256, height: 144, fps: 30}
scenes:
  - duration: 43200s
    prompts:
      - {at: 0s, text: a quiet lake}
      - {at: 21600s, text: a stormy sea, curve: ease-in-out}
    hold: {at: 30000s, duration: 10s}
  - {duration: 10s, prompts: dawn, transition: {type: crossfade, duration: 2s}}
"""

# Scenes with every kind of per-frame data: eased, stepped and beat-stepped glides, a morph,
# crossfade handles, and holds pulsing on beats and on bars.
EVERY_KIND = """
bpm: 100
output: {fps: 24}
scenes:
  - {duration: 3, prompts: [a, b, c], curve: ease-in}
  - duration: 8 beats
    prompts: [{text: d}, {at: 4 beats, text: e, curve: beats}, {at: 7 beats, text: f, curve: smooth}]
    transition: {type: morph, duration: 1.5s, curve: ease-in-out}
    hold: {at: 7.5 beats, pulse: beats, strength: 0.7}
  - {duration: 2.3, prompts: [g, h], transition: {type: crossfade, duration: 0.7, curve: ease-out}, curve: step}
  - {duration: 4 beats, prompts: i, transition: morph, hold: {pulse: bars}}
  - {duration: 1, prompts: [j, k], transition: {type: crossfade, curve: beats}, curve: beats}
"""

# sha256 of every frame's (a, b, w, seed, pulse, scene) and every transition's weights for EVERY_KIND,
# computed by the compiler that stored a FrameCond per frame (commit 333faab).
ROW_PER_FRAME_DIGEST = "2e22c9d3b17b2f80c74226537cb9136a022b82b3d5dad2fa1ae4872f066d6587"


def test_a_twelve_hour_scene_plans_in_well_under_a_second_into_kilobytes():
    script = load_script_text(TWELVE_HOURS, "long.yaml")
    started = time.process_time()
    plan = compile_plan(script)
    text = json.dumps(plan.to_json(), indent=1)  # what `plan --json` writes
    cpu = time.process_time() - started
    assert plan.total_frames == 43210 * 30
    assert cpu < 1.0, f"{cpu:.2f} s of CPU"  # was 53 s (a FrameCond per frame)
    assert len(text) < 10_000, f"{len(text)} bytes"  # was 126 MB
    shot = json.loads(text)["shots"][0]
    assert [(r["start"], r["end"]) for r in shot["runs"]] == [(0, 648000), (648000, 1296000), (1296000, 1296060)]
    assert shot["windows"]["count"] == len(plan.shots[0].windows) == 108005


def test_a_twelve_hour_scene_reads_frame_by_frame_as_before():
    plan = compile_plan(load_script_text(TWELVE_HOURS, "long.yaml"))
    shot = plan.shots[0]
    assert len(shot.frames) == shot.length == 1296060
    lake, sea = 0, 1
    middle = shot.cond(324000)  # a quarter of the way: half-way through the ease-in-out glide
    assert (middle.a, middle.b) == (lake, sea) and middle.w == pytest.approx(0.5, abs=1e-15)
    assert shot.cond(162000).w == pytest.approx(0.5 - 0.5 * 2 ** -0.5, abs=1e-15)  # a quarter through it: 1/2 - cos(pi/4)/2
    reached = shot.frames[648000]
    assert (reached.a, reached.b, reached.w) == (sea, sea, 0.0)  # the second key reached, held to the end
    assert shot.frames[-1] == shot.frames[1295999].held()  # the crossfade's handle holds the last frame
    assert shot.windows[-1] == (1296060 - 16, 1296060) and shot.windows[1] == (12, 28)
    assert plan.scenes[0].hold == (900000, 900300)
    assert plan.shots[1].cond(1296000).scene == 1


def test_every_frame_reads_the_values_a_row_per_frame_held():
    plan = compile_plan(load_script_text(EVERY_KIND, "t.yaml"))
    rows = [[[c.a, c.b, c.w, c.seed, c.pulse, c.scene] for c in s.frames] for s in plan.shots]
    weights = [[t.kind, t.start, t.frames, list(t.weights)] for t in plan.transitions]
    assert hashlib.sha256(json.dumps([rows, weights]).encode()).hexdigest() == ROW_PER_FRAME_DIGEST
    assert [len(r) for r in rows] == [204, 137, 24]
    assert sum(c[4] > 0 for r in rows for c in r) == 12  # pulsing frames
    for shot in plan.shots:  # every accessor agrees: iteration, indexing, slicing, absolute frames
        listed = list(shot.frames)
        assert listed == [shot.frames[k] for k in range(shot.length)] == list(shot.frames[:])
        assert listed == [shot.cond(f) for f in range(shot.start, shot.render_end)]
        assert shot.frames[-3:] == tuple(listed[-3:])


def test_a_plan_pickles_whole_for_the_farm():
    plan = compile_plan(load_script_text(EVERY_KIND, "t.yaml"))
    copy = pickle.loads(pickle.dumps(plan))
    assert copy == plan
    assert list(copy.shots[0].frames) == list(plan.shots[0].frames)
    assert list(copy.shots[0].windows) == list(plan.shots[0].windows)


@pytest.mark.parametrize("seed", range(12))
def test_where_the_prompt_moves_is_found_from_the_spans_as_a_frame_by_frame_scan_finds_it(seed):
    """The hold check reads ramps, not frames: it must find the same first and last moving frame."""
    import random

    from storyboard.plan.compile import prompt_moves

    rng = random.Random(seed)
    curves = ["linear", "ease-in", "ease-out", "ease-in-out", "smooth", "step", "beats"]
    lines = [f"bpm: {rng.choice([90, 120, 137])}", f"output: {{fps: {rng.choice([8, 24, 30])}}}", "scenes:"]
    for i in range(rng.randint(1, 4)):
        keys = sorted(rng.sample(range(0, 9), rng.randint(1, 4)))
        prompts = ", ".join(f"{{at: {k}s, text: p{i}{k}, curve: {rng.choice(curves)}}}" for k in keys)
        transition = rng.choice(["cut", "crossfade", "morph"]) if i else "cut"
        lines.append(f"  - {{duration: 9, prompts: [{prompts}], transition: {{type: {transition}, "
                     f"curve: {rng.choice(curves)}}}}}")
    plan = compile_plan(load_script_text("\n".join(lines) + "\n", "t.yaml"))
    for shot in plan.shots:
        runs = list(shot.frames.runs)
        rows = [(c.a, c.b, c.w) for c in shot.frames]
        for _ in range(20):
            lo = rng.randrange(shot.start + 1, shot.render_end)
            hi = rng.randrange(lo, shot.render_end)
            scan = [f for f in range(lo, hi + 1) if rows[f - shot.start] != rows[f - 1 - shot.start]]
            assert prompt_moves(runs, lo, hi) == sorted({scan[0], scan[-1]} if scan else set())
