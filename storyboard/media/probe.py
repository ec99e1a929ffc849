"""Images and control videos, probed: decodable, their size and frames, and a checksum of their bytes.

Cheap by design, so ``validate`` stays fast: an image is read by Pillow's lazy ``Image.open``
(its header, not its pixels); a video by the bundled ffmpeg copying its stream to nowhere (no
decoding: a few milliseconds); a folder of frames by listing its image files and reading the
first one's header. Every byte is hashed (SHA-256), since the plan and the segment cache key on
the content. Nothing is written to disk. Pillow is imported only when an image is probed.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from storyboard.files import VIDEO_CONTAINERS, ImageRefused, ffmpeg_exe, file_sha256, frames_digest, open_image

VIDEO_PROBE_S = 60.0  # seconds ffmpeg may take to count a control video's frames
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")  # a folder of frames: these


class MediaProbeError(Exception):
    """A file that cannot be used as an image or a control video; the message says why, in plain words."""


@dataclass(frozen=True)
class ImageInfo:
    """An image file: ``path`` (resolved), ``sha256`` of its bytes, ``width`` x ``height`` pixels and
    Pillow's name of its ``format`` (PNG, JPEG, ...)."""

    path: str
    sha256: str
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class VideoInfo:
    """A control video: ``path`` (resolved: a file, or a folder of frames), ``sha256`` (of the file's
    bytes; for a folder, of each frame's name and bytes in order), ``frames`` and ``fps`` (frames per
    second; a folder's is the script's), its ``width`` x ``height`` pixels, and whether it is a
    ``folder`` of frames (then ``names`` lists them in order)."""

    path: str
    sha256: str
    frames: int
    fps: float
    width: int
    height: int
    folder: bool = False
    names: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Length in seconds (``frames / fps``)."""
        return self.frames / self.fps


def _regular(path: Path) -> os.stat_result:
    """``os.stat(path)``, refusing a device, pipe or socket (never opened) and an empty file."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise MediaProbeError("it is not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise MediaProbeError("the file is empty (0 bytes)")
    return st


def probe_image(path: str | Path) -> ImageInfo:
    """Open ``path`` as an image (header only) and hash it. Raises :class:`MediaProbeError` when
    Pillow cannot identify it, or :class:`OSError` when it cannot be read."""
    from PIL import UnidentifiedImageError

    path = Path(path)
    _regular(path)
    try:
        with open_image(path) as image:
            width, height, kind = image.width, image.height, image.format or "image"
            if image.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientation: turned a quarter, as it is drawn
                width, height = height, width
            image.load()  # every pixel decoded now (at most MAX_IMAGE_PIXELS), not after a model has loaded
    except UnidentifiedImageError:
        raise MediaProbeError("it is not an image storyboard reads (PNG, JPEG, WebP, BMP, TIFF or GIF)") from None
    except ImageRefused as exc:
        raise MediaProbeError(str(exc)) from None
    except (ValueError, SyntaxError) as exc:  # a damaged header
        raise MediaProbeError(f"its header is damaged ({exc})") from None
    except OSError as exc:
        if exc.errno is not None:  # the system's: cannot be read
            raise
        raise MediaProbeError(f"its pixels are damaged ({exc})") from None
    if width < 1 or height < 1:
        raise MediaProbeError(f"it is {width}x{height} pixels: empty")
    return ImageInfo(str(path.resolve()), file_sha256(path), width, height, kind)


_STREAM = re.compile(r"Stream #0:\d+[^\n]*?: Video: [^\n]*")
_SIZE = re.compile(r", (\d{1,5})x(\d{1,5})\b")
_RATE = re.compile(r", (\d+(?:\.\d+)?)(k?) (fps|tbr)\b")


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video file's first video stream with the bundled ffmpeg: its size and rate from the
    header, its frames counted by copying the stream to nowhere (no decoding). Raises
    :class:`MediaProbeError` (no video stream, not a video) or :class:`OSError`."""
    path = Path(path)
    _regular(path)
    with open(path, "rb"):  # unreadable: OSError, in the words the system gives
        pass
    try:
        run = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-format_whitelist", VIDEO_CONTAINERS,
                              "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"],
                             capture_output=True, text=True, errors="replace", timeout=VIDEO_PROBE_S)
    except subprocess.TimeoutExpired:  # run() kills ffmpeg
        raise MediaProbeError(f"counting its frames took over {VIDEO_PROBE_S:g} s") from None
    if "Input #0" not in run.stderr:
        raise MediaProbeError("it is not a video file storyboard reads (MP4 or MOV, MKV or WebM, AVI, MPEG, FLV, "
                              "GIF); playlists and lists of files are refused")
    inputs = run.stderr.split("Output #0", 1)[0]
    stream = _STREAM.search(inputs)
    if stream is None:
        raise MediaProbeError("ffmpeg finds no video stream in it")
    size, rates = _SIZE.search(stream.group(0)), _RATE.findall(stream.group(0))
    counts = re.findall(r"frame=\s*(\d+)", run.stderr)
    if run.returncode != 0 or size is None or not rates or not counts or int(counts[-1]) == 0:
        tail = run.stderr.strip().splitlines()[-1:] or ["no frames"]
        raise MediaProbeError(f"ffmpeg cannot read its frames ({tail[0][:200]})")
    number, thousands, _ = rates[0]
    fps = float(number) * (1000 if thousands else 1)
    return VideoInfo(str(path.resolve()), file_sha256(path), int(counts[-1]), fps, int(size.group(1)),
                     int(size.group(2)))


def probe_frames_folder(path: str | Path, fps: int) -> VideoInfo:
    """A folder of frames as a control video at ``fps`` frames a second: its image files (by suffix,
    hidden ones left out) in the order of their names, the first one's size, and a checksum of every
    frame's name and bytes. Raises :class:`MediaProbeError` for a folder with no image files."""
    path = Path(path)
    frames = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
    links = sorted(p.name for p in frames if p.is_symlink())
    if links:
        raise MediaProbeError(f"{links[0]!r} is a link: a folder of frames holds the frames themselves")
    names = sorted((p.name for p in frames if p.is_file()), key=frame_order)
    if not names:
        raise MediaProbeError(f"the folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    first = probe_image(path / names[0])
    try:
        digest = frames_digest(path, names)
    except ValueError as exc:
        raise MediaProbeError(str(exc)) from None
    return VideoInfo(str(path.resolve()), digest, len(names), float(fps), first.width, first.height, folder=True,
                     names=tuple(names))


def frame_order(name: str) -> tuple:
    """The order of frame files: by the numbers in their names as numbers (``f2.png`` before ``f10.png``),
    then as text."""
    pieces = tuple((0, int(piece), "") if piece.isdigit() else (1, 0, piece) for piece in re.split(r"(\d+)", name))
    return pieces, name
