"""Segments: each shot's rendered frames in a content-addressed cache folder.

A segment holds one shot's frames exactly as the backend made them (crossfade
handle included; no compositing), encoded near-losslessly (x264 CRF 4, 4:4:4). Its
name is a hash of everything that determines those pixels: the shot's per-frame
conditioning with the prompt texts, the negative prompt, the model id and revision,
the sampling settings, size and frame rate, and the backend's name and version; the
content (SHA-256) of every image and control video that conditions it, and for a continued
cut the key of the shot it continues;
for backends that draw the frame's position (the preview's timecode), the shot's
place in the video too. A segment is written to a temporary name and renamed, so
it is either complete or absent.

Rendering again reuses every segment whose inputs did not change; a ``morph``
keeps scenes in one shot (one segment), a ``cut`` or ``crossfade`` separates them.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from storyboard.files import atomic, ffmpeg_exe
from storyboard.plan.data import Plan, ShotPlan
from storyboard.render import sealed
from storyboard.render.encode import EncodeError, VideoEncoder, count_frames

SEGMENT_FORMAT = 2  # 2: a keyframe every second
KEY = re.compile(r"^[0-9a-f]{40}$")  # the names the cache gives its files (audio pieces: "audio-" + KEY)
CACHE_TAG = "CACHEDIR.TAG"
CACHE_TAG_TEXT = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                  "# This folder is a storyboard segment cache: `storyboard cache prune` deletes only what it wrote.\n"
                  "# For information about cache directory tags see https://bford.info/cachedir/\n")
SEGMENT_CRF = 4
PIXEL_FIELDS = ("id", "revision", "steps", "guidance", "scheduler", "noise", "window", "dtype")


def segment_key(plan: Plan, shot: ShotPlan, backend_name: str, backend_version: str, position_dependent: bool, *,
                own: bool = False) -> str:
    """Hex digest of everything that determines the shot's pixels (``own``: leaving out the shots a
    continued cut starts from)."""
    used = sorted({c.a for c in shot.frames} | {c.b for c in shot.frames})
    local = {p: i for i, p in enumerate(used)}
    payload = {
        "format": SEGMENT_FORMAT,
        "backend": [backend_name, backend_version],
        "size": [plan.width, plan.height, plan.fps],
        "model": {k: plan.model.to_json()[k] for k in PIXEL_FIELDS} if backend_name != "preview" else None,
        "negative": plan.negative if backend_name != "preview" else None,
        "prompts": [plan.prompts[p] for p in used],
        "frames": [[local[c.a], local[c.b], round(c.w, 6), c.seed, round(c.pulse, 6), plan.scenes[c.scene].id]
                   for c in shot.frames],
        "windows": [[s - shot.start, e - shot.start] for s, e in shot.windows],
        "position": [shot.index, shot.start] if position_dependent else None,
    }
    if backend_name == "preview":  # its header shows on one side of a crossfade only: the fade's length and curve
        payload["fades"] = [[t.start - shot.start, t.frames, t.curve] for t in plan.transitions
                            if t.kind == "crossfade" and (t.start == shot.start or t.start <= shot.end <= t.start + t.frames)]
    if not shot.media.empty:  # only then: the keys of shots without media stay what they were
        payload["media"] = media_key(plan, shot, backend_name, backend_version, position_dependent, own=own)
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def media_key(plan: Plan, shot: ShotPlan, backend_name: str, backend_version: str, position_dependent: bool, *,
              own: bool = False) -> dict:
    """What of a shot's images, subjects, control videos, continuation and anchoring determines its
    pixels: each file by its content (SHA-256, never its path), where it falls in the shot, and for a
    continued cut the key of the shot it continues (its last frames are this one's start; the preview
    draws no pixels of it). Raises ValueError for a plan compiled without the media's checksums."""
    media = shot.media
    subjects = {s.name: s for s in plan.subjects}
    used = [subjects[s.name] for s in media.subjects]
    hashes = [k.sha256 for k in media.images] + [c.sha256 for c in media.controls] + \
        [i.sha256 for s in used for i in s.images]
    if not all(hashes):
        raise ValueError(f"shot {shot.index}: the plan holds no checksum of its images or videos (it was compiled "
                         "without the media probe: plan it with storyboard.pipeline.plan_script)")
    before = None
    if media.continues and backend_name != "preview" and shot.index > 0 and not own:
        first = shot.index - 1  # a run of continued cuts is keyed from the shot that starts it, in a loop
        while first > 0 and plan.shots[first].media.continues:
            first -= 1
        before = segment_key(plan, plan.shots[first], backend_name, backend_version, position_dependent, own=True)
        for index in range(first + 1, shot.index):
            step = segment_key(plan, plan.shots[index], backend_name, backend_version, position_dependent, own=True)
            before = hashlib.sha256((before + step).encode()).hexdigest()[:40]
    return {
        "images": [[k.frame - shot.start, k.role, k.sha256] for k in media.images],
        "subjects": [[s.name, s.start - shot.start, s.end - shot.start, subjects[s.name].description,
                      [i.sha256 for i in subjects[s.name].images]] for s in media.subjects],
        "controls": [[c.sha256, c.kind, c.start - shot.start, c.end - shot.start, c.first, c.source_fps, c.fps,
                      list(c.names)] for c in media.controls],
        "continues": [media.continues, before],
        "anchor": media.anchor,
    }


@dataclass(frozen=True)
class Segment:
    """A shot's place in the cache; ``problem`` says why it cannot be reused (None: it is cached and checks out)."""

    shot: ShotPlan
    key: str
    path: Path
    problem: str | None = sealed.MISSING

    @property
    def cached(self) -> bool:
        return self.problem is None

    @property
    def damaged(self) -> bool:
        """Present but failing its check (truncated, changed, or without its note)."""
        return self.problem not in (None, sealed.MISSING)


class SegmentCache:
    """A folder of ``<key>.mkv`` segments with ``<key>.json`` notes beside them."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def segment(self, plan: Plan, shot: ShotPlan, backend_name: str, backend_version: str, position_dependent: bool) -> Segment:
        """The shot's segment, checked against its note if it is in the cache."""
        key = segment_key(plan, shot, backend_name, backend_version, position_dependent)
        path = self.folder / f"{key}.mkv"
        problem = sealed.problem(path, shot.length)
        if problem == sealed.UNSEALED and adopt_legacy(path, shot.length):
            problem = None
        return Segment(shot, key, path, problem)

    def write(self, segment: Segment, plan: Plan, frames: Iterator[np.ndarray], note: dict) -> int:
        """Encode ``frames`` into the segment atomically; returns how many were written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        tag_cache(self.folder)
        count = 0
        with SegmentWriter(segment.path, plan.width, plan.height, plan.fps) as writer:
            for frame in frames:
                writer.write(frame)
                count += 1
        if count != segment.shot.length:
            segment.path.unlink(missing_ok=True)
            raise RuntimeError(f"shot {segment.shot.index}: the backend gave {count} frames, the plan needs {segment.shot.length}")
        sealed.seal(segment.path, count, note)
        return count

    def entries(self) -> list[tuple[Path, dict]]:
        """The segments in the cache (key-named files only) with their notes' descriptive fields
        (:func:`sealed.shown`: those of a damaged note that have the wrong type are left out)."""
        return [(path, sealed.shown(sealed.read_note(path))) for path in sorted(self.folder.glob("*.mkv"))
                if KEY.match(path.stem) and path.is_file()]


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


def adopt_legacy(path: Path, frames: int) -> bool:
    """Seal a segment written before notes carried checksums, if it still holds all its frames.

    Such a segment may be hours of GPU time; counting its frames (no decoding) is enough to
    trust it once, and from then on its checksum guards it. Returns whether it was adopted.
    """
    if sealed.read_note(path).get("frames") != frames:
        return False
    try:
        if count_frames(path) != frames:
            return False
    except EncodeError:
        return False
    sealed.seal(path, frames, sealed.read_note(path))
    return True


def tag_cache(folder: Path) -> None:
    """Mark ``folder`` as a storyboard cache (a CACHEDIR.TAG, which backup tools also honour)."""
    tag = folder / CACHE_TAG
    if not tag.is_file():
        with atomic(tag) as partial:
            partial.write_text(CACHE_TAG_TEXT)


def is_cache(folder: Path) -> bool:
    """Whether ``folder`` is a cache that storyboard made (it holds our CACHEDIR.TAG)."""
    try:
        text = (folder / CACHE_TAG).read_text()
    except OSError:
        return False
    return text.startswith(CACHE_TAG_TEXT.splitlines()[0]) and "storyboard" in text
