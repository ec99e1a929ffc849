"""The files a shot's media name, read for a backend: each checked against the plan's SHA-256.

A plan carries its images and control videos as paths with checksums (:class:`storyboard.plan.data.ShotMedia`).
A backend reads them here, so that what it draws or conditions on is exactly what the segment cache
keys on: a file changed since the plan was made is refused (:class:`ChangedMedia`). numpy and Pillow
only, no torch: the preview and the diffusion families share it.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from typing import TYPE_CHECKING

import numpy as np

from storyboard.files import file_sha256
from storyboard.plan.data import ShotPlan

if TYPE_CHECKING:
    from PIL import Image


class ChangedMedia(RuntimeError):
    """An image or control video whose bytes no longer match the plan's checksum."""


MAX_PICTURE_BYTES = 256 * 2**20  # a picture file larger than this is not read into memory


def checked_bytes(path: str, sha256: str) -> bytes:
    """The bytes of the picture at ``path``, which must be a regular file of at most
    :data:`MAX_PICTURE_BYTES` hashing to ``sha256`` (the plan's); :class:`ChangedMedia` if not (a file
    swapped since the plan for a link to a device is never read)."""
    with _opened_regular(path) as handle:
        data = handle.read(MAX_PICTURE_BYTES + 1)
    if len(data) > MAX_PICTURE_BYTES or hashlib.sha256(data).hexdigest() != sha256:
        raise ChangedMedia(f"{path} changed after the plan was made (its SHA-256 is not the plan's): plan the "
                           "script again")
    return data


def check_file(path: str, sha256: str) -> None:
    """:class:`ChangedMedia` unless the regular file at ``path`` hashes to ``sha256`` (read a megabyte
    at a time: a control video is never held in memory)."""
    with _opened_regular(path) as handle:
        found = file_sha256(path, handle)
    if found != sha256:
        raise ChangedMedia(f"{path} changed after the plan was made (its SHA-256 is not the plan's): plan the "
                           "script again")


def _opened_regular(path: str):
    """``path`` opened for reading if it is (still) a regular file; :class:`ChangedMedia` otherwise."""
    import os
    import stat

    handle = open(path, "rb")
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise ChangedMedia(f"{path} is no longer a regular file (it changed after the plan was made): plan the "
                           "script again")
    return handle


def read_image(path: str, sha256: str) -> "Image.Image":
    """The image at ``path`` as RGB (turned as its EXIF orientation says), checked against ``sha256``."""
    from PIL import ImageOps

    from storyboard.files import open_image

    with open_image(BytesIO(checked_bytes(path, sha256))) as opened:  # its formats only, its pixel limit
        return as_rgb(ImageOps.exif_transpose(opened))


def as_rgb(image: "Image.Image") -> "Image.Image":
    """``image`` as 8-bit RGB: 16-bit and 32-bit grey scaled down to 8 bits (not clipped to white), and
    transparency laid over black (a transparent pixel's hidden colour never shows)."""
    from PIL import Image

    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        most = 65535.0 if image.mode.startswith("I;16") or values.max(initial=0) > 255 else 255.0
        image = Image.fromarray(np.clip(values / most * 255.0 + 0.5, 0, 255).astype(np.uint8))  # 2-D uint8: mode L
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return image.convert("RGB")


def shot_images(shot: ShotPlan) -> dict[int, np.ndarray]:
    """The images a shot passes through as ``H x W x 3`` uint8 arrays at their own size, keyed by output
    frame from the shot's first (0: its start image): what an image-conditioned family fits and encodes."""
    return {key.frame - shot.start: np.asarray(read_image(key.path, key.sha256)) for key in shot.media.images}
