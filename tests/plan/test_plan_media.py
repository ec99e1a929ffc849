"""The plan's media (issue 20): per shot, which images condition which frames (start, keyframes,
last), the subjects' spans, a control video's frames lined up with the shot's, a continued cut and
its anchoring, as keys and spans; and the segment cache's keys, which follow every file's content."""

from __future__ import annotations

import json

import pytest
from helpers import write
from PIL import Image

from storyboard.errors import ScriptErrors
from storyboard.pipeline import load, plan_script
from storyboard.plan.compile import compile_plan
from storyboard.plan.data import ControlSpan
from storyboard.render.segments import segment_key
from storyboard.script.load import load_script_text

SCRIPT = """
    output: {width: 64, height: 48, fps: 24}
    bpm: 120
    subjects:
      mara: {description: a girl in a yellow raincoat, images: [mara.png, mara-side.png]}
      fox: {description: a red fox, images: fox.png}
    scenes:
      - {id: a, duration: 2s, prompts: a street, image: start.png, subjects: mara,
         keyframes: [{at: 2 beats, image: key.png}]}
      - {id: b, duration: 2s, prompts: the park, transition: morph, subjects: [mara, fox],
         keyframes: [{at: end, image: last.png}], control: {video: frames, kind: pose, start: 2f}}
      - {id: c, duration: 1s, prompts: a roof, continue: true, anchor: 0.25}
      - {id: d, duration: 1s, prompts: a river, subjects: fox, transition: crossfade}
"""


def _folder(tmp_path):
    colours = {"mara": (200, 0, 0), "mara-side": (180, 0, 0), "fox": (250, 120, 0), "start": (0, 0, 200),
               "key": (0, 200, 0), "last": (200, 200, 200)}
    for name, colour in colours.items():
        Image.new("RGB", (20, 10), colour).save(tmp_path / f"{name}.png")
    (tmp_path / "frames").mkdir()
    for k in range(60):
        Image.new("RGB", (8, 8), (k, k, k)).save(tmp_path / "frames" / f"{k:04d}.png")
    return write(tmp_path / "s.yaml", SCRIPT)


def test_each_shot_carries_its_images_subjects_and_control_as_keys_and_spans(tmp_path):
    plan = plan_script(load(_folder(tmp_path))).plan
    first, roof, river = plan.shots
    assert [(k.frame, k.role, k.path.rsplit("/", 1)[1], k.scene, k.width) for k in first.media.images] == [
        (0, "start", "start.png", 0, 20), (24, "keyframe", "key.png", 0, 20), (95, "last", "last.png", 1, 20)]
    assert first.media.images[0].sha256 == __import__("hashlib").sha256((tmp_path / "start.png").read_bytes()).hexdigest()
    # mara over both scenes of the morphed shot (one span); the fox from the morph's scene on.
    assert [(s.name, s.start, s.end) for s in first.media.subjects] == [("mara", 0, 96), ("fox", 48, 96)]
    (control,) = first.media.controls
    assert (control.kind, control.start, control.end, control.first, control.source_fps, control.source_frames) == \
        ("pose", 48, 96, 2, 24.0, 60)
    assert control.names[:2] == ("0000.png", "0001.png")
    assert [control.source_frame(f) for f in (48, 49, 95)] == [2, 3, 49]
    assert (first.media.continues, first.media.anchor) == (False, None)
    assert (roof.media.continues, roof.media.anchor, roof.media.images) == (True, 0.25, ())
    # The river is a shot of its own (crossfaded in): the fox over its 24 frames.
    assert [(s.name, s.start, s.end) for s in river.media.subjects] == [("fox", 120, 144)]
    assert [s.name for s in plan.subjects] == ["mara", "fox"]
    assert [i.path.rsplit("/", 1)[1] for i in plan.subjects[0].images] == ["mara.png", "mara-side.png"]


def test_a_subject_span_takes_the_crossfade_handle_of_its_shot(tmp_path):
    plan = plan_script(load(_folder(tmp_path))).plan
    roof = plan.shots[1]
    assert roof.render_end > roof.end  # the river crossfades in: the roof renders a handle
    script = write(tmp_path / "t.yaml", SCRIPT.replace("prompts: a roof, continue: true", "prompts: a roof, "
                                                       "continue: true, subjects: fox"))
    roof = plan_script(load(script)).plan.shots[1]
    assert [(s.name, s.start, s.end) for s in roof.media.subjects] == [("fox", roof.start, roof.render_end)]


def test_the_plan_prints_its_media_as_json_and_a_plan_without_any_as_before(tmp_path):
    plan = plan_script(load(_folder(tmp_path))).plan
    data = json.loads(json.dumps(plan.to_json()))
    shot = data["shots"][0]["media"]
    assert [(i["frame"], i["role"]) for i in shot["images"]] == [(0, "start"), (24, "keyframe"), (95, "last")]
    assert shot["controls"][0]["source_span"] == [2, 50]
    assert data["subjects"][1] == {"name": "fox", "description": "a red fox", "images": [
        {"path": str(tmp_path / "fox.png"), "sha256": plan.subjects[1].images[0].sha256, "width": 20, "height": 10}]}
    plain = compile_plan(load_script_text("scenes:\n  - {duration: 1s, prompts: a}\n")).to_json()
    assert "media" not in plain["shots"][0] and "subjects" not in plain


def test_two_images_on_one_frame_and_a_keyframe_past_its_scene_are_located(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    script = write(tmp_path / "s.yaml", """
        scenes:
          - {duration: 1s, prompts: a, image: a.png, keyframes: [{at: 0, image: a.png}, {at: 2s, image: a.png}]}
    """)
    with pytest.raises(ScriptErrors) as caught:
        plan_script(load(script))
    said = {e.path: e.message for e in caught.value.errors}
    assert said == {
        ("scenes", 0, "keyframes", 0): "two images fall on frame 0 (0.000s): a frame passes through one picture "
                                       "(a start image is the scene's keyframe at 0)",
        ("scenes", 0, "keyframes", 1, "at"): "'2s' (2.000s) is after the scene ends (1.000s, '1s'); at: end places "
                                              "a keyframe on the scene's last frame",
    }


def test_a_control_at_another_rate_maps_by_time():
    c = ControlSpan("d.mp4", "x", "pose", start=100, end=200, first=10, fps=24, source_fps=30.0, source_frames=200,
                    scene=0)
    assert [c.source_frame(f) for f in (100, 101, 104, 124, 199)] == [10, 11, 15, 40, 133]
    assert ControlSpan("d", "x", "pose", 0, 10, 0, 24, 12.0, 3, 0).source_frame(9) == 2  # past its end: its last


def _keys(plan, backend="preview"):
    return [segment_key(plan, s, backend, "1", False) for s in plan.shots]


def test_a_reference_images_bytes_change_exactly_the_keys_of_the_shots_that_use_it(tmp_path):
    script = _folder(tmp_path)
    before = _keys(plan_script(load(script)).plan)
    assert len(set(before)) == 3
    Image.new("RGB", (20, 10), (1, 2, 3)).save(tmp_path / "fox.png")  # the fox: shots 0 and 2
    after = _keys(plan_script(load(script)).plan)
    assert [b != a for b, a in zip(before, after)] == [True, False, True]
    Image.new("RGB", (20, 10), (9, 9, 9)).save(tmp_path / "frames" / "0030.png")  # a control frame: shot 0
    again = _keys(plan_script(load(script)).plan)
    assert [a != g for a, g in zip(after, again)] == [True, False, False]
    (tmp_path / "copy.png").write_bytes((tmp_path / "key.png").read_bytes())  # same bytes, another path: same key
    moved = write(tmp_path / "s.yaml", SCRIPT.replace("image: key.png", "image: copy.png"))
    assert _keys(plan_script(load(moved)).plan) == again


def test_a_continued_cut_keys_on_the_shot_it_continues_for_a_model_not_the_preview(tmp_path):
    script = _folder(tmp_path)
    plan = plan_script(load(script)).plan
    Image.new("RGB", (20, 10), (5, 5, 5)).save(tmp_path / "start.png")  # shot 0 only
    changed = plan_script(load(script)).plan
    model, model_changed = _keys(plan, "diffusion"), _keys(changed, "diffusion")
    assert [a != b for a, b in zip(model, model_changed)] == [True, True, False]  # shot 1 continues shot 0
    assert [a != b for a, b in zip(_keys(plan), _keys(changed))] == [True, False, False]


def test_a_plan_without_the_media_checksums_has_no_segment_key(tmp_path):
    script = _folder(tmp_path)
    plan = compile_plan(load(script))  # no media probed
    assert plan.shots[0].media.images[0].sha256 == ""
    with pytest.raises(ValueError, match="compiled without the media probe"):
        segment_key(plan, plan.shots[0], "preview", "1", False)
    assert segment_key(plan, plan.shots[1], "preview", "1", False)  # no file: a key as before


def test_a_long_run_of_continued_cuts_is_keyed_in_a_loop_and_hangs_on_its_first_shot(tmp_path):
    """600 cuts, each continuing the one before (the key of each holds all before it): no recursion limit,
    and a new start image on the first changes the last one's key."""
    Image.new("RGB", (8, 8), (200, 0, 0)).save(tmp_path / "start.png")
    scenes = "".join(f"  - {{duration: 1f, prompts: p{i}, transition: cut{', continue: true' if i else ''}"
                     f"{', image: start.png' if i == 0 else ''}}}\n" for i in range(600))
    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 24}\nscenes:\n" + scenes)
    plan = plan_script(load(script)).plan
    last = segment_key(plan, plan.shots[-1], "diffusion", "1", False)
    Image.new("RGB", (8, 8), (0, 0, 200)).save(tmp_path / "start.png")
    changed = plan_script(load(script)).plan
    assert segment_key(changed, changed.shots[-1], "diffusion", "1", False) != last
    assert segment_key(changed, changed.shots[-1], "preview", "1", False) == \
        segment_key(plan, plan.shots[-1], "preview", "1", False)  # the preview draws nothing of the shot before
