"""The animatic's pictures: start images and keyframes at their frames, the scene's subjects as
thumbnails, and a control video picture-in-picture, so timing and placement can be checked with
no GPU.

- An image a shot passes through fills the frame on its frame (scaled to cover it, centred and
  cropped) and fades in and out over :data:`FADE_S` seconds either side, within its shot.
- Each subject in view is a thumbnail (its first image) with its name, down the right edge.
- A control video shows in the upper left corner, the frame of it that drives this frame.

Every file is read once per process (images) or streamed (control videos), and checked against the
plan's SHA-256: a file changed since the plan was made would not be what the segment cache keys on,
so it is refused (:class:`~storyboard.backends.media_files.ChangedMedia`).
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from storyboard.backends.media_files import ChangedMedia, check_file, read_image
from storyboard.files import VIDEO_CONTAINERS, ffmpeg_exe, frames_digest, open_image
from storyboard.plan.data import ControlSpan, Plan, ShotPlan
from storyboard.typography.drawing import draw_line

FADE_S = 0.5  # seconds an image takes to fade in before its frame and out after it
THUMB = 0.16  # a subject's thumbnail: this fraction of the frame's height
INSET = 0.24  # the control video's inset: this fraction of the frame's width


def image_weight(frame: int, key_frame: int, fps: int) -> float:
    """How much of a keyframe's picture frame ``frame`` shows: 1 on its frame, falling linearly to 0
    at :data:`FADE_S` seconds (at least one frame) either side."""
    reach = max(1.0, FADE_S * fps)
    return max(0.0, 1.0 - abs(frame - key_frame) / reach)


def blend_keyframes(image: Image.Image, plan: Plan, shot: ShotPlan, frame: int) -> Image.Image:
    """``image`` with the shot's start image and keyframes laid over it at their weights (the nearest
    image wins where two fades meet)."""
    near = [(image_weight(frame, k.frame, plan.fps), k) for k in shot.media.images]
    near = [(w, k) for w, k in near if w > 0]
    if not near:
        return image
    weight, key = max(near, key=lambda x: (x[0], -x[1].frame))
    picture = covering(key.path, key.sha256, plan.width, plan.height)
    if weight >= 1.0:
        return picture.copy()
    return Image.blend(image, picture, weight)


def draw_subjects(image: Image.Image, plan: Plan, shot: ShotPlan, frame: int, top: int) -> None:
    """The thumbnails of the subjects in view at ``frame``, down the right edge from ``top`` (pixels),
    each with its name below it."""
    subjects = {s.name: s for s in plan.subjects}
    side = max(8, int(plan.height * THUMB))
    small = max(8, plan.height // 36)
    draw = ImageDraw.Draw(image, "RGBA")
    y = top
    for span in shot.media.subjects:
        if not span.start <= frame < span.end or span.name not in subjects or not subjects[span.name].images:
            continue
        first = subjects[span.name].images[0]
        thumb = covering(first.path, first.sha256, side, side)
        x = plan.width - side - small
        if y + side + 2 * small > plan.height:
            break
        draw.rectangle((x - 2, y - 2, x + side + 1, y + side + 1 + small + 4), fill=(0, 0, 0, 150))
        image.paste(thumb, (x, y))
        draw_line(draw, (x, y + side + 1), span.name[:12], small, fill=(255, 255, 255))
        y += side + 2 * small + 6


def draw_control(image: Image.Image, plan: Plan, shot: ShotPlan, frame: int, top: int,
                 readers: dict[tuple[str, str], "ControlFrames"]) -> None:
    """The control video's frame driving ``frame``, inset in the upper left corner from ``top``."""
    for span in shot.media.controls:
        if not span.start <= frame < span.end:
            continue
        width = max(8, int(plan.width * INSET))
        key = (span.path, span.sha256)
        if key not in readers:
            readers[key] = ControlFrames(span, width)
        picture = readers[key].frame(span.source_frame(frame))
        draw = ImageDraw.Draw(image, "RGBA")
        draw.rectangle((2, top - 2, 5 + picture.width, top + picture.height + 1), fill=(255, 255, 255, 160))
        image.paste(picture, (4, top))
        return


@functools.lru_cache(maxsize=32)
def covering(path: str, sha256: str, width: int, height: int) -> Image.Image:
    """The image at ``path`` scaled to cover ``width`` x ``height`` pixels, centred and cropped, RGB;
    refused when its bytes do not hash to ``sha256``."""
    return ImageOps.fit(read_image(path, sha256), (width, height), Image.Resampling.LANCZOS)


class ControlFrames:
    """A control video's frames, ``width`` pixels wide (height in proportion), read in order: a file
    streamed through ffmpeg (started again only for a frame before the last one read), a folder of
    frames one file at a time."""

    def __init__(self, span: ControlSpan, width: int):
        self.span, self.width = span, width
        self.height = 0
        self.process: subprocess.Popen | None = None
        self.next = 0  # the index of the frame the stream gives next
        self.last: tuple[int, Image.Image] | None = None
        if span.names:  # a folder: every frame as it was planned (names, bytes; no links), or ChangedMedia
            try:
                same = frames_digest(Path(span.path), span.names) == span.sha256
            except (ValueError, OSError):
                same = False
            if not same:
                raise ChangedMedia(f"{span.path}: its frames changed after the plan was made: plan the script again")
            return
        check_file(span.path, span.sha256)

    def frame(self, index: int) -> Image.Image:
        """Frame ``index`` of the control video (0-based)."""
        if self.last is not None and self.last[0] == index:
            return self.last[1]
        if self.span.names:
            name = self.span.names[index]
            with open_image(Path(self.span.path) / name) as opened:  # its formats only, its pixel limit
                picture = opened.convert("RGB")
            picture = picture.resize((self.width, max(1, round(self.width * picture.height / picture.width))))
        else:
            picture = self._streamed(index)
        self.last = (index, picture)
        return picture

    def _streamed(self, index: int) -> Image.Image:
        if self.process is None or index < self.next:
            self._start()
        assert self.process is not None and self.process.stdout is not None
        size = self.width * self.height * 3
        chunk = b""
        while self.next <= index:
            chunk = self.process.stdout.read(size)
            if len(chunk) < size:
                raise ChangedMedia(f"{self.span.path} ended before its frame {index}")
            self.next += 1
        return Image.frombytes("RGB", (self.width, self.height), chunk)

    def _start(self) -> None:
        self.close()
        if not self.height:
            probe = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-format_whitelist", VIDEO_CONTAINERS,
                                    "-i", self.span.path, "-frames:v", "1",
                                    "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True)
            found = re.search(rb", (\d+)x(\d+)", probe.stderr.split(b"Output #0")[0])
            w, h = (int(found.group(1)), int(found.group(2))) if found else (16, 9)
            self.height = max(2, round(self.width * h / w / 2) * 2)
        self.process = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
                                         "-format_whitelist", VIDEO_CONTAINERS, "-i", self.span.path, "-map", "0:v:0", "-fps_mode", "passthrough", "-vf",
                                         f"scale={self.width}:{self.height}", "-f", "rawvideo", "-pix_fmt", "rgb24",
                                         "pipe:1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next = 0

    def close(self) -> None:
        """Stop the stream, if one runs."""
        if self.process is not None:
            if self.process.stdout:
                self.process.stdout.close()
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.process = None
