"""`cache prune` beside a running render: the render holds its cache, prune refuses and says who has it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from helpers import ROOT, probe, write

from storyboard.cli import main
from storyboard.files import host_tag
from storyboard.render.lock import MARKS, rendering


def scenes(tmp_path, name: str, colour: str, count: int = 3):
    lines = "".join(f"  - {{id: s{i}, duration: 0.5s, prompts: 'a {colour} room, part {i}', transition: cut}}\n"
                    for i in range(count))
    return write(tmp_path / name, f"output: {{width: 64, height: 64, fps: 12, preset: ultrafast}}\nscenes:\n{lines}")


def segments(cache) -> list[str]:
    """The finished segments (not a partial being written)."""
    return sorted(p.name for p in cache.glob("*.mkv") if not p.name.startswith("."))


def test_prune_refuses_while_a_render_holds_the_cache_and_names_it(tmp_path, capsys):
    old, new = scenes(tmp_path, "old.yaml", "red"), scenes(tmp_path, "new.yaml", "blue")
    assert main(["render", str(old), "-q"]) == 0
    cache = tmp_path / ".storyboard-cache"
    before = segments(cache)
    assert len(before) == 3
    capsys.readouterr()

    with rendering(cache, tmp_path / "old.mp4"):
        assert main(["cache", "prune", str(new), "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err == (f"storyboard: error: {cache}: a render (pid {os.getpid()}, writing {tmp_path / 'old.mp4'}) is using "
                   "this cache; nothing was pruned. Wait for it to finish, then run the command again.\n")
    assert segments(cache) == before, "nothing was deleted"
    assert list((cache / MARKS).iterdir()) == [], "the render's mark goes with it"

    # A render killed mid-way leaves its mark, not its lock: prune goes ahead and sweeps the mark.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (cache / MARKS / f"{dead.stdout.strip()}-{host_tag()}").write_text("x.mp4")
    assert main(["cache", "prune", str(new), "--cache", str(cache)]) == 0
    assert capsys.readouterr().out.startswith("pruned 3 of 3 segments")
    assert list(cache.glob("*.mkv")) == [] and list((cache / MARKS).iterdir()) == []


GATED_RENDER = """
import os, sys, time
from storyboard.backends.preview import PreviewBackend
from storyboard.cli import main

gate = sys.argv[1]
own = PreviewBackend.render_shot

def render_shot(self, plan, shot, *args, **kwargs):
    if shot.index == 2:  # two segments are in the cache; wait here until the test has pruned
        open(gate + ".waiting", "w").close()
        while not os.path.exists(gate):
            time.sleep(0.02)
    yield from own(self, plan, shot, *args, **kwargs)

PreviewBackend.render_shot = render_shot
sys.exit(main(["render", sys.argv[2], "-q"]))
"""


@pytest.mark.slow
def test_a_render_survives_a_prune_run_beside_it(tmp_path, capsys):
    """Prune with another script, while a command-line render is between its segments: without the
    lock it deleted the render's finished segments and the render failed at assembly."""
    mine, other = scenes(tmp_path, "v.yaml", "green", count=4), scenes(tmp_path, "other.yaml", "grey")
    gate = tmp_path / "gate"
    render = subprocess.Popen([sys.executable, "-c", GATED_RENDER, str(gate), str(mine)], cwd=tmp_path,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not gate.with_suffix(".waiting").exists():
            assert render.poll() is None, render.communicate()
            assert time.monotonic() < deadline, "the render never reached its third segment"
            time.sleep(0.05)
        cache = tmp_path / ".storyboard-cache"
        finished = segments(cache)
        assert len(finished) == 2
        assert main(["cache", "prune", str(other), "--cache", str(cache)]) == 2
        said = capsys.readouterr().err
        assert f"a render (pid {render.pid}, writing {tmp_path / 'v.mp4'}) is using this cache; nothing was pruned" in said
        assert segments(cache) == finished
    finally:
        gate.touch()
        out, err = render.communicate(timeout=120)
    assert render.returncode == 0, err
    assert probe(tmp_path / "v.mp4").frames == 24, "the whole video"
    assert main(["cache", "prune", str(other), "--cache", str(cache)]) == 0, "and once it is done, prune goes ahead"
    assert capsys.readouterr().out.startswith("pruned 4 of 4 segments")
