"""Music files as they come: probed before planning, decoded whatever the format, placed
(start, loop, fade) honestly, and synced only where the music is."""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, ffmpeg, write

from storyboard.cli import main
from storyboard.music.synth import synth_track, write_wav
from storyboard.pipeline import plan_script
from storyboard.script.load import load_script

FPS = 24
SCENES = "scenes:\n  - {id: intro, duration: 2s, prompts: a}\n  - {id: main, duration: 2s, prompts: b}\n"


pytestmark = pytest.mark.usefixtures("private_cache")  # the music analysis cache, private to the session


@pytest.fixture(scope="module")
def track120(tmp_path_factory):
    """16 s of synthesised drums and bass at 120 BPM, first beat at 0.5 s."""
    track = synth_track(120.0, 16.0, first_beat_s=0.5)
    return track, write_wav(track, tmp_path_factory.mktemp("music") / "t120.wav")


def encode(source: Path, target: Path, *args: str) -> Path:
    """``source`` re-encoded by the bundled ffmpeg (codec chosen by ``args`` or the suffix)."""
    result = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args, "-i", str(source),
                             str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return target


def validate(capsys, script: Path) -> tuple[int, str]:
    code = main(["validate", str(script)])
    return code, capsys.readouterr().err


def script_with(tmp_path: Path, music: str, scenes: str = SCENES, name: str = "s.yaml") -> Path:
    return write(tmp_path / name, f"output: {{fps: {FPS}}}\nmusic: {music}\n" + scenes)


# --- 1. files with no decodable audio are refused, located, before anything runs ----------


def _text(path: Path) -> None:
    path.write_text("not audio at all\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _header_only(path: Path) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(22050)


@pytest.mark.parametrize("make, why", [(_text, "cannot read it as audio"), (_empty, "empty"),
                                       (_header_only, "holds no samples")])
def test_a_file_without_decodable_audio_is_refused_at_its_path(tmp_path, capsys, make, why):
    make(tmp_path / "music.wav")
    code, err = validate(capsys, script_with(tmp_path, "{path: music.wav, volume: 0.5}"))
    assert code == 2, err
    assert f"{tmp_path / 's.yaml'}:2:15: error: music.path: cannot use 'music.wav' as music" in err, err
    assert why in err and "Traceback" not in err


def test_a_video_without_sound_is_refused(tmp_path, capsys):
    encode(Path("color=c=black:s=64x64:r=24:d=1"), tmp_path / "silent.mp4", "-f", "lavfi")
    code, err = validate(capsys, script_with(tmp_path, "{path: silent.mp4}"))
    assert code == 2 and "music.path: cannot use 'silent.mp4' as music: it has no audio stream" in err, err


def test_a_device_or_pipe_is_refused_without_being_read(tmp_path):
    from storyboard.music.analysis import AudioProbeError, analyse, probe_audio

    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(AudioProbeError, match="not a regular file"):
            probe_audio(path)
        with pytest.raises(AudioProbeError, match="not a regular file"):
            analyse(path)  # hashing the file would block on the pipe, or read /dev/zero forever


def test_probing_costs_no_librosa_and_little_time(tmp_path, track120):
    """What the track adds to validate: CPU time of this process (a busy machine cannot fail it),
    measured after a first validate without music has done the imports (their cost, which varies
    by machine, is test_cli's subject)."""
    _, path = track120
    silent = write(tmp_path / "silent.yaml", f"output: {{fps: {FPS}}}\n" + SCENES)
    script = script_with(tmp_path, f"{{path: {path}}}")
    code = ("import sys, time\nfrom storyboard.cli import main\n"
            f"assert main(['validate', {str(silent)!r}]) == 0\n"
            "t = time.process_time()\n"
            f"assert main(['validate', {str(script)!r}]) == 0\n"
            "print(time.process_time() - t, sorted(m for m in ('librosa', 'torch', 'moviepy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seconds, heavy = out.stdout.strip().splitlines()[-1].split(" ", 1)
    assert heavy.strip() == "[]" and float(seconds) < 0.1, out.stdout


# --- 1. every format the bundled ffmpeg reads --------------------------------------------------


@pytest.mark.parametrize("suffix, args", [(".m4a", ["-c:a", "aac", "-b:a", "160k"]),
                                          (".mp3", ["-c:a", "libmp3lame", "-b:a", "192k"]),
                                          (".mp4", ["-c:a", "aac", "-c:v", "libx264", "-shortest"])])
def test_compressed_formats_and_a_videos_audio_are_analysed_to_the_right_tempo(tmp_path, track120, suffix, args):
    from storyboard.music.analysis import analyse

    track, wav = track120
    inputs = ["-f", "lavfi", "-i", "color=c=black:s=64x64:r=24:d=16"] if suffix == ".mp4" else []
    target = tmp_path / f"t120{suffix}"
    result = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *inputs, "-i", str(wav),
                             *args, str(target)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    found = analyse(target, use_cache=False)
    assert found.tempo_bpm == pytest.approx(120, rel=0.01)
    assert found.duration_s == pytest.approx(16.0, abs=0.1)
    truth = track.beats[(track.beats > 1.0) & (track.beats < 14.5)]
    assert max(np.min(np.abs(np.asarray(found.beats) - t)) for t in truth) < 1.5 / FPS
    plan = plan_script(load_script(script_with(tmp_path, f"{{path: {target}, sync: beats}}"))).plan
    assert plan.tempo["source"] == "music"


# --- 1. start past the file's end ----------------------------------------------------------------


def test_start_past_the_end_of_the_file_says_so(tmp_path, capsys, track120):
    _, path = track120
    scenes = "scenes:\n  - {duration: 8 beats, prompts: a}\n"
    code, err = validate(capsys, script_with(tmp_path, f"{{path: {path}, start: 20s}}", scenes))
    assert code == 2, err
    assert "error: music.start: start 20 s is past the end of" in err and "which is 16 s long" in err, err
    assert "needs a tempo" not in err


# --- 1. music shorter than the video: a warning, loop: true, the fade at the end ------------------


def test_music_that_stops_early_is_warned_about_and_loop_silences_the_warning(tmp_path, capsys, track120):
    _, path = track120
    scenes = "scenes:\n  - {duration: 10s, prompts: a}\n  - {duration: 5s, prompts: b}\n"
    code, err = validate(capsys, script_with(tmp_path, f"{{path: {path}, start: 4s}}", scenes))
    assert code == 0, err
    assert "ends at 12.000 s: the last 3.000 s of the video (15.000 s long) are silent" in err and "loop: true" in err
    code, err = validate(capsys, script_with(tmp_path, f"{{path: {path}, start: 4s, loop: true}}", scenes, "l.yaml"))
    assert code == 0 and "silent" not in err, err
    plan = plan_script(load_script(tmp_path / "l.yaml")).plan
    assert plan.audio[0].loop and plan.to_json()["audio"][0]["loop"] is True


def test_the_story_example_does_not_end_in_silence(example_media):
    planned = plan_script(load_script(ROOT / "examples" / "story.yaml"))
    assert planned.plan.audio[0].loop
    assert not [w for w in planned.warnings if "silent" in w], planned.warnings


def _clicks(path: Path, seconds: float, every: float, rate: int = 8000) -> Path:
    """A mono wav of a steady tone with a loud click every ``every`` seconds from 0."""
    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 440 * t)
    y[(np.arange(0, seconds, every) * rate).astype(int)] = 1.0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((y * 32767).astype("<i2").tobytes())
    return path


def _levels(path: Path) -> tuple[np.ndarray, int]:
    """Left channel of the mix (a float wav) and its rate."""
    import soundfile

    data, rate = soundfile.read(str(path), always_2d=True)
    return data[:, 0], rate


def _rms(y: np.ndarray, rate: int, a: float, b: float) -> float:
    return float(np.sqrt(np.mean(y[int(a * rate): int(b * rate)] ** 2)))


def test_mix_loops_a_short_track_and_fades_out_where_the_track_stops(tmp_path):
    pytest.importorskip("moviepy")
    from storyboard.plan.data import AudioTrackPlan
    from storyboard.render.compose import mix_audio

    short = _clicks(tmp_path / "short.wav", 4.0, 0.5)
    # Without loop: the fade ends with the file (4 s into the video), then silence.
    y, rate = _levels(mix_audio([AudioTrackPlan(str(short), 0.0, 0.0, 1.0, 0.0, 1.0)], 6.0, tmp_path / "a.wav"))
    assert _rms(y, rate, 2.0, 2.9) > 0.1 and _rms(y, rate, 3.9, 4.0) < 0.03 and _rms(y, rate, 4.05, 6.0) < 1e-3
    # Covering the video: the fade ends at the video's end.
    y, rate = _levels(mix_audio([AudioTrackPlan(str(short), 0.0, 0.0, 1.0, 0.0, 1.0)], 2.5, tmp_path / "b.wav"))
    assert _rms(y, rate, 1.0, 1.4) > 0.1 and _rms(y, rate, 2.4, 2.5) < 0.03
    # loop: from start (1 s into the file) to its end, again and again; faded once, at the video's end.
    looped = AudioTrackPlan(str(short), 0.5, 1.0, 1.0, 0.0, 1.0, loop=True)
    y, rate = _levels(mix_audio([looped], 10.0, tmp_path / "c.wav"))
    assert len(y) == 10 * rate
    assert _rms(y, rate, 0.0, 0.45) < 1e-3, "the offset is kept"
    assert min(_rms(y, rate, a, a + 0.5) for a in np.arange(0.5, 8.5, 0.5)) > 0.1, "sound to the fade, no gap"
    assert _rms(y, rate, 9.9, 10.0) < 0.03
    clicks = np.nonzero(np.abs(y[: int(8.9 * rate)]) > 0.5)[0] / rate
    starts = clicks[np.concatenate([[True], np.diff(clicks) > 0.1])]
    # File clicks every 0.5 s from 1 s (its start): in the video at 0.5, 1.0, ... 3.0, then again from 3.5.
    assert np.allclose(starts, np.arange(0.5, 8.9, 0.5), atol=0.01), starts


# --- 2. sync moves a boundary by at most a beat; a huge offset cannot hang anything -------------


def test_sync_leaves_a_boundary_with_no_beat_nearby_as_written_and_names_the_scene(tmp_path, track120):
    _, path = track120
    planned = plan_script(load_script(script_with(tmp_path, f"{{path: {path}, offset: 10s, sync: beats}}")))
    plan = planned.plan
    assert [(s.start, s.end) for s in plan.scenes] == [(0, 48), (48, 96)], "the 2 s intro stays 2 s"
    assert [s.sync_skipped for s in plan.scenes] == [True, True]
    assert any(w.startswith("scene 'intro': sync: beats left its end at 2.000 s as written") for w in planned.warnings)
    assert plan.to_json()["scenes"][0]["sync_skipped"] is True
    # Where the music plays, boundaries still move onto beats (and nothing is flagged).
    synced = plan_script(load_script(script_with(tmp_path, f"{{path: {path}, sync: beats}}", name="t.yaml"))).plan
    assert synced.scenes[1].start in synced.beats and not any(s.sync_skipped for s in synced.scenes)
    assert "sync_skipped" not in synced.to_json()["scenes"][0]


def test_sync_moves_a_boundary_at_most_one_beat_or_one_bar():
    from storyboard.music.grid import ConstantTempo
    from storyboard.plan.sync import snap, snap_reach

    beats = [0.5 * k for k in range(20)]
    grid = ConstantTempo(120.0)
    assert snap(2.2, 0.0, beats, 0.02, snap_reach(grid, 2.2, "beats", 4, beats)) == 2.0
    # The nearest beat is taken by the previous boundary: the next one, 0.45 s (under a beat) away.
    assert snap(2.05, 2.0, beats, 0.02, snap_reach(grid, 2.05, "beats", 4, beats)) == 2.5
    assert snap(20.0, 0.0, beats, 0.02, snap_reach(grid, 20.0, "beats", 4, beats)) is None, "past the music's end"
    bars = beats[::4]
    assert snap(2.8, 0.0, bars, 0.02, snap_reach(grid, 2.8, "bars", 4, bars)) == 2.0, "within a bar"


def test_a_huge_offset_cannot_hang_planning_or_validate(tmp_path, track120):
    from storyboard.music.analysis import analyse

    # A beat grid 10^9 s away (past what a script may write, so straight to compile_plan).
    code = ("from storyboard.script.load import load_script_text\n"
            "from storyboard.plan.compile import compile_plan\n"
            "from storyboard.music.grid import BeatGrid\n"
            f"script = load_script_text({SCENES!r}, 't.yaml')\n"
            "beats = tuple(1e9 + 0.5 * k for k in range(64))\n"
            "plan = compile_plan(script, BeatGrid(beats), None, beats)\n"
            "print(plan.total_frames, [s.sync_skipped for s in plan.scenes])\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["96", "[True,", "True]"]
    # And a script whose music starts most of a day into the video.
    _, path = track120
    analyse(path)  # warm the cache the subprocess shares: it then runs no librosa
    script = script_with(tmp_path, f"{{path: {path}, offset: 80000s, sync: beats}}")
    result = subprocess.run([sys.executable, "-m", "storyboard", "validate", str(script)], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "ok: 2 scenes, 2 shots, 96 frames" in result.stdout and "after the video ends" in result.stderr


def test_a_probed_file_is_noted_and_not_probed_again_until_it_changes(tmp_path, monkeypatch):
    """validate's music probe costs an ffmpeg run once per file version; a damaged note, or a cache
    that cannot be written, costs a probe again, never a wrong length."""
    from storyboard.music import analysis

    monkeypatch.setenv("STORYBOARD_CACHE", str(tmp_path / "cache"))
    runs = []
    real = analysis._ffmpeg_decode
    monkeypatch.setattr(analysis, "_ffmpeg_decode", lambda *a, **k: runs.append(a[0]) or real(*a, **k))

    def probe(path: Path) -> float:
        analysis._probe.cache_clear()  # a new process: only the note on disk is left
        return analysis.probe_audio(path).duration_s

    song = tmp_path / "song.wav"
    write_wav(synth_track(120.0, 1.0), song)
    assert probe(song) == pytest.approx(1.0, abs=0.01) and len(runs) == 1
    assert probe(song) == pytest.approx(1.0, abs=0.01) and len(runs) == 1  # from the note
    notes = list((tmp_path / "cache" / "audio").glob("probe-*.json"))
    assert len(notes) == 1

    write_wav(synth_track(120.0, 2.0), song)  # a new version of the file
    assert probe(song) == pytest.approx(2.0, abs=0.01) and len(runs) == 2
    for damage in ('{"version": 1}', "not json", '{"duration_s": "long"}'):
        for note in (tmp_path / "cache" / "audio").glob("probe-*.json"):
            note.write_text(damage)
        before = len(runs)
        assert probe(song) == pytest.approx(2.0, abs=0.01) and len(runs) == before + 1

    monkeypatch.setenv("STORYBOARD_CACHE", str(song))  # a file where the cache folder should be
    assert probe(song) == pytest.approx(2.0, abs=0.01) and probe(song) == pytest.approx(2.0, abs=0.01)
