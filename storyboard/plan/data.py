"""The Plan: plain, frame-exact data that every later stage reads and nothing writes back.

Words (see ``design/architecture.md``):

* **shot**: frames generated as one continuous latent video. A ``cut`` or a
  ``crossfade`` starts a new shot; a ``morph`` continues the current one. A shot
  followed by a crossfade renders ``handle`` extra frames past its end, which
  the compositor blends with the next shot's first frames.
* **window**: the model's native clip length slid over a shot with overlap.
* **conditioning**: per frame, the two prompts in play (``a``, ``b``), the weight
  of ``b`` after easing (``w``), the noise seed and the beat pulse.

Frames are output frames at ``Plan.fps``; times in seconds are exact (``frame / fps``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
class TransitionPlan:
    """How scene ``into`` begins: ``cut``, ``crossfade`` (compositor) or ``morph`` (latent).

    ``weights`` holds, for each of the ``frames`` frames from ``start``, the weight of
    the incoming scene (crossfade: of the new shot's pixels; morph: of its first prompt).
    """

    kind: str
    into: int
    start: int
    frames: int
    curve: str
    weights: tuple[float, ...] = ()


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


@dataclass(frozen=True)
class ShotPlan:
    """A continuous latent video: owns frames ``[start, end)``, renders ``[start, render_end)``."""

    index: int
    scenes: tuple[int, ...]
    start: int
    end: int
    render_end: int
    windows: tuple[tuple[int, int], ...]
    frames: tuple[FrameCond, ...] = field(repr=False)

    @property
    def length(self) -> int:
        """Frames rendered, handle included."""
        return self.render_end - self.start

    def cond(self, frame: int) -> FrameCond:
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
class Plan:
    """Everything the backends and the compositor need; JSON-serialisable with :meth:`to_json`."""

    title: str
    fps: int
    width: int
    height: int
    total_frames: int
    prompts: tuple[str, ...]
    negative: str
    model: dict[str, Any]
    scenes: tuple[ScenePlan, ...]
    shots: tuple[ShotPlan, ...]
    transitions: tuple[TransitionPlan, ...]
    captions: tuple[CaptionPlan, ...]
    audio: tuple[AudioTrackPlan, ...]
    output: dict[str, Any]
    tempo: dict[str, Any] | None
    beats: tuple[int, ...] = ()
    bars: tuple[int, ...] = ()
    end_snapped_s: float = 0.0
    narration: tuple[NarrationPlan, ...] = ()
    mix: MixPlan = MixPlan()
    version: int = PLAN_VERSION

    @property
    def has_sound(self) -> bool:
        """Whether the video gets an audio track: music or narration."""
        return bool(self.audio or self.narration)

    @property
    def duration_s(self) -> float:
        """Length of the video in seconds (``total_frames / fps``)."""
        return self.total_frames / self.fps

    def timecode(self, frame: int) -> str:
        """The frame's start as ``m:ss.mmm``: minutes, seconds and milliseconds (a decimal fraction of a
        second, never a frame count), the same notation a script accepts for a time."""
        ms = round(frame * 1000 / self.fps)
        m, ms = divmod(ms, 60_000)
        return f"{m}:{ms // 1000:02d}.{ms % 1000:03d}"

    def to_json(self) -> dict[str, Any]:
        """Plain data: what ``storyboard plan --json`` prints."""

        def cond(c: FrameCond) -> dict[str, Any]:
            return {"a": c.a, "b": c.b, "w": round(c.w, 6), "seed": c.seed, "pulse": round(c.pulse, 6), "scene": c.scene}

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
            "model": self.model,
            "output": self.output,
            "audio": [_unless_default(asdict(a), loop=False) for a in self.audio],
            "scenes": [
                {**_unless_default(asdict(s), sync_skipped=False), "prompts": list(s.prompts), "keys": list(s.keys),
                 "hold": list(s.hold) if s.hold else None, "start_s": s.start / self.fps, "end_s": s.end / self.fps, "frames": s.frames}
                for s in self.scenes
            ],
            "shots": [
                {"index": s.index, "scenes": list(s.scenes), "start": s.start, "end": s.end, "render_end": s.render_end,
                 "windows": [list(w) for w in s.windows], "frames": [cond(c) for c in s.frames]}
                for s in self.shots
            ],
            "transitions": [{**asdict(t), "weights": [round(w, 6) for w in t.weights]} for t in self.transitions],
            "captions": [asdict(c) for c in self.captions],
            "beats": list(self.beats),
            "bars": list(self.bars),
            "end_snapped_s": self.end_snapped_s,
            **({"narration": [{**asdict(n), "sentences": [list(x) for x in n.sentences]} for n in self.narration]}
               if self.narration else {}),
            **({"mix": asdict(self.mix)} if self.has_sound else {}),
        }


def _unless_default(fields: dict[str, Any], **defaults: Any) -> dict[str, Any]:
    """``fields`` without the keys that hold their default (fields added later print only when set,
    so plans written before them print as they did)."""
    return {k: v for k, v in fields.items() if k not in defaults or v != defaults[k]}
