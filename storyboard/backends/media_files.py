"""The files a shot's media name, read for a backend: each checked against the plan's SHA-256.

A plan carries its images and control videos as paths with checksums (:class:`storyboard.plan.data.ShotMedia`).
A backend reads them here, so that what it draws or conditions on is exactly what the segment cache
keys on: a file changed since the plan was made is refused (:class:`ChangedMedia`). numpy and Pillow
only, no torch: the preview and the diffusion families share it.
"""

from __future__ import annotations

import hashlib
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from storyboard.plan.data import ShotPlan

if TYPE_CHECKING:
    from PIL import Image


class ChangedMedia(RuntimeError):
    """An image or control video whose bytes no longer match the plan's checksum."""


def checked_bytes(path: str, sha256: str) -> bytes:
    """The bytes of ``path``, which must hash to ``sha256`` (the plan's); :class:`ChangedMedia` if not."""
    data = Path(path).read_bytes()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ChangedMedia(f"{path} changed after the plan was made (its SHA-256 is not the plan's): plan the "
                           "script again")
    return data


def read_image(path: str, sha256: str) -> "Image.Image":
    """The image at ``path`` as RGB (turned as its EXIF orientation says), checked against ``sha256``."""
    from PIL import ImageOps

    from storyboard.files import open_image

    with open_image(BytesIO(checked_bytes(path, sha256))) as opened:  # its formats only, its pixel limit
        return ImageOps.exif_transpose(opened).convert("RGB")


def shot_images(shot: ShotPlan) -> dict[int, np.ndarray]:
    """The images a shot passes through as ``H x W x 3`` uint8 arrays at their own size, keyed by output
    frame from the shot's first (0: its start image): what an image-conditioned family fits and encodes."""
    return {key.frame - shot.start: np.asarray(read_image(key.path, key.sha256)) for key in shot.media.images}
