"""The preview animatic draws a script's media (issue 20), checked on real pixels: a start image and
keyframes fill the frame on their frames and fade around them, the subjects in view are thumbnails,
and the control video's frame driving each frame is inset, so timing and placement can be checked
with no GPU."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import numpy as np
import pytest
from helpers import ffmpeg, read_frames, run_cli, write
from PIL import Image, ImageDraw

from storyboard.backends.preview import PreviewBackend
from storyboard.backends.preview.animatic import text_box
from storyboard.backends.preview.pictures import FADE_S, INSET, THUMB, ChangedMedia, covering
from storyboard.pipeline import load, plan_script
from storyboard.plan.data import ShotMedia

W, H, FPS = 320, 176, 10


def _pictures(tmp_path):
    key = Image.new("RGB", (200, 150), (30, 60, 200))
    ImageDraw.Draw(key).ellipse((50, 30, 150, 130), fill=(250, 220, 0))  # a picture with a shape: placement shows
    key.save(tmp_path / "key.png")
    Image.new("RGB", (90, 60), (220, 30, 30)).save(tmp_path / "start.png")
    Image.new("RGB", (40, 40), (20, 200, 60)).save(tmp_path / "mara.png")
    (tmp_path / "pose").mkdir()
    for k in range(40):  # frame k is grey level 5 k: which frame is inset shows in its colour
        Image.new("RGB", (32, 18), (5 * k,) * 3).save(tmp_path / "pose" / f"{k:03d}.png")
    return write(tmp_path / "s.yaml", f"""
        output: {{width: {W}, height: {H}, fps: {FPS}}}
        subjects: {{mara: {{description: a girl, images: mara.png}}}}
        scenes:
          - {{id: one, duration: 2s, prompts: a quiet harbour, image: start.png, subjects: mara,
             keyframes: [{{at: 1.2s, image: key.png}}]}}
          - {{id: two, duration: 2s, prompts: a neon street, control: {{video: pose, kind: pose, start: 3f}}}}
    """)


def _frames(plan, shot):
    return {shot.start + k: f for k, f in enumerate(PreviewBackend().render_shot(plan, shot))}


def _middle(frame: np.ndarray) -> np.ndarray:
    """The band the overlays leave alone: below the header, above the prompt box, between the inset and
    the thumbnails."""
    top = 2 * max(10, H // 32) + 4 + int(H * THUMB) + 2 * max(8, H // 36) + 8  # below the first thumbnail's name
    return frame[top:text_box(W, H)[1], int(W * (INSET + 0.05)):int(W * (1 - 2 * THUMB))].astype(int)


def test_a_keyframe_fills_its_frame_and_fades_around_it(tmp_path):
    plan = plan_script(load(_pictures(tmp_path))).plan
    shot = plan.shots[0]
    key = next(k for k in shot.media.images if k.role == "keyframe")
    assert key.frame == 12  # 1.2 s at 10 fps
    frames = _frames(plan, shot)
    picture = np.asarray(covering(key.path, key.sha256, W, H)).astype(int)
    assert np.abs(_middle(frames[12]) - _middle(picture)).max() == 0  # the picture itself, pixel for pixel
    reach = FADE_S * FPS  # 5 frames
    away = [np.abs(_middle(frames[12 + d]).astype(float) - _middle(picture)).mean() for d in range(0, 7)]
    assert away[0] == 0 and all(a < b for a, b in zip(away[:6], away[1:6]))  # fading out, frame by frame
    assert away[5] == away[6] > 20  # gone at 0.5 s: the animatic alone
    # Between, a blend: 0.8 of the picture a frame away (1 - 1/5), over the animatic drawn without it.
    alone = PreviewBackend().frame(plan, replace(shot, media=ShotMedia()), 13, shot.cond(13))
    blend = 0.2 * _middle(alone) + 0.8 * _middle(picture)
    assert reach == 5 and np.abs(_middle(frames[13]) - blend).max() <= 1


def test_the_start_image_is_the_shots_first_frame(tmp_path):
    plan = plan_script(load(_pictures(tmp_path))).plan
    shot = plan.shots[0]
    start = shot.media.images[0]
    assert (start.frame, start.role) == (0, "start")
    first = _frames(plan, shot)[0]
    picture = np.asarray(covering(start.path, start.sha256, W, H)).astype(int)
    assert np.abs(_middle(first) - _middle(picture)).max() == 0
    assert tuple(picture[H // 2, W // 2]) == (220, 30, 30)


def test_the_subjects_in_view_are_thumbnails_down_the_right_edge(tmp_path):
    plan = plan_script(load(_pictures(tmp_path))).plan
    side, top = int(H * THUMB), 2 * max(10, H // 32) + 4
    x = W - side - max(8, H // 36)

    def thumb(frame):
        return frame[top + 2:top + side - 2, x + 2:x + side - 2].reshape(-1, 3).mean(axis=0)

    one = _frames(plan, plan.shots[0])[5]
    assert np.abs(thumb(one) - (20, 200, 60)).max() < 1  # mara's picture, in scene one
    two = _frames(plan, plan.shots[1])[25]
    assert np.abs(thumb(two) - (20, 200, 60)).max() > 50  # scene two does not show her


def test_the_control_video_is_inset_with_the_frame_that_drives_each_frame(tmp_path):
    plan = plan_script(load(_pictures(tmp_path))).plan
    shot = plan.shots[1]
    (control,) = shot.media.controls
    top = 2 * max(10, H // 32) + 4
    frames = _frames(plan, shot)
    for frame in (20, 21, 30, 39):
        inset = frames[frame][top + 3:top + 10, 8:40].reshape(-1, 3)
        expected = 5 * control.source_frame(frame)
        assert control.source_frame(frame) == frame - 20 + 3  # same rate: its frame 3 on the scene's first
        assert np.abs(inset - expected).max() <= 1, frame
    assert np.abs(frames[20][top + 3:top + 10, 8:40].astype(int) - 15).max() <= 1


def test_a_control_video_file_is_streamed_frame_by_frame(tmp_path):
    _pictures(tmp_path)
    subprocess.run([ffmpeg(), "-loglevel", "error", "-framerate", "10", "-i", str(tmp_path / "pose" / "%03d.png"),
                    "-c:v", "libx264rgb", "-qp", "0", str(tmp_path / "pose.mkv")], check=True)
    script = write(tmp_path / "v.yaml", (tmp_path / "s.yaml").read_text().replace("video: pose,", "video: pose.mkv,"))
    plan = plan_script(load(script)).plan
    shot = plan.shots[1]
    top = 2 * max(10, H // 32) + 4
    frames = _frames(plan, shot)
    for frame in (20, 27, 39):
        inset = frames[frame][top + 3:top + 10, 8:40].astype(int)
        assert np.abs(inset - 5 * (frame - 20 + 3)).max() <= 2, frame


def test_a_file_changed_since_the_plan_is_refused(tmp_path):
    plan = plan_script(load(_pictures(tmp_path))).plan
    Image.new("RGB", (90, 60), (0, 0, 0)).save(tmp_path / "start.png")
    covering.cache_clear()
    with pytest.raises(ChangedMedia, match="start.png changed after the plan was made"):
        next(iter(PreviewBackend().render_shot(plan, plan.shots[0])))


@pytest.mark.slow
def test_the_rendered_video_shows_the_keyframe_on_its_frame(tmp_path):
    script = _pictures(tmp_path)
    result = run_cli("render", str(script), "-q")
    assert result.returncode == 0, result.stderr
    frames = read_frames(tmp_path / "s.mp4", W, H)
    plan = plan_script(load(script)).plan
    key = next(k for k in plan.shots[0].media.images if k.role == "keyframe")
    picture = np.asarray(covering(key.path, key.sha256, W, H)).astype(int)
    errors = [np.abs(_middle(frames[f]) - _middle(picture)).mean() for f in range(len(frames))]
    assert int(np.argmin(errors)) == key.frame and errors[key.frame] < 4  # H.264's loss, no more


def test_the_sketches_are_drawn_the_same_every_time(tmp_path):
    from storyboard.media.sketch import PICTURES, sketch

    first = sketch(tmp_path / "a")
    assert [p.name for p in first] == list(PICTURES)
    assert sketch(tmp_path / "a") == []  # kept
    again = sketch(tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in again]
    with Image.open(first[0]) as mara:
        assert mara.size == (512, 512) and mara.getpixel((256, 300)) == (240, 196, 32)  # the yellow raincoat


@pytest.mark.slow
def test_the_characters_example_renders_with_the_preview_showing_its_pictures(tmp_path, example_media):
    from helpers import ROOT, probe

    out = tmp_path / "characters.mp4"
    result = run_cli("render", str(ROOT / "examples" / "characters.yaml"), "-o", str(out), "-q",
                     "--cache", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    plan = plan_script(load(ROOT / "examples" / "characters.yaml")).plan
    info = probe(out)
    assert (info.frames, info.width, info.height) == (plan.total_frames, 768, 432)
    start, last = plan.shots[0].media.images[0], plan.shots[2].media.images[-1]
    assert (start.frame, last.role) == (0, "last")
    for key in (start, last):
        picture = np.asarray(covering(key.path, key.sha256, 768, 432)).astype(int)
        band = slice(60, 240), slice(230, 500)  # between the inset, the thumbnails, the header and the prompt box
        assert np.abs(_frame_of(out, key.frame, 768, 432)[band].astype(int) - picture[band]).mean() < 4, key.path


def _frame_of(video, index: int, width: int, height: int) -> np.ndarray:
    """Frame ``index`` of a video, decoded alone."""
    raw = subprocess.run([ffmpeg(), "-loglevel", "error", "-i", str(video), "-vf", f"select=eq(n\\,{index})",
                          "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True,
                         check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


def test_a_shots_images_are_read_for_a_family_keyed_by_frame_from_its_start(tmp_path):
    from storyboard.backends.media_files import shot_images

    plan = plan_script(load(_pictures(tmp_path))).plan
    images = shot_images(plan.shots[0])
    assert sorted(images) == [0, 12]  # the start image, the keyframe at 1.2 s
    assert images[0].shape == (60, 90, 3) and images[0].dtype == np.uint8 and tuple(images[0][5, 5]) == (220, 30, 30)
    assert images[12].shape == (150, 200, 3)
    assert shot_images(plan.shots[1]) == {}
