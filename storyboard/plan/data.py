"""The Plan: plain, frame-exact data that every later stage reads and nothing writes back.

Words (see ``design/architecture.md``):

* **shot**: frames generated as one continuous latent video. A ``cut`` or a
  ``crossfade`` starts a new shot; a ``morph`` continues the current one. A shot
  followed by a crossfade renders ``handle`` extra frames past its end, which
  the compositor blends with the next shot's first frames.
* **window**: the model's native clip length slid over a shot with overlap.
* **conditioning**: per frame, the two prompts in play (``a``, ``b``), the weight
  of ``b`` after easing (``w``), the noise seed and the beat pulse; and per shot
  (:class:`ShotMedia`) the images it passes through at given frames, the subjects it
  shows over spans of frames, the control videos that drive spans of it, whether it
  continues the shot before it, and its colour anchoring.

Frames are output frames at ``Plan.fps``; times in seconds are exact (``frame / fps``).

Per-frame data is stored as spans and keys, never as a row per frame, so a 12-hour plan
is as small as a 12-second one: a shot's conditioning is a few :class:`CondRun` spans (each
a prompt pair and a :class:`~storyboard.plan.glides.Ramp`) and :class:`Pulse` spans, read a
frame at a time through :class:`ShotFrames` (a sequence of :class:`FrameCond`); a
transition's weights are one ramp, read through :class:`RampWeights`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, overload

from storyboard.plan.glides import Ramp
from storyboard.plan.windows import Windows
from storyboard.script.timecode import format_clock

PLAN_VERSION = 1


@dataclass(frozen=True)
class FrameCond:
    """Conditioning of one frame: prompts ``a`` -> ``b`` at weight ``w`` of ``b``."""

    a: int
    b: int
    w: float
    seed: int
    pulse: float = 0.0
    scene: int = 0

    def held(self) -> "FrameCond":
        """The same conditioning without a pulse (for crossfade handles)."""
        return FrameCond(self.a, self.b, self.w, self.seed, 0.0, self.scene)


@dataclass(frozen=True)
class CondRun:
    """Frames ``[start, end)`` of scene ``scene``: prompts ``a`` -> ``b``, the weight of ``b`` read
    from ``ramp`` (or ``w`` throughout without one), noise seed ``seed``."""

    start: int
    end: int
    a: int
    b: int
    seed: int
    scene: int
    ramp: Ramp | None = None
    w: float = 0.0

    def weight(self, frame: int) -> float:
        return self.w if self.ramp is None else self.ramp.at(frame)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "a": self.a, "b": self.b, "seed": self.seed,
                               "scene": self.scene}
        return {**out, **(_ramp_json(self.ramp) if self.ramp else {"w": round(self.w, 6)})}


@dataclass(frozen=True)
class Pulse:
    """A hold's beat pulse over frames ``[start, end)``: ``strength`` on each of the ``hits``
    (frames), halving every ``half_life`` frames until the next."""

    start: int
    end: int
    hits: tuple[int, ...]
    strength: float
    half_life: float

    def at(self, frame: int) -> float:
        if not self.start <= frame < self.end:
            return 0.0
        n = bisect.bisect_right(self.hits, frame)  # hits at or before the frame
        return self.strength * 0.5 ** ((frame - self.hits[n - 1]) / self.half_life) if n else 0.0


@dataclass(frozen=True)
class ShotFrames(Sequence[FrameCond]):
    """A shot's per-frame conditioning, stored as spans: ``runs`` tile frames ``[start, start + len)``
    in order, and ``pulses`` add the holds' beat pulses. Indexed from 0 (the shot's first frame)
    like the tuple of :class:`FrameCond` it stands for; a slice gives a tuple."""

    start: int
    runs: tuple[CondRun, ...]
    pulses: tuple[Pulse, ...] = ()

    def __len__(self) -> int:
        return self.runs[-1].end - self.start if self.runs else 0

    @overload
    def __getitem__(self, k: int) -> FrameCond: ...

    @overload
    def __getitem__(self, k: slice) -> tuple[FrameCond, ...]: ...

    def __getitem__(self, k: int | slice) -> FrameCond | tuple[FrameCond, ...]:
        if isinstance(k, slice):
            return tuple(self.at(self.start + i) for i in range(*k.indices(len(self))))
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"frame {k} of a shot of {n}")
        return self.at(self.start + (k % n))

    def __iter__(self) -> Iterator[FrameCond]:
        for run in self.runs:
            for f in range(run.start, run.end):
                yield self._cond(run, f)

    def at(self, frame: int) -> FrameCond:
        """The conditioning of absolute frame ``frame``."""
        run = self.runs[bisect.bisect_right([r.start for r in self.runs], frame) - 1]
        return self._cond(run, frame)

    def _cond(self, run: CondRun, frame: int) -> FrameCond:
        pulse = 0.0
        for p in self.pulses:
            if p.start <= frame < p.end:
                pulse = p.at(frame)
        return FrameCond(run.a, run.b, run.weight(frame), run.seed, pulse, run.scene)

    def to_json(self) -> dict[str, Any]:
        return {"runs": [r.to_json() for r in self.runs],
                "pulses": [{**asdict(p), "hits": list(p.hits)} for p in self.pulses]}


@dataclass(frozen=True)
class RampWeights(Sequence[float]):
    """``frames`` weights, from frame ``start`` on, read from ``ramp`` (a transition's, stored as one ramp)."""

    start: int
    frames: int
    ramp: Ramp

    def __len__(self) -> int:
        return self.frames

    @overload
    def __getitem__(self, k: int) -> float: ...

    @overload
    def __getitem__(self, k: slice) -> tuple[float, ...]: ...

    def __getitem__(self, k: int | slice) -> float | tuple[float, ...]:
        if isinstance(k, slice):
            return tuple(self.ramp.at(self.start + i) for i in range(*k.indices(self.frames)))
        if not -self.frames <= k < self.frames:
            raise IndexError(f"weight {k} of {self.frames}")
        return self.ramp.at(self.start + k % self.frames)


@dataclass(frozen=True)
class TransitionPlan:
    """How scene ``into`` begins: ``cut``, ``crossfade`` (compositor) or ``morph`` (latent).

    ``weights`` holds, for each of the ``frames`` frames from ``start``, the weight of
    the incoming scene (crossfade: of the new shot's pixels; morph: of its first prompt):
    a :class:`RampWeights` from the compiler (one ramp, not a row per frame), or any sequence.
    """

    kind: str
    into: int
    start: int
    frames: int
    curve: str
    weights: Sequence[float] = ()


@dataclass(frozen=True)
class CaptionPlan:
    text: str
    start: int
    end: int
    scene: int


@dataclass(frozen=True)
class ScenePlan:
    """A scene resolved to frames ``[start, end)``; ``start_s`` is exact (``start / fps``)."""

    index: int
    id: str
    start: int
    end: int
    shot: int
    seed: int
    prompts: tuple[int, ...]
    keys: tuple[int, ...]
    requested_start_s: float
    hold: tuple[int, int] | None = None
    caption: str | None = None
    snapped_s: float = 0.0  # how far sync moved this scene's start (seconds, + later)
    sync_skipped: bool = False  # sync left this scene's end as written: no snap point within a beat (bar)

    @property
    def frames(self) -> int:
        return self.end - self.start


IMAGE_ROLES = ("start", "keyframe", "last")


@dataclass(frozen=True)
class ImageKey:
    """An image a shot passes through: output frame ``frame`` (absolute) shows the picture at ``path``
    (resolved; ``sha256`` of its bytes, ``width`` x ``height`` pixels). ``role`` says where it lies in
    its shot: ``start`` (its first frame), ``last`` (its last frame before any crossfade handle) or
    ``keyframe`` (any other), however it was written. ``scene``: the scene that names it. ``sha256``
    is empty, and the size 0, in a plan compiled without the media facts (the pipeline always
    gathers them; the segment cache refuses such a plan)."""

    frame: int
    role: str
    path: str
    sha256: str
    width: int
    height: int
    scene: int


@dataclass(frozen=True)
class MediaFile:
    """A file the plan reads: its resolved ``path``, ``sha256`` and size in pixels."""

    path: str
    sha256: str
    width: int
    height: int


@dataclass(frozen=True)
class SubjectPlan:
    """A named subject: its ``description`` and reference images (in the order written)."""

    name: str
    description: str
    images: tuple[MediaFile, ...]


@dataclass(frozen=True)
class SubjectSpan:
    """Subject ``name`` is in frames ``[start, end)`` of a shot (a crossfade handle included when the
    span reaches the shot's end)."""

    name: str
    start: int
    end: int


@dataclass(frozen=True)
class ControlSpan:
    """A control video driving frames ``[start, end)`` (absolute output frames at ``fps``; a crossfade
    handle past the scene holds its last frame): ``kind`` (pose, depth or edge), the file or folder at
    ``path`` and its ``sha256``, ``source_frames`` frames at ``source_fps``, of which ``first`` lines up
    with ``start``. A folder's frames are its image files ``names``, in order (empty for a file)."""

    path: str
    sha256: str
    kind: str
    start: int
    end: int
    first: int
    fps: int
    source_fps: float
    source_frames: int
    scene: int
    names: tuple[str, ...] = ()

    def source_frame(self, frame: int) -> int:
        """The control video's frame that drives output frame ``frame``: the one showing at that frame's
        time, counted from ``first`` at ``start`` (past the video's end, its last)."""
        shown = self.first + math.floor((frame - self.start) * self.source_fps / self.fps + 1e-9)
        return max(0, min(shown, self.source_frames - 1)) if self.source_frames else shown

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "names" or v} | \
            {"source_span": [self.source_frame(self.start), self.source_frame(self.end - 1) + 1]}


@dataclass(frozen=True)
class ShotMedia:
    """What conditions a shot besides its prompts, as keys and spans: the ``images`` it passes through
    (by frame), the ``subjects`` it shows (by span; their images are the plan's :class:`SubjectPlan`),
    the ``controls`` that drive it, whether it ``continues`` from the last frames of the shot before
    it (a continued cut), and its colour ``anchor`` strength (0 to 1; None: the model family's default)."""

    images: tuple[ImageKey, ...] = ()
    subjects: tuple[SubjectSpan, ...] = ()
    controls: tuple[ControlSpan, ...] = ()
    continues: bool = False
    anchor: float | None = None

    @property
    def empty(self) -> bool:
        return self == ShotMedia()

    def to_json(self) -> dict[str, Any]:
        return {"images": [asdict(i) for i in self.images], "subjects": [asdict(s) for s in self.subjects],
                "controls": [c.to_json() for c in self.controls], "continues": self.continues, "anchor": self.anchor}


@dataclass(frozen=True)
class ShotPlan:
    """A continuous latent video: owns frames ``[start, end)``, renders ``[start, render_end)``."""

    index: int
    scenes: tuple[int, ...]
    start: int
    end: int
    render_end: int
    windows: Sequence[tuple[int, int]]  # [start, end) frames: a plan.windows.Windows from the compiler
    frames: Sequence[FrameCond] = field(repr=False)  # per frame rendered: a ShotFrames from the compiler
    media: ShotMedia = ShotMedia()  # images, subjects, control videos, continue and anchoring

    @property
    def length(self) -> int:
        """Frames rendered, handle included."""
        return self.render_end - self.start

    def cond(self, frame: int) -> FrameCond:
        """The conditioning of absolute frame ``frame``."""
        if isinstance(self.frames, ShotFrames):
            return self.frames.at(frame)
        return self.frames[frame - self.start]


@dataclass(frozen=True)
class AudioTrackPlan:
    """A track placed on the video timeline; all times in seconds."""

    path: str
    offset_s: float
    start_s: float
    volume: float
    fade_in_s: float
    fade_out_s: float
    loop: bool = False  # repeat the file (from start_s to its end) until the video ends


@dataclass(frozen=True)
class NarrationPlan:
    """A scene's speech placed on the video timeline; all times in seconds."""

    scene: int
    path: str  # the speech (mono WAV, from the speech cache)
    offset_s: float  # where it starts in the video
    duration_s: float
    volume: float
    sentences: tuple[tuple[str, float, float], ...]  # (text, start, end), in video seconds


@dataclass(frozen=True)
class MixPlan:
    """How the voice and the music are mixed: ducking (dB, seconds) and the loudness target."""

    duck_db: float = 12.0  # the music's drop under the voice
    attack_s: float = 0.15  # how fast it drops
    release_s: float = 0.6  # how fast it recovers
    loudness_lufs: float | None = -16.0  # integrated loudness of the mix; None: levels as mixed
    true_peak_db: float = -1.0


@dataclass(frozen=True)
class WindowSettings:
    """The denoiser's window: how many frames it sees at once, and how many neighbouring windows
    share (output frames; latent frames for the families that slide over latent time)."""

    frames: int
    overlap: int


@dataclass(frozen=True)
class ModelSettings:
    """The model settings the backends read (and the segment cache keys on), from the script's
    ``model`` with the command line's overrides."""

    id: str  # preview, tiny-random, a hub id or a local folder
    revision: str | None  # hub revision
    steps: int  # denoising steps
    guidance: float  # classifier-free guidance scale (1 or less: none)
    scheduler: str
    noise: str  # independent or freenoise
    seed: int
    window: WindowSettings
    device: str
    dtype: str
    offload: bool
    vae_slicing: bool
    vae_tiling: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class OutputSettings:
    """What the encoder needs to write the video: where, how well, and what becomes of captions."""

    path: str  # the MP4
    quality: int  # H.264 constant rate factor (0 lossless, 18 visually lossless)
    preset: str  # x264 preset (ultrafast ... veryslow)
    captions: str  # none, burn, srt, vtt, both (burn and srt) or all (burn, srt and vtt)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """Everything the backends and the compositor need; JSON-serialisable with :meth:`to_json`."""

    title: str
    fps: int
    width: int
    height: int
    total_frames: int
    prompts: tuple[str, ...]
    negative: str
    model: ModelSettings
    scenes: tuple[ScenePlan, ...]
    shots: tuple[ShotPlan, ...]
    transitions: tuple[TransitionPlan, ...]
    captions: tuple[CaptionPlan, ...]
    audio: tuple[AudioTrackPlan, ...]
    output: OutputSettings
    tempo: dict[str, Any] | None
    beats: tuple[int, ...] = ()
    bars: tuple[int, ...] = ()
    end_snapped_s: float = 0.0
    narration: tuple[NarrationPlan, ...] = ()
    mix: MixPlan = MixPlan()
    caption_fonts: tuple[str, ...] = ()  # the fonts caption pages were measured with, in the order tried
    subjects: tuple[SubjectPlan, ...] = ()  # the script's named subjects, with their reference images
    version: int = PLAN_VERSION

    @property
    def has_sound(self) -> bool:
        """Whether the video gets an audio track: music or narration."""
        return bool(self.audio or self.narration)

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds (``total_frames / fps``)."""
        return self.total_frames / self.fps

    def timecode(self, frame: int, *, hours: bool = False, separator: str = ".") -> str:
        """The frame's start as ``m:ss.mmm`` (or a subtitle's ``hh:mm:ss,mmm``): see
        :func:`storyboard.script.timecode.format_clock`."""
        return format_clock(frame, self.fps, hours=hours, separator=separator)

    def to_json(self) -> dict[str, Any]:
        """Plain data: what ``storyboard plan --json`` prints."""

        def cond(c: FrameCond) -> dict[str, Any]:
            return {"a": c.a, "b": c.b, "w": round(c.w, 6), "seed": c.seed, "pulse": round(c.pulse, 6), "scene": c.scene}

        def frames(s: ShotPlan) -> dict[str, Any]:
            return s.frames.to_json() if isinstance(s.frames, ShotFrames) else {"frames": [cond(c) for c in s.frames]}

        def weights(t: TransitionPlan) -> dict[str, Any]:
            if isinstance(t.weights, RampWeights):
                return {"ramp": _ramp_json(t.weights.ramp)}
            return {"weights": [round(w, 6) for w in t.weights]}

        return {
            "version": self.version,
            "title": self.title,
            "fps": self.fps,
            "width": self.width,
            "height": self.height,
            "total_frames": self.total_frames,
            "duration_s": self.duration_s,
            "tempo": self.tempo,
            "prompts": list(self.prompts),
            "negative": self.negative,
            "model": self.model.to_json(),
            "output": self.output.to_json(),
            "audio": [_unless_default(asdict(a), loop=False) for a in self.audio],
            "scenes": [
                {**_unless_default(asdict(s), sync_skipped=False), "prompts": list(s.prompts), "keys": list(s.keys),
                 "hold": list(s.hold) if s.hold else None, "start_s": s.start / self.fps, "end_s": s.end / self.fps, "frames": s.frames}
                for s in self.scenes
            ],
            "shots": [
                {"index": s.index, "scenes": list(s.scenes), "start": s.start, "end": s.end, "render_end": s.render_end,
                 "windows": s.windows.to_json() if isinstance(s.windows, Windows) else [list(w) for w in s.windows],
                 **frames(s), **({} if s.media.empty else {"media": s.media.to_json()})}
                for s in self.shots
            ],
            "transitions": [{"kind": t.kind, "into": t.into, "start": t.start, "frames": t.frames, "curve": t.curve,
                             **weights(t)} for t in self.transitions],
            "captions": [asdict(c) for c in self.captions],
            **({"caption_fonts": list(self.caption_fonts)} if self.caption_fonts else {}),
            "beats": list(self.beats),
            "bars": list(self.bars),
            "end_snapped_s": self.end_snapped_s,
            **({"narration": [{**asdict(n), "sentences": [list(x) for x in n.sentences]} for n in self.narration]}
               if self.narration else {}),
            **({"mix": asdict(self.mix)} if self.has_sound else {}),
            **({"subjects": [{"name": x.name, "description": x.description, "images": [asdict(i) for i in x.images]}
                             for x in self.subjects]} if self.subjects else {}),
        }


def _ramp_json(ramp: Ramp) -> dict[str, Any]:
    """A ramp as plain data: the weight is 0 at frame ``t0`` and 1 from ``t1`` on, along ``curve``
    (``beats``: ``levels[i]`` from frame ``steps[i]`` on)."""
    out: dict[str, Any] = {"t0": ramp.t0, "t1": ramp.t1, "curve": ramp.curve}
    if ramp.curve == "beats":
        out.update(steps=list(ramp.steps), levels=[round(v, 6) for v in ramp.levels])
    return out


def _unless_default(fields: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """``fields`` without the keys that hold their default (fields added later print only when set,
    so plans written before them print as they did)."""
    return {k: v for k, v in fields.items() if k not in defaults or v != defaults[k]}
