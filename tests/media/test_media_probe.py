"""The media probe and what validate says with it (issue 20): each image and control video decodable,
measured and hashed; a control video shorter than its scene; a model that cannot take what the script
gives it; and no Pillow for a script that names no media."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
from helpers import ffmpeg, run_cli, write
from PIL import Image

from storyboard.backends import registry
from storyboard.errors import ScriptErrors
from storyboard.media.gather import probe_media_files
from storyboard.media.probe import MediaProbeError, probe_frames_folder, probe_image, probe_video
from storyboard.pipeline import load, plan_script


def picture(path, size=(40, 30), colour=(200, 40, 40)):
    Image.new("RGB", size, colour).save(path)
    return path


def clip(path, seconds: float, fps: int = 25, size: str = "32x24"):
    subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"testsrc=size={size}:rate={fps}", "-t", str(seconds), "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def test_an_image_is_measured_from_its_header_and_hashed(tmp_path):
    path = picture(tmp_path / "a.png", (40, 30))
    info = probe_image(path)
    assert (info.width, info.height, info.format) == (40, 30, "PNG")
    assert info.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "b.png").write_text("not a picture")
    with pytest.raises(MediaProbeError, match="not an image storyboard reads"):
        probe_image(tmp_path / "b.png")


def test_a_control_video_counts_its_frames_and_reads_its_rate(tmp_path):
    info = probe_video(clip(tmp_path / "d.mp4", 2.0, fps=25))
    assert (info.frames, info.fps, info.width, info.height, info.duration_s) == (50, 25.0, 32, 24, 2.0)


def test_a_folder_of_frames_counts_its_image_files_at_the_scripts_rate(tmp_path):
    for k in range(7):
        picture(tmp_path / f"f{k:03d}.png", (16, 12), (k * 30, 0, 0))
    (tmp_path / "notes.txt").write_text("not a frame")
    (tmp_path / ".hidden.png").write_text("hidden")
    info = probe_frames_folder(tmp_path, 24)
    assert (info.frames, info.fps, info.width, info.height, info.folder) == (7, 24.0, 16, 12, True)
    assert info.names == tuple(f"f{k:03d}.png" for k in range(7))
    before = info.sha256
    picture(tmp_path / "f003.png", (16, 12), (1, 2, 3))
    assert probe_frames_folder(tmp_path, 24).sha256 != before  # a frame's bytes are in the checksum


def _validate(script) -> tuple[int, str]:
    result = run_cli("validate", str(script))
    return result.returncode, result.stderr


def test_undecodable_media_fail_validate_at_their_fields_with_exit_2_and_nothing_written(tmp_path):
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n but not really")
    (tmp_path / "dance.mp4").write_text("no video here")
    os.mkfifo(tmp_path / "pipe.png")
    script = write(tmp_path / "s.yaml", """
        scenes:
          - {duration: 1s, prompts: a, image: broken.png}
          - {duration: 1s, prompts: b, control: {video: dance.mp4, kind: pose}}
          - {duration: 1s, prompts: c, keyframes: [{at: 0.5s, image: pipe.png}]}
    """)
    code, said = _validate(script)
    assert code == 2
    assert "s.yaml:2:39: error: scenes[0].image: cannot use 'broken.png' as an image: it is not an image" in said
    assert ("s.yaml:3:49: error: scenes[1].control.video: cannot use 'dance.mp4' as a control video: it is not a "
            "video file storyboard reads") in said
    assert "s.yaml:4:62: error: scenes[2].keyframes[0].image: image 'pipe.png' is not a regular file" in said
    assert "3 errors" in said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.png", "dance.mp4", "pipe.png", "s.yaml"]


def test_a_control_video_shorter_than_its_scene_says_by_how_much(tmp_path):
    clip(tmp_path / "dance.mp4", 3.2, fps=25)  # 80 frames
    script = write(tmp_path / "s.yaml", """
        output: {fps: 24}
        scenes:
          - {duration: 4s, prompts: a, control: {video: dance.mp4, kind: pose, start: 10f}}
          - {duration: 3s, prompts: b, control: {video: dance.mp4, kind: depth}}
    """)
    code, said = _validate(script)
    assert code == 2
    # The scene's 96 frames at 24 fps need its frames 10 to 108 (99 of them): it has 70 from frame 10.
    assert ("s.yaml:3:49: error: scenes[0].control.video: control video 'dance.mp4' is too short for the scene: "
            "from 10f (its frame 10) it has 70 frames (2.800 s at 25 fps), and the scene (96 frames, 4.000 s at "
            "24 fps) needs 99: 1.160 s (29 of its frames) short") in said
    assert "1 error" not in said and said.count("error:") == 1  # the 3 s scene fits in its 3.2 s


def test_validate_reports_every_media_mistake_with_the_timing_ones(tmp_path):
    picture(tmp_path / "a.png")
    script = write(tmp_path / "s.yaml", """
        subjects: {mara: {description: a girl, images: a.png}}
        scenes:
          - {duration: 1s, prompts: a, subjects: marra, keyframes: [{at: 3s, image: a.png}]}
          - {duration: 1s, prompts: b, image: missing.png}
    """)
    with pytest.raises(ScriptErrors) as caught:
        plan_script(load(script))
    said = [(e.line, e.message[:38]) for e in caught.value.errors]
    assert said == [(3, "unknown subject 'marra'; the script de"), (3, "'3s' (3.000s) is after the scene ends "),
                    (4, "image 'missing.png' does not exist (lo")]


def test_an_image_given_to_a_text_only_model_is_refused_naming_who_can(tmp_path, monkeypatch):
    picture(tmp_path / "a.png")
    script = write(tmp_path / "s.yaml", """
        model: tiny-random
        subjects: {mara: {description: a girl, images: a.png}}
        scenes:
          - {duration: 1s, prompts: a, image: a.png, subjects: mara}
    """)
    with pytest.raises(ScriptErrors) as caught:
        plan_script(load(script))
    said = {e.path: e.message for e in caught.value.errors}
    takers = [f for f in registry.FAMILIES.values() if f.takes("image")]
    assert said[("scenes", 0, "image")] == (
        "model 'tiny-random' (unet3d) cannot take start images (a shot begins on a picture): it conditions on "
        "prompt and pulse only; start images are taken by "
        + ", ".join(f"{f.name} ({', '.join(f.checkpoints)})" for f in takers) + " and the preview")
    assert "wan_i2v (Wan-AI/Wan2.1-I2V-14B-480P-Diffusers, " in said[("scenes", 0, "image")]
    # What no family takes yet, only the preview draws.
    assert said[("scenes", 0, "subjects")] == (
        "model 'tiny-random' (unet3d) cannot take subjects' reference images (in every frame of the scenes citing "
        "them): it conditions on prompt and pulse only; no model family storyboard drives takes subjects' reference "
        "images yet: only the preview draws them for now (--model preview)")
    # A family that registers what it takes is named too, with its checkpoints, by a word that implies it.
    wan = registry.FAMILIES["wan"]
    monkeypatch.setitem(registry.FAMILIES, "wan", registry.replace(wan, conditioning=("prompt", "pulse", "keyframes")))
    with pytest.raises(ScriptErrors) as caught:
        plan_script(load(script))
    said = {e.path: e.message for e in caught.value.errors}
    assert "start images are taken by wan (Wan-AI/Wan2.1-T2V-1.3B-Diffusers), wan_i2v (" in said[("scenes", 0, "image")]
    assert plan_script(load(script, model="preview")).plan.shots[0].media.images[0].role == "start"


def test_a_script_without_media_imports_no_pillow_or_probe(tmp_path):
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: a}\n")
    code = ("import sys; from storyboard.pipeline import load, plan_script; plan_script(load(sys.argv[1])); "
            "print(sorted(m for m in ('PIL', 'numpy', 'storyboard.media.probe') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(script)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_each_file_is_probed_once_however_often_it_is_named(tmp_path, monkeypatch):
    picture(tmp_path / "a.png")
    script = write(tmp_path / "s.yaml", """
        subjects: {mara: {description: a girl, images: [a.png, ./a.png]}}
        scenes:
          - {duration: 1s, prompts: a, image: a.png, keyframes: [{at: end, image: a.png}]}
    """)
    import storyboard.media.probe as probe

    calls = []
    real = probe.probe_image
    monkeypatch.setattr(probe, "probe_image", lambda p: calls.append(p) or real(p))
    _, media = probe_media_files(load(script))
    assert len(calls) == 1 and list(media.images) == [str(tmp_path / "a.png")]


def test_the_studio_and_confine_refuse_media_outside_their_folder(tmp_path):
    from storyboard.studio.checks import path_problems
    from storyboard.studio.folder import Folder

    root = tmp_path / "studio"
    root.mkdir()
    picture(tmp_path / "outside.png")
    picture(root / "inside.png")
    script = write(root / "s.yaml", """
        subjects: {mara: {description: a girl, images: ../outside.png}}
        scenes:
          - {duration: 1s, prompts: a, image: inside.png, control: {video: /etc, kind: edge}}
    """)
    refused = path_problems(load(script), Folder.at(str(root)))
    assert [(e.path, e.message.split(";")[0]) for e in refused] == [
        (("subjects", "mara", "images"), f"'../outside.png' leaves the studio's folder ({root.resolve()})"),
        (("scenes", 0, "control", "video"), f"'/etc' leaves the studio's folder ({root.resolve()})")]


def test_the_studio_reports_media_as_validate_does(tmp_path):
    from storyboard.studio.checks import check_text
    from storyboard.studio.folder import Folder

    picture(tmp_path / "a.png", (40, 30))
    text = "scenes:\n  - {duration: 1s, prompts: a, image: a.png}\n"
    script = write(tmp_path / "s.yaml", text)
    said = run_cli("validate", "s.yaml", cwd=tmp_path)
    assert said.returncode == 0 and said.stdout.splitlines()[1:] == ["  image a.png: 40x30"]
    assert check_text(text, script, Folder.at(str(tmp_path))).report() == said.stdout.rstrip("\n")


def test_render_refuses_an_image_for_a_text_only_model_before_any_work(tmp_path):
    picture(tmp_path / "a.png")
    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: a, keyframes: [{at: end, image: a.png}]}\n")
    result = run_cli("render", str(script), "--model", "tiny-random", "-q")
    assert result.returncode == 2
    assert result.stderr.startswith(f"{script}:2:43: error: scenes[0].keyframes: model 'tiny-random' (unet3d) "
                                    "cannot take an image on a shot's last frame")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "s.yaml"]  # no video, no cache


# --- hostile files: a project folder is an attacker's -------------------------------------------------------------


def test_a_picture_of_another_format_is_never_opened_by_its_plugin(tmp_path, monkeypatch):
    """PostScript named .png would make Pillow run Ghostscript: only PNG, JPEG, WebP, BMP, TIFF and GIF open."""
    from PIL import EpsImagePlugin

    ran = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: ran.append(a) or None)
    (tmp_path / "eps.png").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n")
    with pytest.raises(MediaProbeError, match="not an image storyboard reads"):
        probe_image(tmp_path / "eps.png")
    assert ran == []


def test_a_decompression_bomb_or_damaged_pixels_are_refused_at_validate(tmp_path):
    Image.new("1", (8000, 6000)).save(tmp_path / "bomb.png")  # 48 megapixels in a few kilobytes
    whole = picture(tmp_path / "whole.png", (64, 64)).read_bytes()
    (tmp_path / "cut.png").write_bytes(whole[:len(whole) // 2])  # its header whole, its pixels cut short
    with pytest.raises(MediaProbeError, match="8000x6000 pixels, more than storyboard opens .40 megapixels at most."):
        probe_image(tmp_path / "bomb.png")
    with pytest.raises(MediaProbeError, match="its pixels are damaged"):
        probe_image(tmp_path / "cut.png")


def test_a_control_video_may_not_be_a_list_of_other_files(tmp_path):
    """An ffconcat list (or an HLS playlist) would read files from anywhere: refused, and quickly."""
    outside = clip(tmp_path / "outside.mp4", 0.5)
    (tmp_path / "dance.mp4").write_text(f"ffconcat version 1.0\nfile {outside}\n")
    (tmp_path / "dance.m3u8").write_text(f"#EXTM3U\n#EXTINF:0.5,\n{outside}\n#EXT-X-ENDLIST\n")
    for name in ("dance.mp4", "dance.m3u8"):
        with pytest.raises(MediaProbeError, match="not a video file storyboard reads .* lists of files are refused"):
            probe_video(tmp_path / name)
    assert probe_video(outside).frames == 13  # a real video still counts


def test_a_folder_of_frames_may_not_link_elsewhere_and_is_checked_again_when_drawn(tmp_path):
    from storyboard.backends.media_files import ChangedMedia
    from storyboard.backends.preview.pictures import ControlFrames
    from storyboard.plan.data import ControlSpan

    secret = picture(tmp_path / "secret.png", (8, 8), (0, 0, 250))
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        picture(frames / f"f{i}.png", (8, 8), (250, 0, 0))
    info = probe_frames_folder(frames, 8)
    (frames / "f3.png").symlink_to(secret)
    with pytest.raises(MediaProbeError, match="'f3.png' is a link: a folder of frames holds the frames themselves"):
        probe_frames_folder(frames, 8)
    (frames / "f3.png").unlink()
    span = ControlSpan(path=info.path, sha256=info.sha256, kind="pose", start=0, end=3, first=0, fps=8,
                       source_fps=8.0, source_frames=3, scene=0, names=info.names)
    assert ControlFrames(span, 8).frame(2).getpixel((0, 0)) == (250, 0, 0)
    picture(frames / "f1.png", (8, 8), (0, 0, 250))  # changed after the plan
    with pytest.raises(ChangedMedia, match="its frames changed after the plan was made"):
        ControlFrames(span, 8)


def test_frames_are_taken_in_the_order_of_their_numbers(tmp_path):
    frames = tmp_path / "frames"
    frames.mkdir()
    for n in (10, 2, 1, 100):
        picture(frames / f"frame{n}.png", (8, 8))
    assert probe_frames_folder(frames, 8).names == ("frame1.png", "frame2.png", "frame10.png", "frame100.png")


def test_a_picture_swapped_for_a_device_after_the_plan_is_never_read(tmp_path):
    from storyboard.backends.media_files import ChangedMedia, checked_bytes

    path = picture(tmp_path / "a.png")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    assert checked_bytes(str(path), sha) == path.read_bytes()
    path.unlink()
    path.symlink_to("/dev/zero")
    with pytest.raises(ChangedMedia, match="no longer a regular file"):
        checked_bytes(str(path), sha)


def test_sixteen_bit_grey_transparency_and_a_turned_photo_come_out_as_they_look(tmp_path):
    import numpy as np

    from storyboard.backends.media_files import read_image

    grey = tmp_path / "grey16.png"
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(grey)  # half of 16-bit white
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (0, 255, 0, 0)).save(clear)  # green, but fully transparent
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 64 x 32, shown a quarter turned: 32 x 64
    Image.new("RGB", (64, 32), (10, 10, 10)).save(turned, exif=exif)

    def drawn(path):
        return read_image(str(path), hashlib.sha256(path.read_bytes()).hexdigest())

    assert drawn(grey).getpixel((0, 0)) == (128, 128, 128)
    assert drawn(clear).getpixel((0, 0)) == (0, 0, 0)
    assert drawn(turned).size == (32, 64) and (probe_image(turned).width, probe_image(turned).height) == (32, 64)
