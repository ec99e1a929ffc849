"""Test helpers: write scripts, run the CLI, probe MP4s with the bundled ffmpeg."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_MEDIA = ROOT.parent / "shared" / "media"


def shared_media(*names: str) -> Path:
    """The recordings in ``../shared/media`` a test reads; returns that folder. Without them the test
    is skipped, saying so, unless ``STORYBOARD_REQUIRE_MEDIA=1`` (CI sets it), when it fails."""
    missing = [name for name in names if not (SHARED_MEDIA / name).is_file()]
    if missing:
        import pytest

        reason = f"{', '.join(missing)} not in {SHARED_MEDIA}"
        if os.environ.get("STORYBOARD_REQUIRE_MEDIA") == "1":
            pytest.fail(f"STORYBOARD_REQUIRE_MEDIA=1 but {reason}")
        pytest.skip(reason)
    return SHARED_MEDIA


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m storyboard ARGS`` in a fresh process (real exit codes, real stderr)."""
    return subprocess.run([sys.executable, "-m", "storyboard", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def ffmpeg() -> str:
    from storyboard.files import ffmpeg_exe

    return ffmpeg_exe()


@dataclass
class Probe:
    width: int
    height: int
    fps: float
    frames: int
    video_codec: str
    audio_codec: str | None
    audio_samples: int
    audio_rate: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.fps

    @property
    def audio_s(self) -> float:
        return self.audio_samples / self.audio_rate


def probe(path: Path) -> Probe:
    """Decode the whole file: count video frames and audio samples exactly."""
    info = subprocess.run([ffmpeg(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-f", "null", "-"],
                          capture_output=True, text=True).stderr
    video = re.search(r"Video: (\w+).*?, (\d+)x(\d+).*?, ([\d.]+) fps", info)
    assert video, info
    frames = int(re.findall(r"frame=\s*(\d+)", info)[-1])
    audio = re.search(r"Audio: (\w+)", info)
    samples, rate = 0, 44100
    if audio:
        pcm = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                              "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"], capture_output=True).stdout
        samples = len(pcm) // 2
    return Probe(int(video.group(2)), int(video.group(3)), float(video.group(4)), frames, video.group(1),
                 audio.group(1) if audio else None, samples, rate)


def read_frames(path: Path, width: int, height: int) -> np.ndarray:
    """All frames of a (small) video as uint8 ``[n, h, w, 3]``."""
    raw = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, height, width, 3)


def read_audio(path: Path, rate: int = 44100) -> np.ndarray:
    """Mono float audio of a file, at ``rate``."""
    pcm = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", "0:a:0",
                          "-f", "s16le", "-ac", "1", "-ar", str(rate), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0


def torch_peak_bytes(run) -> int:
    """Peak bytes held by torch's CPU allocator while ``run()`` runs (the profiler's memory events)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    results = getattr(prof.profiler, "kineto_results", None)
    if results is None:
        __import__('pytest').skip("this torch's profiler does not expose memory events")
    events = sorted((e for e in results.events() if e.name() == "[memory]"), key=lambda e: e.start_ns())
    total = top = 0
    for event in events:
        total += event.nbytes()
        top = max(top, total)
    return top
