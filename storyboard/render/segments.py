"""Segments: each shot's rendered frames in a content-addressed cache folder.

A segment holds one shot's frames exactly as the backend made them (crossfade
handle included; no compositing), encoded near-losslessly (x264 CRF 4, 4:4:4). Its
name is a hash of everything that determines those pixels: the shot's per-frame
conditioning with the prompt texts, the negative prompt, the model id and revision,
the sampling settings, size and frame rate, and the backend's name and version;
for backends that draw the frame's position (the preview's timecode), the shot's
place in the video too. A segment is written to a temporary name and renamed, so
it is either complete or absent.

Rendering again reuses every segment whose inputs did not change; a ``morph``
keeps scenes in one shot (one segment), a ``cut`` or ``crossfade`` separates them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from storyboard.files import commit, temporary_sibling
from storyboard.plan.data import Plan, ShotPlan
from storyboard.render.encode import VideoEncoder, ffmpeg_exe

SEGMENT_FORMAT = 2  # 2: a keyframe every second
SEGMENT_CRF = 4
PIXEL_FIELDS = ("id", "revision", "steps", "guidance", "scheduler", "noise", "window", "dtype")


def default_cache(output: Path) -> Path:
    """The segment cache beside the output: ``<output folder>/.storyboard-cache``."""
    return output.parent / ".storyboard-cache"


def segment_key(plan: Plan, shot: ShotPlan, backend_name: str, backend_version: str, position_dependent: bool) -> str:
    """Hex digest of everything that determines the shot's pixels."""
    used = sorted({c.a for c in shot.frames} | {c.b for c in shot.frames})
    local = {p: i for i, p in enumerate(used)}
    payload = {
        "format": SEGMENT_FORMAT,
        "backend": [backend_name, backend_version],
        "size": [plan.width, plan.height, plan.fps],
        "model": {k: plan.model.get(k) for k in PIXEL_FIELDS} if backend_name != "preview" else None,
        "negative": plan.negative if backend_name != "preview" else None,
        "prompts": [plan.prompts[p] for p in used],
        "frames": [[local[c.a], local[c.b], round(c.w, 6), c.seed, round(c.pulse, 6), plan.scenes[c.scene].id]
                   for c in shot.frames],
        "windows": [[s - shot.start, e - shot.start] for s, e in shot.windows],
        "position": [shot.index, shot.start] if position_dependent else None,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Segment:
    shot: ShotPlan
    key: str
    path: Path

    @property
    def cached(self) -> bool:
        return self.path.is_file()


class SegmentCache:
    """A folder of ``<key>.mkv`` segments with ``<key>.json`` notes beside them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def segment(self, plan: Plan, shot: ShotPlan, backend_name: str, backend_version: str, position_dependent: bool) -> Segment:
        key = segment_key(plan, shot, backend_name, backend_version, position_dependent)
        return Segment(shot, key, self.folder / f"{key}.mkv")

    def write(self, segment: Segment, plan: Plan, frames: Iterator[np.ndarray], note: dict) -> int:
        """Encode ``frames`` into the segment atomically; returns how many were written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        count = 0
        with SegmentWriter(segment.path, plan.width, plan.height, plan.fps) as writer:
            for frame in frames:
                writer.write(frame)
                count += 1
        if count != segment.shot.length:
            segment.path.unlink(missing_ok=True)
            raise RuntimeError(f"shot {segment.shot.index}: the backend gave {count} frames, the plan needs {segment.shot.length}")
        info = temporary_sibling(segment.path.with_suffix(".json"), ".json")
        info.write_text(json.dumps({**note, "frames": count, "created": time.time()}, indent=1))
        commit(info, segment.path.with_suffix(".json"))
        return count

    def entries(self) -> list[tuple[Path, dict]]:
        out = []
        for path in sorted(self.folder.glob("[!.]*.mkv")):  # not the .part files of renders in progress
            try:
                note = json.loads(path.with_suffix(".json").read_text())
            except (OSError, ValueError):
                note = {}
            out.append((path, note))
        return out


class SegmentWriter(VideoEncoder):
    """Near-lossless H.264 4:4:4 in Matroska, written atomically (temporary name, then rename)."""

    def __init__(self, path: Path, width: int, height: int, fps: int):
        # A keyframe every second, so assembly can seek to a crossfade's handle cheaply.
        super().__init__(path, width, height, fps, quality=SEGMENT_CRF, preset="veryfast",
                         pixel_format="yuv444p", container="matroska", keyframe_every=fps)


def decode_frames(path: Path, width: int, height: int, first: int = 0, fps: int = 0) -> Iterator[np.ndarray]:
    """Frames of a video file as ``height x width x 3`` uint8 arrays, streamed from ffmpeg.

    ``first`` > 0 (with ``fps``) starts at that frame: ffmpeg seeks to the keyframe
    before it and drops what comes earlier (timestamps compared half a frame early,
    so millisecond-rounded container times cannot skip or repeat a frame).
    """
    seek = ["-ss", f"{(first - 0.5) / fps:.6f}"] if first > 0 and fps else []
    proc = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *seek, "-i", str(path),
                             "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    size = width * height * 3
    assert proc.stdout is not None
    try:
        while True:
            chunk = proc.stdout.read(size)
            if len(chunk) < size:
                break
            yield np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("*") if p.is_file()) if folder.is_dir() else 0


def remove(path: Path) -> None:
    for p in (path, path.with_suffix(".json")):
        try:
            os.remove(p)
        except FileNotFoundError:
            pass
