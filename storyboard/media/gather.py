"""Gathering a script's images and control videos for its plan: each probed once, problems located.

Runs before the plan is compiled (:func:`storyboard.pipeline.gather`), as the music's probe does.
A script that names no image or video costs nothing here: the probe's module (and Pillow) is not
even imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Mapping

from storyboard.script.load import Script
from storyboard.script.media import media_references, uses_media

if TYPE_CHECKING:
    from storyboard.media.probe import ImageInfo, VideoInfo


@dataclass(frozen=True)
class Media:
    """What was found of a script's media, by resolved path: its ``images`` (start images, keyframes,
    subjects' images) and its control ``videos`` (files or folders of frames)."""

    images: Mapping[str, "ImageInfo"] = field(default_factory=dict)
    videos: Mapping[str, "VideoInfo"] = field(default_factory=dict)


def probe_media_files(script: Script) -> tuple[Script, Media]:
    """Each image and control video the script names, probed once (see :mod:`storyboard.media.probe`).
    A file that cannot be used is an error at every field that names it, joined to the script's
    :attr:`Script.problems` (returned with them) so that planning goes on to report the timing errors
    too; a field already faulted (it does not exist, its shape was wrong) is skipped."""
    board = script.storyboard
    if not uses_media(board):
        return script, Media()
    from storyboard.media.probe import MediaProbeError, probe_frames_folder, probe_image, probe_video

    doc, fps = script.document, board.output.fps
    known = {e.path for e in script.problems}
    images: dict[str, ImageInfo] = {}
    videos: dict[str, VideoInfo] = {}
    failed: dict[tuple[str, str], str] = {}
    errors = []
    for ref in media_references(board):
        where = doc.resolve(ref.loc)
        if where in known or any(where[:len(t)] == t for t in script.tainted):
            continue
        path = script.resolve(ref.text)
        key, found = str(path), images if ref.kind == "image" else videos
        if key not in found and (ref.kind, key) not in failed:
            try:
                if ref.kind == "image":
                    images[key] = probe_image(path)
                else:
                    videos[key] = probe_frames_folder(path, fps) if path.is_dir() else probe_video(path)
            except (MediaProbeError, OSError) as exc:
                failed[ref.kind, key] = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if (ref.kind, key) in failed:
            what = "an image" if ref.kind == "image" else "a control video"
            errors.append(doc.error(f"cannot use '{ref.text}' as {what}: {failed[ref.kind, key]}", where))
    return replace(script, problems=tuple(script.with_problems(errors).errors)), Media(images, videos)
