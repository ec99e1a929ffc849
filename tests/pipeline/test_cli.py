import ast
import os
import subprocess
import sys

import pytest
from helpers import ROOT, run_cli, write

HEAVY = ["torch", "diffusers", "transformers", "librosa", "moviepy", "numba", "scipy"]


def loaded_by(argv: list[str], modules: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Which of ``modules`` ``storyboard ARGV`` has imported when it ends (in a fresh process, which
    must exit 0)."""
    code = ("import sys\n"
            "from storyboard.cli import main\n"
            f"assert main({argv!r}) == 0\n"
            f"print(sorted(m for m in {modules!r} if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", ["story", "explainer", "night-city"])
def test_validate_imports_nothing_heavy(example_media, warm_cache, tmp_path, name):
    """night-city times scenes to its music: with the analysis cached, no librosa either. explainer's
    narration is spoken here, in an empty cache: the speech engine imports nothing heavy either."""
    cache = warm_cache(name) if name == "night-city" else tmp_path / "cache"
    env = {**os.environ, "STORYBOARD_CACHE": str(cache)}
    assert loaded_by(["validate", str(ROOT / "examples" / f"{name}.yaml")], HEAVY, env) == []


def test_validate_without_a_voice_loads_no_speech_engine(example_media):
    """story.yaml narrates nothing: validating it leaves the speech engine and numpy unimported
    (together a quarter of a second of CPU, a third of what validate took)."""
    assert loaded_by(["validate", str(ROOT / "examples" / "story.yaml")], ["numpy", "storyboard.voice.speech"]) == []


@pytest.mark.parametrize("name", ["night-city", "explainer"])
def test_validate_with_a_warm_cache_loads_no_numpy(name, warm_cache):
    """With its music analysed and its narration spoken (the cache warm), validating a script reads
    the analysis and the speech timings from their notes: numpy stays unimported (0.2 s of CPU)."""
    warm_cache(name)
    assert loaded_by(["validate", str(ROOT / "examples" / f"{name}.yaml")], ["numpy", "librosa", "piper"]) == []


def test_validate_takes_under_a_second(example_media):
    """CPU time of the whole command, interpreter start included (wall time would measure the machine's load)."""
    best = min(_timed("validate", str(ROOT / "examples" / "story.yaml")) for _ in range(3))
    assert best < 1.0, f"storyboard validate took {best:.2f} s of CPU"


def _timed(*args: str) -> float:
    """CPU seconds (user + system) the command took."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_cli(*args)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert result.returncode == 0, result.stderr
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


@pytest.mark.parametrize("command", ["validate", "plan", "render", "schema", "synth"])
def test_every_command_explains_itself(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: storyboard {command}")
    assert len(result.stdout) > 200


def test_top_level_help_lists_commands_and_examples():
    result = run_cli("--help")
    for word in ["validate", "plan", "render", "schema", "examples:"]:
        assert word in result.stdout


def test_plan_prints_a_timeline(tmp_path):
    script = write(tmp_path / "s.yaml", """
        bpm: 120
        scenes:
          - {id: intro, duration: 2 bars, prompts: a street}
          - {id: rise, duration: 3s, transition: {type: morph, duration: 1s}, prompts: a tower}
          - {id: end, duration: 48f, transition: {type: crossfade, duration: 0.5s}, prompts: a sea}
    """)
    result = run_cli("plan", str(script))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].split()[:6] == ["0", "intro", "0:00.000", "0:04.000", "96", "0"]
    assert lines[3].split()[:8] == ["1", "rise", "0:04.000", "0:07.000", "72", "0", "morph", "24f"]
    assert lines[4].split()[:8] == ["2", "end", "0:07.000", "0:09.000", "48", "1", "crossfade", "12f"]
    assert "216 frames, 9.000 s at 24 fps" in result.stdout


def test_synth_writes_a_wav_of_the_asked_length(tmp_path):
    out = tmp_path / "loop.wav"
    result = run_cli("synth", str(out), "--bpm", "90", "--bars", "2")
    assert result.returncode == 0, result.stderr
    import wave

    with wave.open(str(out)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 44100
        assert w.getnframes() == pytest.approx(44100 * 8 * 60 / 90, abs=1)


def test_synth_rejects_an_absurd_tempo(tmp_path):
    result = run_cli("synth", str(tmp_path / "x.wav"), "--bpm", "5000")
    assert result.returncode == 2 and "expected a tempo from 20 to 400 BPM" in result.stderr
    assert not (tmp_path / "x.wav").exists()


@pytest.mark.slow
def test_preview_render_imports_no_torch(tmp_path):
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 8, preset: ultrafast}
        scenes:
          - {duration: 1s, prompts: a red room}
          - {duration: 1s, transition: morph, prompts: a blue sea}
    """)
    command = ["render", str(script), "-o", str(tmp_path / "v.mp4"), "-q"]
    assert loaded_by(command, ["torch", "diffusers", "transformers", "librosa"]) == []
    assert (tmp_path / "v.mp4").stat().st_size > 0
