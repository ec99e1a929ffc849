"""Studio speed: from ``storyboard studio SCRIPT`` to a usable page, and from "Preview" to a playing video.

For each example in examples/ (all of them render with the preview backend, whatever model they
name), in a temporary folder holding copies of the examples and their music (made by the project's
synthesiser), with fresh caches:

- ``usable_s``: from launching ``python -m storyboard studio SCRIPT`` (a child process) to the page,
  open in headless chromium (Debian's, driven by Playwright), showing the script in the editor and
  the plan's picture drawn. The browser is started beforehand and not counted; the page is asked for
  as soon as the studio prints its address. ``cold``: first time (music analysed, speech
  synthesised); ``warm``: the studio started again (both cached).
- ``playing_s``: from clicking Preview to the video element playing (``currentTime > 0``).
  ``cold``: nothing rendered yet; ``warm``: the same preview again after a restart (segments
  reused from the previews' cache, the MP4 assembled again).
- ``video_s``: the plan's length; ``video_element_s``: the player's ``duration``.

Prints one JSON line. Takes several minutes (the 5-minute narrated example's first preview).

    python benchmarks/studio.py [EXAMPLE ...]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 900_000  # the longest wait for one step: a slow first preview of a long example


def main() -> None:
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    os.environ["STORYBOARD_CACHE"] = str(folder / "user-cache")  # music analyses and speech: cold at first
    examples = sys.argv[1:] or sorted(p.stem for p in (ROOT / "examples").glob("*.yaml"))
    prepare(folder / "examples")
    figures: dict = {"machine_cpus": os.cpu_count(), "examples": {}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        for name in examples:
            cold = session(browser, folder / "examples", name)
            warm = session(browser, folder / "examples", name)
            figures["examples"][name] = {
                "usable_s": {"cold": cold["usable_s"], "warm": warm["usable_s"]},
                "playing_s": {"cold": cold["playing_s"], "warm": warm["playing_s"]},
                "video_s": cold["video_s"], "video_element_s": cold["video_element_s"]}
            print(name, figures["examples"][name], file=sys.stderr, flush=True)
        browser.close()
    shutil.rmtree(folder, ignore_errors=True)
    print(json.dumps(figures))


def prepare(examples: Path) -> None:
    """Copies of the examples, and the music they use, made as the README makes it."""
    from storyboard.music.synth import synth_track, write_wav

    examples.mkdir(parents=True)
    for script in (ROOT / "examples").glob("*.yaml"):
        shutil.copy(script, examples / script.name)
    write_wav(synth_track(120.0, 48.0), examples / "media" / "pulse-120.wav")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session(browser, examples: Path, name: str) -> dict[str, float]:
    """Start the studio on ``examples/NAME.yaml``, open it, preview; its timings, then stop it."""
    started = time.perf_counter()
    studio = subprocess.Popen([sys.executable, "-m", "storyboard", "studio", f"{name}.yaml", "--port",
                               str(free_port())], cwd=examples, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert studio.stdout is not None
        url = next(m.group(1) for line in studio.stdout if (m := re.search(r"(http://\S+/)", line)))
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        page.wait_for_function("() => { const img = document.querySelector('#plot img');"
                               " return document.querySelector('#plan-duration') && img && img.complete"
                               " && img.naturalWidth > 0"
                               " && document.querySelector('#editor .cm-content').innerText.includes('title:'); }")
        usable = time.perf_counter() - started
        video_s = float(page.get_attribute("#plan-duration", "data-seconds"))
        clicked = time.perf_counter()
        page.click("#preview-button")
        page.wait_for_function("() => { const v = document.querySelector('#preview-video video');"
                               " return v && v.currentTime > 0; }", polling=20)
        playing = time.perf_counter() - clicked
        element = page.evaluate("() => document.querySelector('#preview-video video').duration")
        page.close()
    finally:
        studio.send_signal(signal.SIGINT)
        studio.wait(120)
    return {"usable_s": round(usable, 2), "playing_s": round(playing, 2), "video_s": round(video_s, 3),
            "video_element_s": round(element, 3)}


if __name__ == "__main__":
    main()
