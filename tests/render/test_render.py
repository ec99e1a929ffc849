"""End to end: script -> preview frames -> MP4 with music, probed from the file itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from helpers import probe, read_audio, read_frames, write

from storyboard.backends.preview import PreviewBackend, prompt_colours
from storyboard.cli import main
from storyboard.music.synth import synth_track, write_wav
from storyboard.plan.compile import compile_plan
from storyboard.script.load import load_script, load_script_text


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> tuple[Path, np.ndarray]:
    track = synth_track(120.0, 12.0, bass=False)
    return write_wav(track, tmp_path_factory.mktemp("music") / "beat.wav"), track.beats


@pytest.mark.slow
def test_render_probes_right(tmp_path, music, capsys):
    path, _ = music
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 320, height: 176, fps: 24, preset: veryfast, captions: both}}
        music: {{path: {path}, volume: 0.8, fade_in: 0.5s, fade_out: 0.5s}}
        scenes:
          - {{id: a, duration: 2.5s, prompts: a red room, caption: Hello}}
          - {{id: b, duration: 40f, transition: morph, prompts: a blue sea}}
          - {{id: c, duration: 1.75s, transition: {{type: crossfade, duration: 0.5s}}, prompts: a green field}}
    """)
    out = tmp_path / "out" / "video.mp4"
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    said = capsys.readouterr().out
    expected_frames = 60 + 40 + 42
    assert f"wrote {out}" in said and f"{expected_frames} frames" in said
    p = probe(out)
    assert (p.width, p.height, p.fps, p.video_codec) == (320, 176, 24.0, "h264")
    assert p.frames == expected_frames
    assert p.audio_codec == "aac"
    assert abs(p.audio_s - expected_frames / 24) <= 1 / 24, "audio as long as the video, within a frame"
    srt = out.with_suffix(".srt").read_text()
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,500\nHello\n")
    assert sorted(x.name for x in out.parent.iterdir()) == [".storyboard-cache", "video.mp4", "video.srt"]
    leftovers = [p.name for p in out.parent.rglob("*") if ".part" in p.name]
    assert leftovers == [], "no temporary files left"
    assert len(list((out.parent / ".storyboard-cache").glob("*.mkv"))) == 2, "one segment per shot"


@pytest.mark.slow
def test_audio_stays_in_sync_to_the_end(tmp_path, music):
    """Kicks in the file at time T must sound at T - start + offset in the video, to the last one."""
    path, beats = music
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 64, height: 64, fps: 25, preset: ultrafast}}
        music: {{path: {path}, offset: 0.5s, start: 1s}}
        scenes:
          - {{duration: 10s, prompts: x}}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    audio = read_audio(out)
    rate = 44100
    assert abs(len(audio) / rate - 10.0) <= 1 / 25
    expected = [b - 1.0 + 0.5 for b in beats if 0.5 <= b - 1.0 + 0.5 < 9.8 and b >= 1.0]
    energy = np.abs(audio)
    found = []
    for t in expected:
        lo = int((t - 0.1) * rate)
        window = energy[lo: lo + int(0.2 * rate)]
        onset = lo + int(np.argmax(window > 0.25 * window.max()))
        found.append(onset / rate)
    errors = np.abs(np.asarray(found) - np.asarray(expected))
    assert len(expected) >= 15
    assert errors.max() < 0.010, f"worst beat is {errors.max() * 1000:.1f} ms off"
    assert np.abs(audio[: int(0.45 * rate)]).max() < 1e-3, "silence before the track's offset"


def _plan(text: str):
    return compile_plan(load_script_text(text, "t.yaml"))


class Constant:
    """A backend whose every frame of shot k is filled with the value ``values[k]``."""

    name, version = "constant", "1"

    def __init__(self, values):
        self.values = values

    def render_shot(self, plan, shot, progress=None):
        for _ in range(shot.length):
            yield np.full((plan.height, plan.width, 3), self.values[shot.index], np.uint8)

    def close(self):
        pass


def render_constant(monkeypatch, plan, values, out):
    from storyboard.render.orchestrate import render_plan

    monkeypatch.setattr("storyboard.backends.open_backend", lambda model_id, p: Constant(values))
    return render_plan(plan, out, quiet=True)


@pytest.mark.slow
def test_crossfade_blends_handle_and_new_shot_by_the_plan_weights(tmp_path, monkeypatch):
    plan = _plan("""
        output: {width: 64, height: 64, fps: 10, quality: 0, preset: ultrafast}
        scenes:
          - {duration: 1s, prompts: a}
          - {duration: 1s, prompts: b, transition: {type: crossfade, duration: 0.4s}}
    """)
    render_constant(monkeypatch, plan, [200, 0], tmp_path / "v.mp4")
    frames = read_frames(tmp_path / "v.mp4", 64, 64)
    assert len(frames) == 20
    values = [int(f[32, 32, 0]) for f in frames]
    expected = [200] * 10 + [160, 120, 80, 40] + [0] * 6  # 200 * (1 - k / 5): the plan's weights
    assert all(abs(v - e) <= 2 for v, e in zip(values, expected)), values


@pytest.mark.slow
def test_captions_are_burnt_in_only_while_they_run(tmp_path, monkeypatch):
    plan = _plan("""
        output: {width: 320, height: 176, fps: 10, captions: burn, quality: 0, preset: ultrafast}
        scenes:
          - {duration: 1s, prompts: a, caption: {text: Look here, at: 0.5s}}
    """)
    out = tmp_path / "v.mp4"
    render_constant(monkeypatch, plan, [50], out)
    frames = read_frames(out, 320, 176)
    bottom = frames[:, 120:, :, :].astype(int)
    assert np.abs(bottom[:5] - 50).max() <= 2, "no caption before 0.5 s"
    assert all(np.abs(bottom[k] - 50).max() > 100 for k in range(5, 10)), "caption from 0.5 s"
    assert not out.with_suffix(".srt").exists()


def test_preview_colours_follow_prompt_similarity():
    def dist(a: str, b: str) -> float:
        return float(np.abs(prompt_colours(a)[0] - prompt_colours(b)[0]).sum())

    base = "a red sunset over the sea"
    assert dist(base, "a red sunset over the sea, film grain") < dist(base, "a blue ice cave at night")
    assert prompt_colours(base)[0][0] > prompt_colours(base)[0][2], "red dominates a red prompt"
    np.testing.assert_array_equal(prompt_colours(base)[0], prompt_colours(base)[0])


def test_preview_blends_colours_by_the_morph_weight():
    plan = _plan("""
        output: {width: 64, height: 64, fps: 10}
        scenes:
          - {duration: 1s, prompts: solid red}
          - {duration: 1s, prompts: solid blue, transition: {type: morph, duration: 1s}}
    """)
    backend = PreviewBackend()
    frames = list(backend.render_shot(plan, plan.shots[0]))
    assert len(frames) == 20
    red_share = [f[60, 2, 0] / max(1, int(f[60, 2, 0]) + int(f[60, 2, 2])) for f in frames[10:]]
    assert all(b < a for a, b in zip(red_share, red_share[1:])), "the colour moves from red to blue"
    again = list(PreviewBackend().render_shot(plan, plan.shots[0]))
    assert all(np.array_equal(x, y) for x, y in zip(frames, again)), "deterministic"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["explainer", "night-city", "story"])
def test_examples_render_as_is(tmp_path, name, example_media):
    from helpers import ROOT

    from storyboard.pipeline import plan_script

    plan = plan_script(load_script(ROOT / "examples" / f"{name}.yaml")).plan
    out = tmp_path / f"{name}.mp4"
    assert main(["render", str(ROOT / "examples" / f"{name}.yaml"), "-o", str(out), "-q"]) == 0
    p = probe(out)
    assert p.frames == plan.total_frames
    assert (p.width, p.height) == (plan.width, plan.height)
    if plan.audio:
        assert abs(p.audio_s - plan.duration_s) <= 1 / plan.fps
