"""Nothing of the user's is lost: outputs never land on inputs, the cache checks itself and
deletes only what it wrote, and no partial file outlives the process that wrote it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from helpers import probe, run_cli, write

from storyboard.cli import main
from storyboard.files import host_tag, sweep_stale_partials, temporary_sibling
from storyboard.music.synth import synth_track, write_wav

SMALL = "output: {width: 64, height: 64, fps: 12, preset: ultrafast}\n"


def three_scenes(folder, output="v.mp4", captions="srt", music=None):
    lines = [f"output: {{path: {output}, width: 64, height: 64, fps: 12, preset: ultrafast, captions: {captions}}}",
             *([f"music: {{path: {music}}}"] if music else []),
             "scenes:",
             "  - {id: a, duration: 1s, prompts: a red room, caption: one}",
             "  - {id: b, duration: 1s, prompts: a blue room, transition: {type: crossfade, duration: 0.25s}}",
             "  - {id: c, duration: 1s, prompts: a green room}"]
    return write(folder / "s.yaml", "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(synth_track(120.0, 4.0), tmp_path_factory.mktemp("music") / "beat.wav")


# --- 1. outputs that would clobber inputs -----------------------------------------------------


def test_output_naming_the_music_is_refused_before_any_work(tmp_path, wav, capsys):
    music = tmp_path / "beat.wav"
    music.write_bytes(wav.read_bytes())
    script = three_scenes(tmp_path, output="beat.wav", music="beat.wav")
    before = music.read_bytes()
    assert main(["render", str(script)]) == 2
    err = capsys.readouterr().err
    assert "would be written over music track 1" in err and "s.yaml:1:" in err
    assert music.read_bytes() == before
    assert not (tmp_path / ".storyboard-cache").exists()  # no work was done


def test_dash_o_naming_the_script_itself_is_refused(tmp_path, capsys):
    script = three_scenes(tmp_path)
    before = script.read_bytes()
    assert main(["render", str(script), "-o", str(script)]) == 2
    assert "would be written over the script" in capsys.readouterr().err
    assert script.read_bytes() == before


def test_subtitles_landing_on_the_video_are_refused(tmp_path, capsys):
    script = three_scenes(tmp_path, output="sub.srt", captions="srt")
    assert main(["render", str(script)]) == 2
    err = capsys.readouterr().err
    assert "the subtitles" in err and "would be written over the video" in err
    assert not (tmp_path / "sub.srt").exists()


def test_a_device_or_a_folder_is_never_replaced(tmp_path, capsys):
    script = three_scenes(tmp_path)
    assert main(["render", str(script), "-o", "/dev/null"]) == 2
    assert "not a regular file" in capsys.readouterr().err
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    (tmp_path / "folder.mp4").mkdir()
    assert main(["render", str(script), "-o", str(tmp_path / "folder.mp4")]) == 2
    assert "which is a folder" in capsys.readouterr().err


def test_an_output_inside_a_cache_is_refused(tmp_path, capsys):
    script = three_scenes(tmp_path)
    cache = tmp_path / ".storyboard-cache"
    assert main(["render", str(script), "-o", str(cache / "x.mp4")]) == 2  # this render's own cache
    assert "inside a cache folder" in capsys.readouterr().err
    (tmp_path / "other-cache").mkdir()
    (tmp_path / "other-cache" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    assert main(["render", str(script), "-o", str(tmp_path / "other-cache" / "x.mp4")]) == 2  # any tagged cache
    assert "inside a cache folder" in capsys.readouterr().err


# --- 2. a script writes only inside its folder ------------------------------------------------


@pytest.mark.parametrize("path", ["~/.bashrc", "/tmp/evil.mp4", "../outside.mp4", "out/../../outside.mp4"])
def test_a_script_cannot_write_outside_its_folder(tmp_path, path, capsys):
    script = three_scenes(tmp_path / "project", output=f'"{path}"')
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "output.path" in err and "leaves the script's folder" in err and "-o" in err
    assert main(["render", str(script)]) == 2


def test_a_symlink_out_of_the_folder_is_caught_when_resolved(tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    (project / "out").symlink_to(tmp_path)
    script = three_scenes(project, output="out/v.mp4")
    assert main(["render", str(script)]) == 2
    assert "outside the script's folder" in capsys.readouterr().err


def test_dash_o_may_write_anywhere_the_user_chooses(tmp_path):
    script = three_scenes(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere" / "v.mp4"
    assert main(["render", str(script), "-o", str(elsewhere), "-q"]) == 0
    assert probe(elsewhere).frames == 36


# --- 3. prune deletes only what the cache wrote -------------------------------------------


def test_prune_refuses_a_folder_that_is_not_a_cache(tmp_path, capsys):
    videos = tmp_path / "videos"
    (videos / "pieces").mkdir(parents=True)
    mine = [videos / "holiday.mkv", videos / "holiday.json", videos / "pieces" / "a.h264", videos / "song.m4a"]
    for f in mine:
        f.write_bytes(b"precious")
    script = three_scenes(tmp_path)
    assert main(["cache", "prune", str(script), "--cache", str(videos)]) == 2
    assert "is not a storyboard cache" in capsys.readouterr().err
    assert main(["cache", "show", "--cache", str(videos)]) == 2
    assert all(f.read_bytes() == b"precious" for f in mine)


@pytest.mark.slow
def test_prune_deletes_only_key_named_files_in_a_cache(tmp_path, capsys):
    script = three_scenes(tmp_path)
    assert main(["render", str(script), "-q"]) == 0
    cache = tmp_path / ".storyboard-cache"
    assert (cache / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    strays = [cache / "holiday.mkv", cache / "notes.json", cache / "pieces" / "mine.h264", cache / "pieces" / "audio-x.m4a"]
    for f in strays:
        f.write_bytes(b"keep me")
    other = write(tmp_path / "other.yaml", SMALL + "scenes:\n  - {duration: 1s, prompts: something else}\n")
    assert main(["cache", "prune", str(other), "--cache", str(cache)]) == 0
    assert "pruned 3 of 3 segments" in capsys.readouterr().out
    assert sorted(p.name for p in cache.glob("*.mkv")) == ["holiday.mkv"]
    assert [p.name for p in cache.glob("*.json")] == ["notes.json"]
    assert sorted(p.name for p in (cache / "pieces").iterdir()) == ["audio-x.m4a", "mine.h264"]
    assert all(f.read_bytes() == b"keep me" for f in strays)


# --- 4. damaged cache entries are made again ----------------------------------------------


@pytest.mark.slow
def test_a_truncated_piece_is_encoded_again_and_the_video_has_every_frame(tmp_path, capsys):
    script = three_scenes(tmp_path)
    assert main(["render", str(script), "-q"]) == 0
    biggest = max((tmp_path / ".storyboard-cache" / "pieces").glob("*.h264"), key=lambda p: p.stat().st_size)
    data = biggest.read_bytes()
    biggest.write_bytes(data[: len(data) * 2 // 3])
    assert main(["render", str(script)]) == 0
    captured = capsys.readouterr()
    assert f"piece {biggest.name}" in captured.err and "truncated" in captured.err
    assert "36 frames" in captured.out
    assert probe(tmp_path / "v.mp4").frames == 36
    assert biggest.read_bytes() != data[: len(data) * 2 // 3]


@pytest.mark.slow
def test_flipped_bytes_in_a_segment_render_it_again(tmp_path, capsys):
    script = three_scenes(tmp_path)
    assert main(["render", str(script), "-q"]) == 0
    segment = sorted((tmp_path / ".storyboard-cache").glob("*.mkv"))[0]
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0xFF
    segment.write_bytes(bytes(data))
    assert main(["render", str(script)]) == 0
    err = capsys.readouterr().err
    assert f"segment {segment.name}" in err and "does not match its checksum" in err and "rendering it again" in err
    assert "1 to render, 2 reused" in err


@pytest.mark.slow
def test_segments_from_before_checksums_are_adopted_when_whole_and_rendered_when_not(tmp_path, capsys):
    """Upgrading must not throw away hours of GPU work: an old segment (its note has no checksum)
    that still holds all its frames is reused and sealed; a truncated one is rendered again."""
    import json

    script = three_scenes(tmp_path)
    assert main(["render", str(script), "-q"]) == 0
    cache = tmp_path / ".storyboard-cache"
    segments = sorted(cache.glob("*.mkv"))
    for segment in segments:  # the notes as the previous version wrote them
        note = json.loads(segment.with_suffix(".json").read_text())
        segment.with_suffix(".json").write_text(json.dumps({k: note[k] for k in ("shot", "scenes", "frames")}))
    truncated = segments[0]
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    assert main(["render", str(script)]) == 0
    err = capsys.readouterr().err
    assert "1 to render, 2 reused" in err and f"segment {truncated.name}" in err
    assert all("sha256" in json.loads(s.with_suffix(".json").read_text()) for s in segments)
    assert probe(tmp_path / "v.mp4").frames == 36


@pytest.mark.slow
def test_a_truncated_music_piece_is_encoded_again(tmp_path, wav, capsys):
    (tmp_path / "beat.wav").write_bytes(wav.read_bytes())
    script = three_scenes(tmp_path, music="beat.wav")
    assert main(["render", str(script), "-q"]) == 0
    music = next((tmp_path / ".storyboard-cache" / "pieces").glob("audio-*.m4a"))
    music.write_bytes(music.read_bytes()[:100])
    assert main(["render", str(script)]) == 0
    assert "the encoded music" in capsys.readouterr().err
    assert probe(tmp_path / "v.mp4").audio_s == pytest.approx(3.0, abs=0.05)


# --- 5. no partial file outlives its writer ---------------------------------------------


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_partials_of_dead_processes_are_swept_and_others_kept(tmp_path):
    mine = temporary_sibling(tmp_path / "v.mp4", ".mp4")  # this process: alive
    pid = dead_pid()
    dead = tmp_path / f".v.{pid}-{host_tag()}.abcdefgh.part.mp4"
    legacy = tmp_path / f".v.{pid}.abcdefgh.part.mkv"  # written before partials named their machine
    elsewhere = tmp_path / f".v.{pid}-000000.abcdefgh.part.mp4"  # another machine sharing the folder
    user = tmp_path / ".notes.part.txt"
    for f in (dead, legacy, elsewhere, user):
        f.write_bytes(b"x")
    removed = sweep_stale_partials(tmp_path)
    assert sorted(p.name for p in removed) == sorted([dead.name, legacy.name])
    assert mine.exists() and elsewhere.exists() and user.exists()


@pytest.mark.slow
def test_sigkill_leftovers_are_swept_by_the_next_render(tmp_path):
    script = write(tmp_path / "long.yaml", "output: {width: 320, height: 192, fps: 24, preset: ultrafast}\nscenes:\n"
                   + "".join(f"  - {{duration: 3s, prompts: scene {i}}}\n" for i in range(8)))
    proc = subprocess.Popen([sys.executable, "-m", "storyboard", "render", str(script), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    cache = tmp_path / ".storyboard-cache"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(cache.glob(".*.part*")):
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # the render and its encoders, with no chance to clean up
    proc.wait()
    assert list(tmp_path.rglob(".*.part*")), "the kill should have left partials behind"
    result = run_cli("render", str(script), "-q")
    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.rglob("*") if ".part" in p.name] == []
    assert probe(tmp_path / "long.mp4").frames == 8 * 3 * 24


def test_commit_over_a_folder_leaves_no_partial(tmp_path, capsys):
    (tmp_path / "schema.json").mkdir()
    assert main(["schema", "-o", str(tmp_path / "schema.json")]) == 2
    assert [p.name for p in tmp_path.iterdir()] == ["schema.json"]


def test_an_interruption_waits_for_a_shielded_block():
    from storyboard.interrupts import install, shielded

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    install()
    try:
        reached_end = False
        with pytest.raises(KeyboardInterrupt):
            with shielded():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)  # the handler runs here, and must not raise inside the block
                reached_end = True
        assert reached_end
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


def test_abort_all_stops_every_running_encoder(tmp_path):
    import numpy as np

    from storyboard.render.encode import VideoEncoder, _live, abort_all

    encoders = [VideoEncoder(tmp_path / f"{n}.mp4", 64, 64, 12, preset="ultrafast") for n in range(2)]
    for encoder in encoders:
        encoder.write(np.zeros((64, 64, 3), np.uint8))
    assert set(encoders) <= _live
    abort_all()
    assert not (set(encoders) & _live)
    assert all(e._proc.poll() is not None for e in encoders)
    assert list(tmp_path.iterdir()) == []


# --- 6. bounds on size -------------------------------------------------------------------------


@pytest.mark.parametrize("duration", ["1.0e+308", "'999999999999999999999999f'", "1000000", "9" * 400,
                                      "'100000 bars'"])
def test_absurd_durations_are_refused_at_the_field(tmp_path, duration, capsys):
    script = write(tmp_path / "s.yaml", f"bpm: 120\nscenes:\n  - {{duration: {duration}, prompts: a}}\n")
    started = time.process_time()  # CPU seconds: a busy machine slows the clock, not the work
    assert main(["validate", str(script)]) == 2
    assert time.process_time() - started < 5  # refused before any per-frame work (1000000 s took 51 s and 4.8 GB)
    err = capsys.readouterr().err
    assert "s.yaml:3:16: error: scenes[0].duration:" in err and "24 hours" in err


def test_a_video_longer_than_24_hours_is_refused_at_the_scene_that_passes_it(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "scenes:\n" + "".join(f"  - {{duration: 30000, prompts: p{i}}}\n" for i in range(3)))
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert "scenes[2].duration" in err and "at most 24 hours" in err and "scenes[1]" not in err


def test_a_day_at_a_high_frame_rate_is_refused_by_its_frame_count(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "output: {fps: 120}\nscenes:\n  - {duration: 40000, prompts: a}\n")
    assert main(["validate", str(script)]) == 2
    assert "4800000 frames" in capsys.readouterr().err


def test_a_tiny_tempo_cannot_hang_planning(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "bpm: 0.001\nscenes:\n  - {duration: 8 beats, prompts: a}\n")
    assert main(["plan", str(script)]) == 2
    assert "s.yaml:1:6: error: bpm: expected a tempo from 1 to 400 BPM, got 0.001" in capsys.readouterr().err
    script = write(tmp_path / "s.yaml", "bpm: 1\nscenes:\n  - {duration: 100000 beats, prompts: a}\n")
    started = time.process_time()
    assert main(["plan", str(script)]) == 2
    assert "at most 24 hours" in capsys.readouterr().err and time.process_time() - started < 5


def test_a_one_hour_pulsing_hold_plans_without_a_frames_by_beats_loop(tmp_path):
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script

    script = load_script(write(tmp_path / "s.yaml", "bpm: 120\nscenes:\n  - {duration: 3600, prompts: a, hold: {pulse: beats}}\n"))
    started = time.process_time()  # CPU seconds
    plan = compile_plan(script)
    assert time.process_time() - started < 5  # 10 s before, with a loop over frames x beats; ~0.3 s now
    pulses = [c.pulse for c in plan.shots[0].frames]
    assert len(pulses) == 86400 and pulses[0] == pulses[12] == pulses[86388] > 0  # a beat every 12 frames
    assert pulses[11] < pulses[12] / 10


def test_synth_refuses_what_it_cannot_hold(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "x.wav"), "--bars", "2000", "--bpm", "20"]) == 2
    assert "at most 10 minutes" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- 10. errors that say what happened; 12. timecodes that cannot be misread -------------------


def test_a_size_off_the_grid_names_the_nearest_sizes(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", "output: {width: 1366, height: 768}\nscenes:\n  - {duration: 1s, prompts: a}\n")
    assert main(["validate", str(script)]) == 2
    assert "output.width: 1366 is not a multiple of 8 (nearest: 1360 or 1368)" in capsys.readouterr().err


def test_a_hold_over_a_glide_says_where_the_glide_moves(tmp_path, capsys):
    script = write(tmp_path / "s.yaml", """\
        scenes:
          - duration: 4s
            prompts: [{at: 0, text: a}, {at: 2s, text: b}]
            hold: {at: 1s, duration: 2s}
        """)
    assert main(["validate", str(script)]) == 2
    err = capsys.readouterr().err
    assert ("the hold (1.000s to 3.000s into the scene) overlaps a prompt glide, which moves from 0.000s to 2.000s "
            "(they share 1.000s to 2.000s)") in err


@pytest.mark.parametrize("fps", [12, 24, 25, 30, 60])
def test_every_printed_timecode_reads_back_as_its_own_frame(fps):
    from storyboard.plan.times import frame_at
    from storyboard.plan.compile import compile_plan
    from storyboard.script.load import load_script_text
    from storyboard.script.timecode import parse_time

    plan = compile_plan(load_script_text(f"output: {{fps: {fps}}}\nscenes:\n  - {{duration: 130s, prompts: a}}\n"))
    assert plan.timecode(23) == f"0:{23 / fps:06.3f}"  # seconds and milliseconds, never "0:00.23" for 23 frames
    for frame in range(0, plan.total_frames, 7):
        assert frame_at(parse_time(plan.timecode(frame)).amount, fps) == frame


def test_validate_says_where_the_video_and_subtitles_go_and_checks_them(tmp_path, capsys):
    script = three_scenes(tmp_path, output="out/v.mp4", captions="both")
    assert main(["validate", str(script)]) == 0
    out = capsys.readouterr().out
    assert f"writes {tmp_path / 'out' / 'v.mp4'} and {tmp_path / 'out' / 'v.srt'}" in out
    assert f"cache {tmp_path / 'out' / '.storyboard-cache'}" in out
    bad = three_scenes(tmp_path / "b", output="s.yaml")
    assert main(["validate", str(bad)]) == 2
    assert "would be written over the script" in capsys.readouterr().err


def test_a_blank_line_in_a_caption_cannot_start_a_new_subtitle(tmp_path):
    from storyboard.plan.compile import compile_plan
    from storyboard.render.compose import write_srt
    from storyboard.script.load import load_script

    script = write(tmp_path / "s.yaml", 'scenes:\n  - {duration: 2s, prompts: a, caption: "first\\n\\n2\\n00:00:09,000 --> 00:00:10,000\\nforged"}\n')
    text = write_srt(compile_plan(load_script(script)), tmp_path / "s.srt").read_text()
    cues = [block for block in text.strip().split("\n\n") if block.strip()]
    assert len(cues) == 1 and cues[0].startswith("1\n00:00:00,000 --> 00:00:02,000\nfirst\n2\n")
