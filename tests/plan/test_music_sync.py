"""Music drives the plan: beats and bars from the analysed grid, sync, beat curves, pulses, offset."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from helpers import probe, read_audio, shared_media, write  # noqa: E402

from storyboard.cli import main  # noqa: E402
from storyboard.music.synth import synth_track, write_wav  # noqa: E402
from storyboard.pipeline import plan_script  # noqa: E402
from storyboard.script.load import load_script  # noqa: E402

FPS = 24


def analyse_beats(path):
    from storyboard.music.analysis import analyse

    return analyse(path).beats


pytestmark = pytest.mark.usefixtures("private_cache")  # the music analysis cache, private to the session


@pytest.fixture(scope="module")
def track128(tmp_path_factory):
    track = synth_track(128.0, 40.0, first_beat_s=0.5)
    return track, write_wav(track, tmp_path_factory.mktemp("music") / "t128.wav")


def plan_of(tmp_path, body: str, music) -> object:
    script = write(tmp_path / "s.yaml", f"output: {{width: 64, height: 64, fps: {FPS}, preset: ultrafast}}\n"
                                        f"music: {{path: {music}{{extra}}}}\n".replace("{extra}", "") + body)
    return plan_script(load_script(script)).plan


def test_beats_and_bars_follow_the_analysed_grid(tmp_path, track128):
    track, path = track128
    plan = plan_of(tmp_path, "scenes:\n  - {duration: 4 beats, prompts: a}\n  - {duration: 2 bars, prompts: b}\n", path)
    assert plan.tempo["source"] == "music" and plan.tempo["bpm"] == pytest.approx(128, rel=0.01)
    period = 60 / 128
    # Durations count beat-lengths along the grid from where the scene starts (here 0 s,
    # before the track's first beat at 0.5 s: the grid extends back at the local period).
    assert abs(plan.scenes[1].start - 4 * period * FPS) <= 1
    assert abs(plan.scenes[1].end - 12 * period * FPS) <= 1
    assert all(abs(f - round(t * FPS)) <= 1 for f, t in zip(plan.beats[1:], track.beats)), "the grid is the track's beats"


def test_sync_beats_puts_every_boundary_on_a_beat_frame(tmp_path, track128):
    _, path = track128
    body = "scenes:\n" + "".join(f"  - {{duration: {d}, prompts: p{i}}}\n" for i, d in enumerate(["2.3s", "1.7s", "3.1s", "50f", "2.9s"]))
    script = write(tmp_path / "s.yaml", f"output: {{fps: {FPS}}}\nmusic: {{path: {path}, sync: beats}}\n" + body)
    plan = plan_script(load_script(script)).plan
    beats = set(plan.beats)
    boundaries = [s.start for s in plan.scenes[1:]]
    assert all(b in beats for b in boundaries), (boundaries, sorted(beats))
    # The video's end is a boundary too: a beat time, though not a frame inside the video.
    grid = [round(t * FPS) for t in analyse_beats(path)]
    assert any(abs(plan.total_frames - g) <= 0 for g in grid)
    moved = [s.snapped_s for s in plan.scenes[1:]] + [plan.end_snapped_s]
    assert any(abs(m) > 0.01 for m in moved), "the plan reports how far each boundary moved"
    assert all(abs(m) <= 60 / 128 / 2 + 0.02 for m in moved), "never more than half a beat"


def test_sync_bars_uses_downbeats(tmp_path, track128):
    _, path = track128
    script = write(tmp_path / "s.yaml", f"output: {{fps: {FPS}}}\nmusic: {{path: {path}, sync: bars}}\n"
                                        "scenes:\n  - {duration: 3s, prompts: a}\n  - {duration: 4s, prompts: b}\n")
    plan = plan_script(load_script(script)).plan
    bars = set(plan.bars)
    assert set(plan.bars) <= set(plan.beats) and len(plan.bars) >= 3
    assert plan.scenes[1].start in bars
    downbeats = [round(t * FPS) for t in analyse_beats(path)[::4]]
    assert plan.total_frames in downbeats


def test_beats_curve_steps_on_beats_shaped_by_onsets_and_ends_at_1(tmp_path, track128):
    _, path = track128
    plan = plan_of(tmp_path, "scenes:\n  - duration: 2 bars\n    curve: beats\n    prompts: [a, b]\n", path)
    weights = [c.w if c.b != c.a else 1.0 for c in plan.shots[0].frames]
    weights[-1] = 1.0 if plan.shots[0].frames[-1].a == plan.prompts.index("b") else weights[-1]
    assert all(b >= a for a, b in zip(weights, weights[1:])), "monotonic"
    steps = [f for f in range(1, len(weights)) if weights[f] != weights[f - 1]]
    beat_frames = set(plan.beats)
    assert all(f in beat_frames or f == plan.scenes[0].end - 1 or f == plan.scenes[0].keys[-1] for f in steps)
    sizes = np.diff([0.0] + [weights[f] for f in steps])
    assert sizes.max() > 1.3 * sizes.min(), "a loud hit moves further than a soft one"
    key = plan.scenes[0].keys[-1]
    assert (plan.shots[0].frames[key - plan.shots[0].start].a, plan.shots[0].frames[key - plan.shots[0].start].w) == (plan.prompts.index("b"), 0.0)


def test_music_offset_shifts_the_grid(tmp_path, track128):
    _, path = track128
    body = "scenes:\n  - {duration: 8 beats, prompts: a, hold: {pulse: beats}}\n"
    plain = plan_of(tmp_path, body, path)
    script = write(tmp_path / "o.yaml", f"output: {{fps: {FPS}}}\nmusic: {{path: {path}, offset: 1s}}\n" + body)
    shifted = plan_script(load_script(script)).plan
    later = [f for f in shifted.beats if f >= 2 * FPS]
    assert later and all(any(abs(f - FPS - g) <= 1 for g in plain.beats) for f in later), "every beat one second later"
    pulses = [f for f, c in enumerate(shifted.shots[0].frames) if c.pulse == pytest.approx(0.5)]
    assert pulses == [b for b in shifted.beats if b < shifted.total_frames] and len(pulses) >= 8


@pytest.mark.slow
def test_audio_in_the_mp4_lines_up_with_the_plans_beats(tmp_path, track128):
    """Kicks in the MP4 sound within 1.5 frames of the plan's beat frames: the analysis
    places beats within a frame, and rounding a beat to its frame adds up to half of one."""
    track, path = track128
    script = write(tmp_path / "s.yaml", f"""
        output: {{width: 64, height: 64, fps: {FPS}, preset: ultrafast}}
        music: {{path: {path}, offset: 0.75s, start: 2s}}
        scenes:
          - {{duration: 16 beats, prompts: a, hold: {{pulse: beats}}}}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out), "-q"]) == 0
    plan = plan_script(load_script(script)).plan
    audio = np.abs(read_audio(out))
    rate = 44100
    errors = []
    first_kick = min(t - 2.0 + 0.75 for t in track.beats if t >= 2.0)
    for f in plan.beats:
        t = f / FPS
        if t < first_kick - 0.05:
            continue  # the grid extends before the music starts; nothing to hear there
        lo = int((t - 0.1) * rate)
        window = audio[max(0, lo): lo + int(0.2 * rate)]
        if len(window) < int(0.2 * rate):
            continue
        onset = max(0, lo) + int(np.argmax(window > 0.3 * window.max()))
        errors.append(abs(onset / rate - t))
    assert len(errors) >= 12
    assert max(errors) <= 1.5 / FPS, f"a beat frame is {max(errors) * 1000:.0f} ms from its kick in the MP4"
    assert probe(out).frames == plan.total_frames


def test_plot_draws_the_timeline(tmp_path, track128, capsys):
    _, path = track128
    script = write(tmp_path / "s.yaml", f"music: {{path: {path}, sync: beats}}\nscenes:\n  - {{duration: 4 beats, prompts: a}}\n"
                                        "  - {duration: 3s, prompts: b, transition: morph}\n")
    png = tmp_path / "plot.png"
    assert main(["plan", str(script), "--plot", str(png)]) == 0
    from PIL import Image

    image = Image.open(png)
    assert image.size[0] == 1600 and image.size[1] > 400
    pixels = np.asarray(image.convert("RGB")).astype(int)
    assert (np.abs(pixels - [250, 250, 248]).sum(axis=2) > 60).mean() > 0.1, "something is drawn"


def test_an_unclear_pulse_is_reported_when_planning(tmp_path, capsys):
    trumpet = shared_media("trumpet-loop-90bpm.ogg") / "trumpet-loop-90bpm.ogg"
    script = write(tmp_path / "s.yaml", f"music: {{path: {trumpet}}}\n"
                                        "scenes:\n  - {duration: 4 beats, prompts: a}\n")
    assert main(["plan", str(script)]) == 0
    err = capsys.readouterr().err
    assert "no clear, regular pulse" in err and "are a guess" in err
