"""Ctrl-C always exits 130, wherever it lands, and leaves nothing half-written.

A terminal sends Ctrl-C's SIGINT to the whole foreground process group: storyboard and
every ffmpeg it runs. These tests do the same (``killpg``) at times spread over a render,
from the imports to the final mux.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import write

LONG = ("output: {width: 320, height: 192, fps: 24, preset: ultrafast}\nscenes:\n"
        + "".join(f"  - {{duration: 30s, prompts: scene {i}, transition: {'crossfade' if i else 'cut'}}}\n"
                  for i in range(20)))  # 10 minutes of video: no render ends before the last Ctrl-C (4 s)


def ctrl_c_at(script, out, delay_s: float) -> subprocess.CompletedProcess[str]:
    """Run ``storyboard render`` in its own process group and press Ctrl-C ``delay_s`` seconds after
    storyboard has started (its handlers are in)."""
    proc = subprocess.Popen([sys.executable, "-m", "storyboard", "render", str(script), "-o", str(out), "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    handlers_in(proc.pid)
    time.sleep(delay_s)
    ended = proc.poll()
    if ended is None:
        os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert ended is None, f"the render ended (exit {ended}) before Ctrl-C at {delay_s} s: nothing was interrupted\n{stderr}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def handlers_in(pid: int, limit_s: float = 60.0) -> None:
    """Wait until process ``pid`` catches SIGTERM, which storyboard's first line does and Python alone
    does not. Before that Python itself is starting (a Ctrl-C there is Python's "Fatal Python error:
    init_import_site", exit 1), which no program can guard; beside two CPU hogs that took 0.4 s."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            caught = re.search(r"^SigCgt:\s*([0-9a-f]+)$", status.read_text(), re.M)
        except OSError:  # it has ended, or there is no /proc
            return
        if caught is None or int(caught.group(1), 16) & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.002)


@pytest.mark.slow
@pytest.mark.parametrize("delay_s", [0.5, 0.8, 1.2, 1.6, 2.0, 2.5, 3.0, 4.0])
def test_ctrl_c_to_the_process_group_exits_130_at_any_moment(tmp_path, delay_s):
    script = write(tmp_path / "long.yaml", LONG)
    out = tmp_path / "v.mp4"
    result = ctrl_c_at(script, out, delay_s)
    partials = [p.name for p in tmp_path.rglob("*") if ".part" in p.name]
    assert partials == []
    assert result.returncode == 130, result.stderr
    assert "interrupted" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_a_failure_caused_by_the_interruption_still_exits_130(monkeypatch, tmp_path, capsys):
    """After Ctrl-C, what breaks on the way out (an ffmpeg the same Ctrl-C stopped; an import a
    Rust extension turned into a panic, which is a BaseException) is the interruption: 130."""
    from storyboard import cli, interrupts
    from storyboard.render.encode import EncodeError

    class Panic(BaseException):
        pass

    script = write(tmp_path / "s.yaml", "scenes:\n  - {duration: 1s, prompts: a}\n")
    for failure in (EncodeError("ffmpeg exited with code 255"), Panic("KeyboardInterrupt"), BrokenPipeError()):
        def interrupted(args, failure=failure):
            interrupts._received = True  # what the signal handler records
            raise failure

        def unprompted(args, failure=failure):
            raise failure

        monkeypatch.setitem(cli.COMMANDS, "validate", interrupted)
        assert cli.main(["validate", str(script)]) == 130
        assert "interrupted" in capsys.readouterr().err
        if isinstance(failure, Exception) and not isinstance(failure, BrokenPipeError):
            monkeypatch.setitem(cli.COMMANDS, "validate", unprompted)
            assert cli.main(["validate", str(script)]) == 1  # the same failure, unprompted, is a failure


@pytest.mark.slow
def test_a_full_disk_says_no_space_left_and_leaves_nothing(tmp_path):
    """ffmpeg's writes go to /dev/full (every write fails with ENOSPC), as on a full disk."""
    from storyboard.files import ffmpeg_exe

    wrapper = tmp_path / "ffmpeg-on-a-full-disk"
    wrapper.write_text(f"#!{sys.executable}\nimport os, sys\nargs = sys.argv[1:]\n"
                       "if args and '.part' in args[-1]:\n    args[-1] = '/dev/full'\n"
                       f"os.execv({ffmpeg_exe()!r}, [{ffmpeg_exe()!r}] + args)\n")
    wrapper.chmod(0o755)
    script = write(tmp_path / "s.yaml", "output: {width: 64, height: 64, fps: 8}\nscenes:\n  - {duration: 2s, prompts: a}\n")
    env = {**os.environ, "IMAGEIO_FFMPEG_EXE": str(wrapper)}
    result = subprocess.run([sys.executable, "-m", "storyboard", "render", str(script), "--quiet"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 1, result.stderr
    assert "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr and "seek of closed file" not in result.stderr
    assert not (tmp_path / "s.mp4").exists()
    assert [p.name for p in tmp_path.rglob("*") if ".part" in p.name] == []


def test_an_interruption_that_lands_in_a_finaliser_is_raised_again_without_a_traceback(capsys):
    """A signal can arrive while the garbage collector closes a generator (an ffmpeg reader's
    clean-up): Python would print "Exception ignored ... Traceback" and carry on. It is raised
    again in the main flow, and nothing is printed."""
    import gc
    import signal

    from storyboard import interrupts

    def reader():
        try:
            yield 1
        finally:
            raise KeyboardInterrupt  # what the handler does when the signal lands here

    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    interrupts.install()
    try:
        with pytest.raises(KeyboardInterrupt):
            g = reader()
            next(g)
            del g
            gc.collect()
            for _ in range(1000):  # the re-raise lands at one of the next bytecodes
                time.sleep(0.001)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    err = capsys.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err


def run_module(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` the way ``python -m storyboard`` runs, as a module (Python ends ``-c`` code and
    script files at ``sys.exit`` at once, so these hide what happens to ``-m`` at exit)."""
    write(tmp_path / "snippet.py", code)
    return subprocess.run([sys.executable, "-m", "snippet"], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_an_interruption_that_lands_in_code_run_from_a_string_still_exits_130(tmp_path):
    """dataclasses build each ``__init__`` with ``exec`` of a string. CPython marks a
    KeyboardInterrupt that leaves such code as unhandled, even once caught, and ``python -m``
    then ends with SIGINT (return code -2, not 130): the fifth suite run beside a CPU hog
    failed so when Ctrl-C landed 0.5 s in, among the imports. Here a command's Ctrl-C lands
    inside ``exec`` every time."""
    result = run_module(tmp_path,
        "import sys\n"
        "from storyboard import cli\n"
        "def main(argv=None):\n"
        "    try:\n"
        "        exec('import os, signal\\nos.kill(os.getpid(), signal.SIGINT)\\nfor _ in range(10**6): pass')\n"
        "    except KeyboardInterrupt as exc:\n"
        "        landed = exc.__traceback__\n"
        "        while landed.tb_next:\n"
        "            landed = landed.tb_next\n"
        "        print('landed in', landed.tb_frame.f_back.f_code.co_filename)\n"  # (the frame the handler ran in)
        "        return 130\n"
        "    return 0\n"
        "cli.main = main\n"
        "from storyboard.__main__ import run\n"
        "sys.exit(run())\n")
    assert "landed in <string>" in result.stdout, result.stdout
    assert result.returncode == 130, (result.returncode, result.stdout, result.stderr)


def test_a_signal_after_the_exit_code_is_chosen_cannot_change_it(tmp_path):
    """Ctrl-C while Python shuts down, after the command finished: the exit code stands and
    nothing is printed (Python restores the default action as it shuts down, where the
    signal would kill the process instead)."""
    script = Path(__file__).resolve().parents[2] / "examples" / "story.yaml"
    result = run_module(tmp_path,
        "import atexit, os, signal, sys\n"
        "from storyboard.__main__ import run\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))\n"
        f"sys.argv = ['storyboard', 'validate', {str(script)!r}]\n"
        "code = run()\n"
        "os.kill(os.getpid(), signal.SIGTERM)\n"
        "sys.exit(code)\n")
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "ok" in result.stdout
    assert "KeyboardInterrupt" not in result.stderr and "Exception ignored" not in result.stderr


def test_a_shielded_block_in_another_thread_does_not_hold_back_an_interruption():
    """Only the main thread receives signals: a block shielded in another thread (the studio's
    queue) must not defer a Ctrl-C that the main thread should raise at once."""
    import signal
    import threading

    from storyboard import interrupts

    inside, release = threading.Event(), threading.Event()

    def worker() -> None:
        with interrupts.shielded():
            inside.set()
            release.wait(30)

    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    interrupts.install()
    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    try:
        assert inside.wait(30)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # the handler runs at one of the next bytecodes
                time.sleep(0.001)
    finally:
        release.set()
        thread.join(30)
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    assert interrupts._pending is None
