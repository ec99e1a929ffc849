"""Outputs never replace an input of any kind, nor a file storyboard did not write (issue 24, fault 4),
and a studio render renders exactly the text that was checked (issue 24, fault 2)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import write

from storyboard.cli import main
from storyboard.files import VIDEO_MARK, written_by_storyboard

SMALL = "width: 64, height: 64, fps: 12, preset: ultrafast"
SCENES = "scenes:\n  - {id: a, duration: 0.5s, prompts: a red room}\n"


def script(folder: Path, output: str, extra: str = "", name: str = "s.yaml") -> Path:
    return write(folder / name, f"output: {{path: {output}, {SMALL}, captions: none}}\n{extra}{SCENES}")


def refused(capsys, *argv: str) -> str:
    """Run storyboard with ``argv``: it must exit 2; what it said."""
    assert main(list(argv)) == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("command", ["validate", "render"])
def test_a_voice_and_its_config_are_never_replaced(tmp_path, capsys, command):
    onnx, config = tmp_path / "me.onnx", tmp_path / "me.onnx.json"
    onnx.write_bytes(b"\x08\x01voice weights" * 100)
    config.write_text('{"audio": {"sample_rate": 22050}}')
    for target, what in (("me.onnx", "the voice (" + str(onnx)), ("me.onnx.json", "the voice's config")):
        s = script(tmp_path, target, "voice: {voice: me.onnx}\n")
        err = refused(capsys, command, str(s))
        assert f"would be written over {what}" in err and "s.yaml:1:" in err
    # -o or --force never lets the voice go either
    s = script(tmp_path, "v.mp4", "voice: {voice: me.onnx}\n")
    assert "would be written over the voice" in refused(capsys, "render", str(s), "-o", str(onnx))
    assert "would be written over the voice's config" in refused(capsys, "render", str(s), "-o", str(config), "--force")
    assert onnx.read_bytes() == b"\x08\x01voice weights" * 100 and config.read_text().startswith('{"audio"')


def test_a_scenes_own_voice_is_protected_too(tmp_path, capsys):
    from storyboard.voice.voices import DEFAULT_VOICE, find_voice

    voice = find_voice(DEFAULT_VOICE)  # a real voice, so that the narration is spoken: links to it
    (tmp_path / "v2.onnx").symlink_to(voice.model)
    (tmp_path / "v2.onnx.json").symlink_to(voice.config)
    s = write(tmp_path / "s.yaml", f"output: {{path: v2.onnx, {SMALL}}}\nscenes:\n"
              "  - {id: a, duration: 2s, prompts: a room, narration: {text: Hello., voice: v2.onnx}}\n")
    assert "would be written over scene 1's voice" in refused(capsys, "validate", str(s))


def test_nothing_lands_in_a_local_model_folder(tmp_path, capsys, monkeypatch):
    model = tmp_path / "my-model"
    (model / "unet").mkdir(parents=True)
    weights = model / "unet" / "config.json"
    weights.write_text('{"_class_name": "UNet3DConditionModel"}')
    monkeypatch.chdir(tmp_path)
    s = script(tmp_path, "my-model/unet/config.json", "model: {id: my-model}\n")
    err = refused(capsys, "validate", str(s))
    assert f"would be written inside the model folder ({Path('my-model')})" in err
    assert "the segment cache" in err and "inside the model folder" in err  # the cache beside it would be too
    # -o into the model folder, and a --cache inside it, are refused as well
    s = script(tmp_path, "v.mp4", "model: {id: my-model}\n")
    assert "inside the model folder" in refused(capsys, "render", str(s), "--model", "my-model", "-o",
                                                 "my-model/new.mp4", "--dry-run")
    assert "segment cache (my-model/c) would be written inside the model folder" in refused(
        capsys, "render", str(s), "--model", "my-model", "--cache", "my-model/c", "--dry-run")
    assert weights.read_text().startswith('{"_class_name"')


def test_a_sibling_script_or_any_file_storyboard_did_not_write_needs_force(tmp_path, capsys):
    sibling = write(tmp_path / "other.yaml", "version: 1\nscenes: []\n")
    s = script(tmp_path, "other.yaml")
    err = refused(capsys, "validate", str(s))
    assert f"the video would replace {sibling}, which storyboard did not write" in err and "pass --force" in err
    assert "s.yaml:1:" in err
    mine = tmp_path / "holiday.mp4"  # a user's own video: not ours either
    mine.write_bytes(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64)
    s = script(tmp_path, "holiday.mp4")
    assert "which storyboard did not write" in refused(capsys, "render", str(s))
    assert mine.read_bytes().startswith(b"\x00\x00\x00\x18ftyp")
    assert sibling.read_text() == "version: 1\nscenes: []\n"


@pytest.mark.slow
def test_storyboards_own_video_is_replaced_and_force_or_dash_o_replace_a_foreign_file(tmp_path, capsys):
    s = script(tmp_path, "v.mp4")
    assert main(["render", str(s), "-q"]) == 0
    video = tmp_path / "v.mp4"
    assert written_by_storyboard(video)
    assert main(["render", str(s), "-q"]) == 0  # its own video: replaced with no --force
    other = write(tmp_path / "notes.txt", "my notes")
    s2 = script(tmp_path, "notes.txt", name="t.yaml")
    assert "did not write" in refused(capsys, "render", str(s2), "-q")
    assert other.read_text() == "my notes"
    assert main(["render", str(s2), "-q", "--force"]) == 0
    assert written_by_storyboard(other)
    write(other, "my notes again")
    assert main(["render", str(s), "-q", "-o", str(other)]) == 0  # -o is the user's own choice
    assert written_by_storyboard(other)


def test_the_mark_is_read_from_the_moov_box_only(tmp_path):
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    ours = tmp_path / "a.mp4"
    ours.write_bytes(box(b"ftyp", b"isom" * 4) + box(b"moov", box(b"udta", VIDEO_MARK.encode())) + box(b"mdat", b"x" * 99))
    assert written_by_storyboard(ours)
    not_in_moov = tmp_path / "b.mp4"
    not_in_moov.write_bytes(box(b"ftyp", b"isom" * 4) + box(b"mdat", VIDEO_MARK.encode()) + box(b"moov", b"x" * 9))
    assert not written_by_storyboard(not_in_moov)
    text = tmp_path / "c.mp4"
    text.write_text(f"moov {VIDEO_MARK}")
    assert not written_by_storyboard(text)
    broken = tmp_path / "d.mp4"
    broken.write_bytes(box(b"ftyp", b"isom") + b"\x00\x00\x00\x03moov")  # a box shorter than its header
    assert not written_by_storyboard(broken)
    assert not written_by_storyboard(tmp_path / "missing.mp4")


def test_the_studios_own_files_are_refused(tmp_path, capsys):
    state = tmp_path / ".storyboard-studio"
    (state / "previews").mkdir(parents=True)
    jobs = write(state / "jobs.json", '{"version": 1, "jobs": []}')
    lock = write(state / "studio.lock", "pid 1")
    for target in (".storyboard-studio/jobs.json", ".storyboard-studio/studio.lock",
                   ".storyboard-studio/previews/x.mp4", ".storyboard-studio/served/y.mp4"):
        err = refused(capsys, "validate", str(script(tmp_path, target)))
        assert "inside the studio's own folder" in err, target
    # -o may aim into the previews (the studio's previews do), never at its other files
    s = script(tmp_path, "v.mp4")
    assert main(["render", str(s), "--dry-run", "-o", str(state / "previews" / "p.mp4")]) == 0
    assert "inside the studio's own folder" in refused(capsys, "render", str(s), "-o", str(jobs), "--force")
    assert jobs.read_text() == '{"version": 1, "jobs": []}' and lock.read_text() == "pid 1"


# --- fault 2: the text that was checked is the text that is rendered ----------------------------------


def test_render_insists_on_the_bytes_that_were_checked(tmp_path, capsys):
    s = script(tmp_path, "v.mp4")
    checked = hashlib.sha256(s.read_bytes()).hexdigest()
    assert main(["render", str(s), "--dry-run", "--expect-sha256", checked]) == 0
    capsys.readouterr()
    write(s, s.read_text().replace("a red room", "a blue room"))  # saved again by someone else
    err = refused(capsys, "render", str(s), "--expect-sha256", checked)
    assert f"{s} changed after it was checked" in err and "not rendered" in err
    assert not (tmp_path / ".storyboard-cache").exists() and not (tmp_path / "v.mp4").exists()


def test_render_confined_to_a_folder_refuses_music_outside_it(tmp_path, capsys):
    outside = tmp_path / "secret.wav"
    outside.write_bytes(b"RIFF")
    inside = tmp_path / "project"
    inside.mkdir()
    s = script(inside, "v.mp4", f"music: {{path: {outside}}}\n")
    err = refused(capsys, "render", str(s), "--dry-run", "--confine", str(inside))
    assert f"'{outside}' leaves the studio's folder ({inside})" in err and "s.yaml:2:" in err


def test_a_studio_job_renders_the_checked_text_not_what_was_saved_after(tmp_path, monkeypatch):
    """A second session saves other text between a job's check and its child's start: the child refuses it."""
    from storyboard.studio.folder import Folder
    from storyboard.studio.jobs import RenderQueue

    (tmp_path / "out").mkdir()
    s = script(tmp_path, "out/v.mp4")
    outside = tmp_path.parent / f"{tmp_path.name}-secret.wav"
    outside.write_bytes(b"RIFF")
    queue = RenderQueue(Folder.at(tmp_path), run=False)
    started = []
    real_start = RenderQueue._start

    def save_in_the_gap(self, job, sha256):
        write(s, f"output: {{path: .storyboard-studio/previews/leak.mp4, {SMALL}}}\nmusic: {{path: {outside}}}\n{SCENES}")
        started.append(sha256)
        return real_start(self, job, sha256)

    monkeypatch.setattr(RenderQueue, "_start", save_in_the_gap)
    job = queue.submit("s.yaml", "preview")
    queue.worker.start()
    jobs = queue.wait(lambda js: js[0].state not in ("queued", "running"), timeout=120)
    queue.close(5)
    assert started and jobs[0].state == "failed" and jobs[0].code == 2, jobs[0]
    assert "changed after it was checked" in jobs[0].message
    assert not list((tmp_path / ".storyboard-studio").rglob("*.mp4")) and not (tmp_path / "out" / "v.mp4").exists()
    assert job.id == jobs[0].id
