"""`storyboard plan` and `validate` show a script's media (issue 20): per shot, which images and
subjects condition which frames, the windows holding each image, and each file's size or frames."""

from __future__ import annotations

from helpers import run_cli, write
from PIL import Image

from storyboard.backends import registry
from storyboard.pipeline import load, plan_script
from storyboard.views.timeline import conditioning_lines, media_summary, timeline_table


def _script(tmp_path):
    for name in ("start", "key", "mara"):
        Image.new("RGB", (32, 16), (90, 90, 90)).save(tmp_path / f"{name}.png")
    (tmp_path / "pose").mkdir()
    for k in range(30):
        Image.new("RGB", (8, 8)).save(tmp_path / "pose" / f"{k:03d}.png")
    return write(tmp_path / "s.yaml", """
        output: {fps: 10}
        model: {window: {frames: 8, overlap: 2}}
        subjects: {mara: {description: a girl, images: mara.png}}
        scenes:
          - {duration: 2s, prompts: a, image: start.png, keyframes: [{at: 0.6s, image: key.png}], subjects: mara}
          - {duration: 1s, prompts: b, control: {video: pose, kind: depth}, continue: true, anchor: 0.5}
    """)


def test_plan_shows_which_images_and_subjects_condition_which_frames_and_windows(tmp_path):
    plan = plan_script(load(_script(tmp_path))).plan
    assert [tuple(w) for w in plan.shots[0].windows] == [(0, 8), (6, 14), (12, 20)]
    assert conditioning_lines(plan) == [
        "",
        "conditioning (frames are the video's):",
        "  shot 0 (0:00.000-0:02.000, frames 0-19): anchoring the family's default",
        "    start    start.png (32x16) on frame 0 (0:00.000), window 0",
        "    keyframe key.png (32x16) on frame 6 (0:00.600), windows 0, 1",
        "    subject  mara (mara.png) on frames 0-19 (0:00.000-0:02.000)",
        "  shot 1 (0:02.000-0:03.000, frames 20-29): anchoring 0.5; continues from shot 0's last frames",
        "    control  pose (depth, 30 frames at 10 fps): its frames 0-9 on frames 20-29",
    ]
    assert timeline_table(plan).endswith("\n".join(conditioning_lines(plan)))


def test_a_latent_models_windows_are_named_through_its_latent_frames(tmp_path, monkeypatch):
    wan = registry.FAMILIES["wan"]
    monkeypatch.setitem(registry.FAMILIES, "wan", registry.replace(wan, conditioning=(
        "prompt", "pulse", "keyframes", "references", "control", "continue"), anchor=0.3))
    plan = plan_script(load(_script(tmp_path), model="tiny-wan")).plan
    lines = conditioning_lines(plan)
    # 10 fps shown, 16 fps rendered: frame 6 (0.6 s) shows native frame 10, in latent frame 3 (frames 9-12).
    assert "    keyframe key.png (32x16) on frame 6 (0:00.600), latent frame 3, window 0" in lines
    # The anchoring the script leaves out is the family's; the one it sets, its own.
    assert lines[2].endswith("anchoring 0.3 (wan's default)") and "anchoring 0.5;" in lines[6]


def test_validate_reports_each_images_size_and_each_control_videos_frames(tmp_path):
    result = run_cli("validate", str(_script(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:] == ["  image key.png: 32x16", "  image mara.png: 32x16",
                                              "  image start.png: 32x16",
                                              "  control video pose: 30 frames at 10 fps (3.000 s)"]
    plan = plan_script(load(tmp_path / "s.yaml")).plan
    assert media_summary(plan) == [line.strip() for line in result.stdout.splitlines()[1:]]
