"""The compositor: shots' frames -> one MP4, with crossfades, captions and the music mix.

It knows nothing of diffusion: it receives, shot by shot, an iterator of frames
(``shot.length`` of them, handle included) and the plan's transitions. Memory is
bounded by the longest crossfade (the outgoing shot's handle frames), never by
the video's length.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from storyboard.encode import VideoEncoder, commit, temporary_sibling
from storyboard.plan import AudioTrackPlan, Plan, ShotPlan

AUDIO_RATE = 44100


@dataclass(frozen=True)
class Composed:
    """What the compositor wrote."""

    path: Path
    frames: int
    duration_s: float
    subtitles: Path | None


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * a + weight * b`` for uint8 frames, rounded."""
    mixed = a.astype(np.float32) * (1.0 - weight) + b.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def composite_frames(plan: Plan, shots: Iterable[tuple[ShotPlan, Iterator[np.ndarray]]]) -> Iterator[np.ndarray]:
    """The video's frames in order: each shot's own frames, crossfades blended from handles."""
    crossfades = {t.start: t for t in plan.transitions if t.kind == "crossfade"}
    handle: list[np.ndarray] = []  # the previous shot's frames past its end
    for shot, frames in shots:
        fade = crossfades.get(shot.start)
        incoming: list[np.ndarray | None] = list(handle)
        handle = []
        produced = 0
        for offset, frame in enumerate(frames):
            produced += 1
            index = shot.start + offset
            if index >= shot.end:
                handle.append(frame)
                continue
            if fade is not None and index < fade.start + fade.frames:
                k = index - fade.start
                other = incoming[k]
                assert other is not None
                frame = blend(other, frame, fade.weights[k])
                incoming[k] = None  # release as we go
            yield frame
        if produced != shot.length:
            raise RuntimeError(f"shot {shot.index}: the backend gave {produced} frames, the plan needs {shot.length}")


def with_captions(plan: Plan, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """Burn the plan's captions into the frames they cover."""
    from storyboard.drawing import burn_caption

    captions = sorted(plan.captions, key=lambda c: c.start)
    for index, frame in enumerate(frames):
        texts = [c.text for c in captions if c.start <= index < c.end]
        yield burn_caption(frame, texts[-1]) if texts else frame


def mix_audio(tracks: Iterable[AudioTrackPlan], duration_s: float, path: Path) -> Path:
    """Mix the tracks onto a silent bed of ``duration_s`` seconds, written as 16-bit WAV.

    Each track is trimmed at ``start_s`` into its file, placed at ``offset_s`` on the
    video's timeline, scaled by ``volume``, faded in over ``fade_in_s`` from where it
    starts and out over ``fade_out_s`` before it stops (the video's end at the latest).
    """
    from moviepy import AudioClip, AudioFileClip, CompositeAudioClip
    from moviepy.audio.fx import AudioFadeIn, AudioFadeOut, MultiplyVolume

    clips = [AudioClip(lambda t: np.zeros((np.size(t), 2)), duration=duration_s, fps=AUDIO_RATE)]
    sources = []
    for track in tracks:
        source = AudioFileClip(track.path, fps=AUDIO_RATE)
        sources.append(source)
        length = min(source.duration - track.start_s, duration_s - track.offset_s)
        if length <= 0:
            continue
        clip = source.subclipped(track.start_s, track.start_s + length)
        effects = [MultiplyVolume(track.volume)]
        if track.fade_in_s > 0:
            effects.append(AudioFadeIn(min(track.fade_in_s, length)))
        if track.fade_out_s > 0:
            effects.append(AudioFadeOut(min(track.fade_out_s, length)))
        clips.append(clip.with_effects(effects).with_start(track.offset_s))
    mix = CompositeAudioClip(clips).with_duration(duration_s)
    try:
        mix.write_audiofile(str(path), fps=AUDIO_RATE, nbytes=2, codec="pcm_s16le", logger=None)
    finally:
        for source in sources:
            source.close()
    return path


def srt_time(frame: int, fps: int) -> str:
    ms = round(frame * 1000 / fps)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def write_srt(plan: Plan, path: Path) -> Path:
    """Write the captions as SubRip subtitles, atomically."""
    blocks = [f"{n}\n{srt_time(c.start, plan.fps)} --> {srt_time(c.end, plan.fps)}\n{c.text}\n"
              for n, c in enumerate(sorted(plan.captions, key=lambda c: c.start), 1)]
    tmp = temporary_sibling(path, ".srt")
    tmp.write_text("\n".join(blocks), encoding="utf-8")
    commit(tmp, path)
    return path


def compose(
    plan: Plan,
    shots: Iterable[tuple[ShotPlan, Iterator[np.ndarray]]],
    path: str | Path,
    *,
    on_frame: Callable[[int], None] | None = None,
) -> Composed:
    """Encode the shots' frames into ``path`` with the plan's transitions, captions and audio.

    The MP4 is written atomically. ``on_frame(n)`` is called after each frame is encoded.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = plan.output.get("captions", "srt")
    audio = None
    if plan.audio:
        audio = temporary_sibling(path, ".wav")
    try:
        if audio is not None:
            mix_audio(plan.audio, plan.duration_s, audio)
        frames: Iterable[np.ndarray] = composite_frames(plan, shots)
        if plan.captions and mode in ("burn", "both"):
            frames = with_captions(plan, frames)
        with VideoEncoder(path, plan.width, plan.height, plan.fps, quality=plan.output.get("quality", 18),
                          preset=plan.output.get("preset", "medium"), audio=audio, duration_s=plan.duration_s) as encoder:
            for frame in frames:
                encoder.write(frame)
                if on_frame:
                    on_frame(encoder.frames)
            if encoder.frames != plan.total_frames:
                raise RuntimeError(f"composed {encoder.frames} frames, the plan has {plan.total_frames}")
    finally:
        if audio is not None:
            audio.unlink(missing_ok=True)
    subtitles = None
    if plan.captions and mode in ("srt", "both"):
        subtitles = write_srt(plan, path.with_suffix(".srt"))
    return Composed(path, plan.total_frames, plan.duration_s, subtitles)
