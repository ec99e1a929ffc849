"""Images, subjects and control videos in the plan: each shot's media as keys and spans of frames.

The files were probed before planning (:mod:`storyboard.media`); the plan sees only what was found
(:class:`MediaFacts`: sizes, frame counts, rates and checksums, by resolved path), as it sees the
speech's timings, and never touches a file. Here, and only here, a keyframe's time becomes a frame
(a key at the scene's end, or ``at: end``, lands on its last frame, as prompt keys do), a control
video's frames are lined up with the scene's, and these are checked:

- a keyframe lies inside its scene, and no two images fall on one frame;
- a control video lasts as long as its scene, from where it starts (else: by how much it is short,
  in seconds and in its frames).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING, Mapping, Protocol, Sequence

from storyboard.plan.data import ControlSpan, ImageKey, MediaFile, ShotMedia, ShotPlan, SubjectPlan, SubjectSpan
from storyboard.plan.times import TimeReader, frame_at
from storyboard.script.schema import KEY_END

if TYPE_CHECKING:
    from storyboard.errors import Loc
    from storyboard.script.load import Script


class SceneSpan(Protocol):
    """Where a scene lies (:class:`storyboard.plan.compile.SceneSpan`): frames ``[start, end)``, its
    exact start and length in seconds."""

    index: int
    start: int
    end: int
    start_s: float
    dur_s: float

    def loc(self, *path: str | int) -> "Loc": ...


class ImageFacts(Protocol):
    """What the plan reads of a probed image: its resolved path, checksum and size in pixels."""

    @property
    def path(self) -> str: ...
    @property
    def sha256(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


class VideoFacts(ImageFacts, Protocol):
    """What the plan reads of a probed control video: an image's facts, and its frames and rate
    (frames per second); a folder of frames also lists their file names, in order."""

    @property
    def frames(self) -> int: ...
    @property
    def fps(self) -> float: ...
    @property
    def names(self) -> tuple[str, ...]: ...


class MediaFacts(Protocol):
    """The probed images and control videos, by resolved path."""

    @property
    def images(self) -> Mapping[str, ImageFacts]: ...
    @property
    def videos(self) -> Mapping[str, VideoFacts]: ...


class NoFacts:
    """No media probed (a plan compiled without the pipeline): checksums stay empty, sizes 0."""

    images: Mapping[str, ImageFacts] = {}
    videos: Mapping[str, VideoFacts] = {}


def subject_plans(script: "Script", facts: MediaFacts) -> tuple[SubjectPlan, ...]:
    """The script's subjects with their images' checksums and sizes."""
    return tuple(SubjectPlan(name, s.description, tuple(media_file(script, p, facts) for p in s.images))
                 for name, s in script.storyboard.subjects.items())


def media_file(script: "Script", text: str, facts: MediaFacts) -> MediaFile:
    """The image the script names as ``text``, with what the probe found (empty when it found nothing)."""
    path = str(script.resolve(text))
    found = facts.images.get(path)
    return MediaFile(path, found.sha256, found.width, found.height) if found else MediaFile(path, "", 0, 0)


def with_media(shots: Sequence[ShotPlan], script: "Script", spans: Sequence[SceneSpan], times: TimeReader,
               facts: MediaFacts) -> list[ShotPlan]:
    """``shots`` with their :class:`ShotMedia`: each scene's start image and keyframes placed on frames,
    its subjects' spans and its control video lined up; problems go to ``times.problems``."""
    board = script.storyboard
    out = []
    for shot in shots:
        first = board.scenes[shot.scenes[0]]
        images = [key for i in shot.scenes for key in scene_images(script, spans[i], times, facts)]
        images = distinct_frames(sorted(images, key=lambda k: k[0].frame), times)
        keys = tuple(replace(k, role=image_role(shot, k.frame)) for k in images)
        controls = tuple(c for i in shot.scenes if (c := scene_control(script, spans[i], shot, times, facts)))
        media = ShotMedia(keys, subject_spans(script, shot, spans), controls, first.continue_, first.anchor)
        out.append(replace(shot, media=media))
    return out


def scene_images(script: "Script", span: SceneSpan, times: TimeReader,
                 facts: MediaFacts) -> list[tuple[ImageKey, tuple]]:
    """The scene's start image (on its first frame) and keyframes as (key, field path), in the order
    written; a keyframe after the scene's end is a problem (and left out)."""
    scene = script.storyboard.scenes[span.index]
    found: list[tuple[ImageKey, tuple]] = []
    if scene.image is not None:
        found.append((image_key(script, scene.image, span.start, span.index, facts), span.loc("image")))
    for k, key in enumerate(scene.keyframes):
        loc = span.loc("keyframes", k, "at")
        if key.at == KEY_END:
            frame = span.end - 1
        else:
            at_s = times.seconds(key.at, span.start_s, loc)
            if at_s > span.dur_s + 0.5 / times.fps:
                times.problems.add(loc, f"'{key.at}' ({at_s:.3f}s) is after the scene ends ({span.dur_s:.3f}s, "
                                   f"'{scene.duration}'); at: end places a keyframe on the scene's last frame")
                continue
            frame = min(frame_at(span.start_s + at_s, times.fps), span.end - 1)
        found.append((image_key(script, key.image, frame, span.index, facts), span.loc("keyframes", k)))
    return found


def image_key(script: "Script", text: str, frame: int, scene: int, facts: MediaFacts) -> ImageKey:
    f = media_file(script, text, facts)
    return ImageKey(frame, "keyframe", f.path, f.sha256, f.width, f.height, scene)


def distinct_frames(keys: list[tuple[ImageKey, tuple]], times: TimeReader) -> list[ImageKey]:
    """The keys, each on a frame of its own: a second image on a frame is a problem at its field."""
    out: list[ImageKey] = []
    for key, loc in keys:
        if out and out[-1].frame == key.frame:
            times.problems.add(loc, f"two images fall on frame {key.frame} ({key.frame / times.fps:.3f}s): a frame "
                               "passes through one picture (a start image is the scene's keyframe at 0)")
            continue
        out.append(key)
    return out


def image_role(shot: ShotPlan, frame: int) -> str:
    """``start`` on the shot's first frame, ``last`` on its last (before any handle), else ``keyframe``."""
    return "start" if frame == shot.start else "last" if frame == shot.end - 1 else "keyframe"


def subject_spans(script: "Script", shot: ShotPlan, spans: Sequence[SceneSpan]) -> tuple[SubjectSpan, ...]:
    """Each subject's frames in the shot: the scenes that cite it, neighbours merged; a span that
    reaches the shot's end takes its crossfade handle too."""
    found: list[SubjectSpan] = []
    open_at: dict[tuple[str, int], int] = {}  # (name, frame a span ends at) -> its index in found
    for i in shot.scenes:
        for name in dict.fromkeys(script.storyboard.scenes[i].subjects):
            if name not in script.storyboard.subjects:
                continue  # reported when the script was loaded
            end = shot.render_end if spans[i].end == shot.end else spans[i].end
            same = open_at.pop((name, spans[i].start), None)
            if same is None:
                same = len(found)
                found.append(SubjectSpan(name, spans[i].start, end))
            else:
                found[same] = replace(found[same], end=end)
            open_at[(name, end)] = same
    return tuple(sorted(found, key=lambda s: (s.start, s.name)))


def scene_control(script: "Script", span: SceneSpan, shot: ShotPlan, times: TimeReader,
                  facts: MediaFacts) -> ControlSpan | None:
    """The scene's control video lined up with its frames (and the shot's crossfade handle, when the
    scene ends the shot), checked to last as long as the scene from where it starts."""
    control = script.storyboard.scenes[span.index].control
    if control is None:
        return None
    path = str(script.resolve(control.video))
    found = facts.videos.get(path)
    end = shot.render_end if span.end == shot.end else span.end
    if found is None:
        return ControlSpan(path, "", control.kind, span.start, end, 0, times.fps, float(times.fps), 0, span.index)
    start = control.start
    first = round(start.amount) if start.unit == "f" else frame_at(start.amount, found.fps) if start.unit == "s" else 0
    spans = ControlSpan(found.path, found.sha256, control.kind, span.start, end, first, times.fps, found.fps,
                        found.frames, span.index, tuple(found.names))
    needed = first + math.floor((span.end - 1 - span.start) * found.fps / times.fps + 1e-9) + 1  # its frames used
    if needed > found.frames:
        times.problems.add(span.loc("control", "video"), short_control(control.video, str(start), found, first,
                                                                     span.end - span.start, times.fps, needed))
    return spans


def short_control(name: str, start: str, video: VideoFacts, first: int, frames: int, fps: int, needed: int) -> str:
    """Why a control video is too short for its scene, and by how much: in seconds, and in its frames
    (the scene's last frame needs the control frame showing at its time)."""
    left = max(0, video.frames - first)
    missing = needed - video.frames
    rate = f"{video.fps:g} fps"
    return (f"control video '{name}' is too short for the scene: from {start} (its frame {first}) it has "
            f"{left} frames ({left / video.fps:.3f} s at {rate}), and the scene ({frames} frames, "
            f"{frames / fps:.3f} s at {fps} fps) needs {needed - first}: {missing / video.fps:.3f} s "
            f"({missing} of its frames) short")
