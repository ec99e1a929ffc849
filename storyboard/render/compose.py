"""Compositing pieces shared by assembly: crossfade blending, the music mix, subtitles.

It knows nothing of diffusion. :mod:`storyboard.render.assemble` puts them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from storyboard.files import atomic
from storyboard.plan.data import AudioTrackPlan, MixPlan, NarrationPlan, Plan

AUDIO_RATE = 44100


@dataclass(frozen=True)
class Composed:
    """What the compositor wrote."""

    path: Path
    frames: int
    duration_s: float
    subtitles: tuple[Path, ...]  # .srt and/or .vtt written beside the video


def blend(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """``(1 - weight) * a + weight * b`` for uint8 frames, rounded."""
    mixed = a.astype(np.float32) * (1.0 - weight) + b.astype(np.float32) * weight
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def duck_gain(times: np.ndarray, spans: Sequence[tuple[float, float]], mix: MixPlan) -> np.ndarray:
    """The music's gain (linear) at ``times`` (seconds) under a voice speaking during ``spans``.

    The music is down ``mix.duck_db`` while the voice speaks. It starts going down ``attack_s``
    before each span (the plan knows when the voice will start, so the music is already down
    for its first syllable) and comes back over ``release_s`` after it; gaps too short for
    both stay down. Ramps are linear in dB.
    """
    depth = np.zeros(np.shape(times), dtype=np.float64)  # dB below full
    attack, release = max(mix.attack_s, 1e-3), max(mix.release_s, 1e-3)
    for start, end in merged_spans(spans, attack + release):
        rise = np.clip((times - (start - attack)) / attack, 0.0, 1.0)
        fall = np.clip(1.0 - (times - end) / release, 0.0, 1.0)
        depth = np.maximum(depth, mix.duck_db * np.where(times < start, rise, np.where(times > end, fall, 1.0)))
    return 10.0 ** (-depth / 20.0)


def merged_spans(spans: Sequence[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    """``spans`` (seconds) sorted, with those less than ``gap_s`` apart joined."""
    out: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if out and start - out[-1][1] < gap_s:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def mix_audio(tracks: Iterable[AudioTrackPlan], duration_s: float, path: Path,
              narration: Sequence[NarrationPlan] = (), mix: MixPlan = MixPlan()) -> Path:
    """Mix the tracks onto a silent bed of ``duration_s`` seconds, written as a float WAV.

    Each track is trimmed at ``start_s`` seconds into its file, placed at ``offset_s`` on the
    video's timeline, scaled by ``volume``, faded in over ``fade_in_s`` from where it
    starts and out over ``fade_out_s`` before it stops: the video's end, or the file's end
    when the track runs out first. With ``loop`` the file, from ``start_s`` to its end,
    repeats until the video ends, so it never runs out (faded in once, out at the end).
    Narration is laid over the music, which ducks under it (:func:`duck_gain`).
    """
    from moviepy import AudioClip, AudioFileClip, CompositeAudioClip
    from moviepy.audio.fx import AudioFadeIn, AudioFadeOut, AudioLoop, MultiplyVolume

    clips = [AudioClip(lambda t: np.zeros((np.size(t), 2)), duration=duration_s, fps=AUDIO_RATE)]
    sources = []
    for track in tracks:
        source = AudioFileClip(track.path, fps=AUDIO_RATE)
        sources.append(source)
        source = read_in_buffer_spans(source)
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
    music = CompositeAudioClip(clips).with_duration(duration_s)
    spans = [(start, end) for n in narration for _, start, end in n.sentences]
    if spans and mix.duck_db > 0:
        music = music.transform(lambda get_frame, t: get_frame(t) * duck_gain(np.asarray(t), spans, mix)[..., None],
                                keep_duration=True)
    voices = []
    for n in narration:
        source = AudioFileClip(n.path, fps=AUDIO_RATE)
        sources.append(source)
        source = read_in_buffer_spans(source)
        voices.append(source.with_effects([MultiplyVolume(n.volume)]).with_start(n.offset_s))
    final = CompositeAudioClip([music, *voices]).with_duration(duration_s) if voices else music
    try:
        write_float_wav(final, path)
    finally:
        for source in sources:
            source.close()
    return path


def read_in_buffer_spans(source):  # noqa: ANN001, ANN201 (a MoviePy AudioFileClip, and the clip to mix)
    """``source`` reading its file only in runs of times that fit its reader's buffer.

    MoviePy's file reader, asked for more samples than half its buffer at once, splits the
    request and reads the halves wrongly (it passes its masks on as times). Its buffer is at
    most the file's length, so a file shorter than two mix chunks (0.9 s) ended every mix
    with ``OSError: ... Accessing time t=1.00-1.00 seconds``, and a loop's wrap in a chunk
    read garbage. Here each request is sorted and read in spans under half the buffer;
    times outside the file are silence.
    """
    reader = source.reader
    step = max(1, reader.buffersize // 2 - 1)  # samples one read may span

    def frames(t):  # noqa: ANN001, ANN202 (seconds: a float or an array)
        if not isinstance(t, np.ndarray):
            return reader.get_frame(t)
        out = np.zeros((len(t), reader.nchannels))
        inside = np.flatnonzero((t >= 0) & (t < reader.duration))
        order = inside[np.argsort(t[inside], kind="stable")]
        at = np.round(t[order] * reader.fps).astype(np.int64)
        k = 0
        while k < len(order):
            end = int(np.searchsorted(at, at[k] + step, side="left"))
            out[order[k:end]] = reader.get_frame(t[order[k:end]])
            k = end
        return out

    return source.with_updated_frame_function(frames)


def write_float_wav(clip, path: Path, chunk: int = 20_000) -> None:  # noqa: ANN001 (a MoviePy AudioClip)
    """The clip as a 32-bit float stereo WAV, ``chunk`` samples at a time: a float mix never
    clips (voice over music can peak above full scale before the loudness stage sets its level).
    A chunk stays well inside MoviePy's file reader buffer (200,000 samples): a longer one
    reads silence past it."""
    import soundfile

    with soundfile.SoundFile(str(path), "w", samplerate=AUDIO_RATE, channels=2, subtype="FLOAT", format="WAV") as out:
        for part in clip.iter_chunks(chunksize=chunk, fps=AUDIO_RATE, quantize=False, logger=None):
            out.write(np.asarray(part, dtype=np.float32).reshape(-1, 2))


def write_srt(plan: Plan, path: Path) -> Path:
    """Write the captions as SubRip subtitles, atomically."""
    blocks = [f"{n}\n{plan.timecode(c.start, hours=True, separator=',')} --> "
              f"{plan.timecode(c.end, hours=True, separator=',')}\n{srt_text(c.text)}\n"
              for n, c in enumerate(sorted(plan.captions, key=lambda c: c.start), 1)]
    with atomic(path, ".srt") as tmp:
        tmp.write_text("\n".join(blocks), encoding="utf-8")
    return path


def write_vtt(plan: Plan, path: Path) -> Path:
    """Write the captions as WebVTT, atomically (the same cues as the SRT)."""
    blocks = ["WEBVTT\n"] + [f"{n}\n{plan.timecode(c.start, hours=True)} --> {plan.timecode(c.end, hours=True)}\n"
                             f"{vtt_text(c.text)}\n"
                             for n, c in enumerate(sorted(plan.captions, key=lambda c: c.start), 1)]
    with atomic(path, ".vtt") as tmp:
        tmp.write_text("\n".join(blocks), encoding="utf-8")
    return path


def vtt_text(text: str) -> str:
    """A cue's text for WebVTT: as for SRT, with ``&``, ``<`` and ``>`` escaped (a player reads
    ``<30 °C`` as a tag) and no ``-->``."""
    escaped = srt_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("--&gt;", "-&gt;")


def srt_text(text: str) -> str:
    """A caption's lines without blank ones: a blank line ends an SRT cue, so one inside a caption
    would make a player read the rest as a new, malformed cue."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip()) or " "
