"""Compositing pieces shared by assembly: crossfade blending, the music mix, subtitles.

It knows nothing of diffusion. :mod:`storyboard.render.assemble` puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from storyboard.files import atomic
from storyboard.plan.data import AudioTrackPlan, Plan

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


def mix_audio(tracks: Iterable[AudioTrackPlan], duration_s: float, path: Path) -> Path:
    """Mix the tracks onto a silent bed of ``duration_s`` seconds, written as 16-bit WAV.

    Each track is trimmed at ``start_s`` seconds into its file, placed at ``offset_s`` on the
    video's timeline, scaled by ``volume``, faded in over ``fade_in_s`` from where it
    starts and out over ``fade_out_s`` before it stops: the video's end, or the file's end
    when the track runs out first. With ``loop`` the file, from ``start_s`` to its end,
    repeats until the video ends, so it never runs out (faded in once, out at the end).
    """
    from moviepy import AudioClip, AudioFileClip, CompositeAudioClip
    from moviepy.audio.fx import AudioFadeIn, AudioFadeOut, AudioLoop, MultiplyVolume

    clips = [AudioClip(lambda t: np.zeros((np.size(t), 2)), duration=duration_s, fps=AUDIO_RATE)]
    sources = []
    for track in tracks:
        source = AudioFileClip(track.path, fps=AUDIO_RATE)
        sources.append(source)
        room = duration_s - track.offset_s  # seconds of video left when the track starts
        once = source.duration - track.start_s  # seconds the file plays from start_s
        length = room if track.loop and once > 0 else min(once, room)
        if length <= 0:
            continue
        clip = source.subclipped(track.start_s, track.start_s + min(once, length))
        effects = [AudioLoop(duration=length)] if length > once else []
        effects.append(MultiplyVolume(track.volume))
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
    blocks = [f"{n}\n{srt_time(c.start, plan.fps)} --> {srt_time(c.end, plan.fps)}\n{srt_text(c.text)}\n"
              for n, c in enumerate(sorted(plan.captions, key=lambda c: c.start), 1)]
    with atomic(path, ".srt") as tmp:
        tmp.write_text("\n".join(blocks), encoding="utf-8")
    return path


def srt_text(text: str) -> str:
    """A caption's lines without blank ones: a blank line ends an SRT cue, so one inside a caption
    would make a player read the rest as a new, malformed cue."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip()) or " "
