"""Writing files so that nothing is ever half-written: a temporary sibling, then a rename.

Every stage writes through these (the music analysis cache, synthesised audio,
plots, the JSON Schema, segments, pieces and the MP4), so they sit beside the
stages rather than in one of them.

A temporary file is named ``.<stem>.<pid>-<host>.<random>.part<suffix>``: the
process and machine that write it. A process removes its own partials when it is
interrupted; partials left by a process that no longer exists (killed with
SIGKILL, or a machine that lost power) are removed by :func:`sweep_stale_partials`.
"""

from __future__ import annotations

import os
import re
import socket
import stat
import tempfile
import zlib
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Iterator

from storyboard.interrupts import shielded

if TYPE_CHECKING:
    from PIL import Image

_PARTIAL = re.compile(r"^\..*\.(?P<pid>\d+)(?:-(?P<host>[0-9a-f]{6}))?\.[a-z0-9_]{8}\.part")


def user_cache(kind: str) -> Path:
    """Where storyboard keeps ``kind`` (``audio`` analyses, ``speech``) between runs:
    ``$STORYBOARD_CACHE/<kind>``, else the platform's user cache folder (platformdirs: on Linux
    ``$XDG_CACHE_HOME/storyboard/<kind>`` or ``~/.cache/storyboard/<kind>``; on macOS
    ``~/Library/Caches/storyboard/<kind>``; on Windows under ``%LOCALAPPDATA%``)."""
    root = os.environ.get("STORYBOARD_CACHE")
    if root:
        return Path(root) / kind
    import platformdirs

    return platformdirs.user_cache_path("storyboard", appauthor=False) / kind


def host_tag() -> str:
    """Six hex digits naming this machine (partials of other machines sharing a folder are left alone)."""
    return f"{zlib.crc32(socket.gethostname().encode()) & 0xFFFFFF:06x}"


def temporary_sibling(path: Path, suffix: str) -> Path:
    """A unique temporary path in ``path``'s folder (same file system, so rename is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.{os.getpid()}-{host_tag()}.", suffix=".part" + suffix,
                                dir=path.parent)
    os.close(fd)
    return Path(name)


def commit(partial: Path, final: Path) -> None:
    """Make ``partial`` durable and rename it to ``final``.

    The data is flushed to disk before the rename and the folder after it, so a crash
    leaves either the old file or the whole new one. The file gets the usual mode
    (mkstemp makes it private). Ctrl-C waits until the rename is done.
    """
    with shielded():
        try:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(partial, 0o666 & ~umask)
            fd = os.open(partial, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(partial, final)
        except BaseException:
            partial.unlink(missing_ok=True)  # a rename that failed (a folder in the way, a full disk) leaves nothing
            raise
        fsync_folder(final.parent)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename) to disk, where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def partial_owner(name: str) -> tuple[int, str | None] | None:
    """(pid, host tag) of the process that writes the partial ``name``; None if it is not one of ours."""
    match = _PARTIAL.match(name)
    return (int(match["pid"]), match["host"]) if match else None


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_partials(*folders: Path) -> None:
    """Remove this process's unfinished temporary files (an interruption can land between a
    file's creation and the code that would clean it up). Other processes' files are left alone."""
    me, host = os.getpid(), host_tag()
    for folder in folders:
        if folder.is_dir():
            for leftover in folder.glob(".*.part*"):
                owner = partial_owner(leftover.name)
                if owner is not None and owner[0] == me and owner[1] in (host, None):
                    leftover.unlink(missing_ok=True)


def sweep_stale_partials(*folders: Path) -> list[Path]:
    """Remove partials whose writer no longer exists on this machine; returns what was removed.

    A partial of a live process, or of another machine (a shared folder), is left alone.
    """
    host = host_tag()
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for leftover in folder.glob(".*.part*"):
            owner = partial_owner(leftover.name)
            if owner is None or owner[1] not in (host, None) or process_alive(owner[0]):
                continue
            leftover.unlink(missing_ok=True)
            removed.append(leftover)
    return removed


@contextmanager
def atomic(path: Path, suffix: str | None = None) -> Iterator[Path]:
    """Write ``path`` through a temporary sibling: yields the sibling to write; on success it
    replaces ``path`` (see :func:`commit`), on any failure it is removed and ``path`` is untouched."""
    partial = temporary_sibling(path, path.suffix if suffix is None else suffix)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    commit(partial, path)


def ffmpeg_exe() -> str:
    """Path of the ffmpeg that reads and writes every media file (imageio-ffmpeg's bundled binary;
    ``IMAGEIO_FFMPEG_EXE`` overrides)."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


# --- the videos storyboard writes carry a mark, so that only they are replaced without --force ---------

VIDEO_MARK = "made with storyboard"  # the MP4's comment tag (moov/udta/meta/ilst/©cmt)
_MOOV_LIMIT = 64 * 2**20  # a moov box larger than this is not one of ours (ours are kilobytes a minute)


def written_by_storyboard(path: Path) -> bool:
    """Whether ``path`` is an MP4 that storyboard wrote: an ISO media file whose ``moov`` box holds
    :data:`VIDEO_MARK`. Reads the box headers and the ``moov`` box only (a few kilobytes, at the
    front since storyboard writes with ``+faststart``); anything unreadable is not ours."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            at = 0
            while at + 8 <= size:
                handle.seek(at)
                header = handle.read(16)
                length, kind = int.from_bytes(header[:4], "big"), header[4:8]
                head = 8
                if length == 1:
                    length, head = int.from_bytes(header[8:16], "big"), 16
                elif length == 0:
                    length = size - at
                if length < head:
                    return False
                if kind == b"moov":
                    if length > _MOOV_LIMIT:
                        return False
                    handle.seek(at + head)
                    return VIDEO_MARK.encode() in handle.read(length - head)
                if at == 0 and kind != b"ftyp":
                    return False
                at += length
    except OSError:
        return False
    return False


IMAGE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "TIFF", "GIF")  # the only formats storyboard opens (never EPS/PS:
# Pillow hands those to Ghostscript)
MAX_IMAGE_PIXELS = 40_000_000  # a picture over 40 megapixels is refused, not decoded (a decompression bomb)
VIDEO_CONTAINERS = "mov,matroska,avi,mpeg,mpegts,flv,ivf,gif"  # ffmpeg demuxers a control video may use (its
# -format_whitelist): no playlist (hls) or list of files (concat), which would read files outside the folder


class ImageRefused(ValueError):
    """A picture storyboard will not open: another format, or too many pixels."""


def open_image(source: "str | Path | object") -> "Image.Image":
    """A picture opened lazily (its header read) by Pillow, in one of :data:`IMAGE_FORMATS` only and of
    at most :data:`MAX_IMAGE_PIXELS`; :class:`ImageRefused` otherwise, ``PIL.UnidentifiedImageError``
    for a file of no such format. ``source``: a path or a binary file object."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(source, formats=IMAGE_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRefused(f"it has more pixels than storyboard opens ({MAX_IMAGE_PIXELS // 1_000_000} "
                               "megapixels at most)") from None
    if image.width * image.height > MAX_IMAGE_PIXELS:
        width, height = image.width, image.height
        image.close()
        raise ImageRefused(f"it is {width}x{height} pixels, more than storyboard opens "
                           f"({MAX_IMAGE_PIXELS // 1_000_000} megapixels at most)")
    return image


def frames_digest(folder: Path, names: "tuple[str, ...] | list[str]") -> str:
    """The checksum of a folder of frames: every frame's name and bytes, in order. A frame that is a
    link, or not a regular file, is refused (``ValueError``)."""
    import hashlib

    digest = hashlib.sha256()
    for name in names:
        frame = folder / name
        if frame.is_symlink() or not stat.S_ISREG(os.stat(frame).st_mode):
            raise ValueError(f"{name!r} is not a frame file (a link, folder, device or pipe)")
        digest.update(os.fsencode(name) + b"\0" + bytes.fromhex(file_sha256(frame)))
    return digest.hexdigest()


def file_sha256(path: "Path | str", opened: "BinaryIO | None" = None) -> str:
    """Hex SHA-256 of a file's bytes (of ``opened``, when given), read a megabyte at a time: a large file
    is never held in memory."""
    import hashlib

    digest = hashlib.sha256()
    with (open(path, "rb") if opened is None else nullcontext(opened)) as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
