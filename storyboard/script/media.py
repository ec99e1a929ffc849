"""The images and videos a script names, each with where it is written.

Start images, keyframes, subjects' reference images and control videos are all paths
relative to the script's folder. :func:`media_references` lists them once, in source order,
for the checks that every one gets (:mod:`storyboard.script.load`: exists, a regular file),
the media probe (:mod:`storyboard.media`: decodable, its size, frames and checksum), the
protected inputs of a render and the studio's confinement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from storyboard.errors import Loc
from storyboard.script.schema import Storyboard

MediaKind = Literal["image", "control"]


@dataclass(frozen=True)
class MediaReference:
    """One image or video as the script names it: ``text`` (the path as written), ``loc`` (the
    validated field's path, e.g. ``("scenes", 2, "keyframes", 0, "image")``) and ``kind``:
    ``image`` (a picture) or ``control`` (a control video, or a folder of its frames)."""

    text: str
    loc: Loc
    kind: MediaKind

    @property
    def noun(self) -> str:
        """What the file is, in the messages about it: image or control video."""
        return "image" if self.kind == "image" else "control video"


def media_references(board: Storyboard) -> list[MediaReference]:
    """Every image and video ``board`` names: the subjects' images, then each scene's start image,
    keyframes and control video."""
    found = [MediaReference(path, ("subjects", name, "images", k), "image")
             for name, subject in board.subjects.items() for k, path in enumerate(subject.images)]
    for i, scene in enumerate(board.scenes):
        if scene.image is not None:
            found.append(MediaReference(scene.image, ("scenes", i, "image"), "image"))
        found += [MediaReference(key.image, ("scenes", i, "keyframes", k, "image"), "image")
                  for k, key in enumerate(scene.keyframes)]
        if scene.control is not None:
            found.append(MediaReference(scene.control.video, ("scenes", i, "control", "video"), "control"))
    return found


def uses_media(board: Storyboard) -> bool:
    """Whether the script names any image or video (else no probe runs, and nothing is imported for one)."""
    return bool(board.subjects) or any(s.subjects or s.image or s.keyframes or s.control for s in board.scenes)
