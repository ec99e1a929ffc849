"""Final assembly: segments -> pieces of final-quality H.264 -> one MP4, joined without re-encoding.

The timeline is cut into runs: *plain* runs (a shot's own frames, nothing to blend)
and *composite* runs (crossfade frames, burnt-in captions). Each run is encoded once
at the output's quality into a piece (raw H.264, starting with a keyframe), cached
beside the segments under a hash of what it is made of. Assembly then concatenates
the pieces' bytes, which is a valid H.264 stream, and muxes it with the music mix:
the video is not encoded again. After an edit, only the runs whose inputs changed
are encoded; the rest is copied.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from storyboard.files import VIDEO_MARK, commit, ffmpeg_exe, temporary_sibling
from storyboard.plan.data import Plan
from storyboard.progress import clock
from storyboard.render import sealed
from storyboard.render.outputs import burns_captions, subtitle_files
from storyboard.render.compose import (
    Composed,
    blend,
    mix_audio,
    write_srt,
    write_vtt,
)
from storyboard.render.encode import EncodeError, VideoEncoder, count_frames
from storyboard.render.loudness import encode_mix
from storyboard.render.segments import Segment, decode_frames

PIECE_FORMAT = 1


@dataclass(frozen=True)
class Run:
    """Frames ``[start, end)`` of the video, all from shot ``shot``; ``composite`` if any need blending or a caption."""

    start: int
    end: int
    shot: int
    composite: bool


def runs_for(plan: Plan) -> list[Run]:
    """The timeline cut where compositing starts and stops, and at every shot boundary."""
    special: set[int] = set()
    for t in plan.transitions:
        if t.kind == "crossfade":
            special.update(range(t.start, t.start + t.frames))
    if burns_captions(plan):
        for c in plan.captions:
            special.update(range(c.start, c.end))
    runs: list[Run] = []
    for shot in plan.shots:
        start = shot.start
        for f in range(shot.start + 1, shot.end + 1):
            if f == shot.end or ((f in special) != (start in special)):
                runs.append(Run(start, f, shot.index, start in special))
                start = f
    return runs


def piece_key(plan: Plan, run: Run, segments: list[Segment]) -> str:
    shot = plan.shots[run.shot]
    payload: dict = {
        "format": PIECE_FORMAT,
        "segment": segments[run.shot].key,
        "range": [run.start - shot.start, run.end - shot.start],
        "encode": [plan.width, plan.height, plan.fps, plan.output.quality, plan.output.preset],
    }
    if run.composite:
        fades = [t for t in plan.transitions if t.kind == "crossfade" and t.start < run.end and run.start < t.start + t.frames]
        if fades:
            payload["handle"] = segments[run.shot - 1].key
            payload["fade"] = [[f - t.start, round(t.weights[f - t.start], 6)] for t in fades for f in range(run.start, run.end)
                               if t.start <= f < t.start + t.frames]
        if burns_captions(plan):
            payload["captions"] = [[f - run.start, c.text] for c in plan.captions for f in range(run.start, run.end)
                                   if c.start <= f < c.end]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:40]


class PieceWriter:
    """Encodes a shot's plain runs into their pieces while the shot renders (no decode later).

    ``tee(shot, frames)`` passes the frames through, feeding each plain run's encoder;
    ``commit(shot)`` finishes them; ``abort()`` removes what is unfinished.
    """

    def __init__(self, plan: Plan, segments: list[Segment], folder: Path):
        self.plan, self.segments, self.folder = plan, segments, folder
        self.open: dict[int, tuple[Run, VideoEncoder]] = {}
        self.runs = runs_for(plan)

    def tee(self, shot, frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        wanted = []
        for run in self.runs:
            if run.shot == shot.index and not run.composite:
                piece = self.folder / f"{piece_key(self.plan, run, self.segments)}.h264"
                if sealed.problem(piece, run.end - run.start) is not None:
                    wanted.append((run, piece))
        if wanted:
            self.folder.mkdir(parents=True, exist_ok=True)
        plan = self.plan
        for offset, frame in enumerate(frames):
            f = shot.start + offset
            for run, piece in wanted:
                if run.start <= f < run.end:
                    if run.start not in self.open:
                        self.open[run.start] = (run, piece_encoder(plan, piece))
                    self.open[run.start][1].write(frame)
                    if f == run.end - 1:
                        self._finish(run.start)
            yield frame

    def commit(self, shot) -> None:
        for start in list(self.open):
            self._finish(start)

    def _finish(self, start: int) -> None:
        run, encoder = self.open.pop(start)
        finish_piece(encoder, run)

    def abort(self) -> None:
        for _, encoder in self.open.values():
            encoder.abort()
        self.open.clear()


def piece_encoder(plan: Plan, piece: Path) -> VideoEncoder:
    """An encoder for a piece: raw H.264 at the output's quality (see :class:`VideoEncoder`, container h264)."""
    return VideoEncoder(piece, plan.width, plan.height, plan.fps, quality=plan.output.quality,
                        preset=plan.output.preset, container="h264")


def finish_piece(encoder: VideoEncoder, run: Run) -> None:
    """Close a piece's encoder, check it got the run's frames, and seal it with its note."""
    encoder.close()
    if encoder.frames != run.end - run.start:
        sealed.remove(encoder.path)
        raise EncodeError(f"piece {run.start}-{run.end}: {encoder.frames} frames, expected {run.end - run.start}")
    sealed.seal(encoder.path, encoder.frames)


def _run_frames(plan: Plan, run: Run, segments: list[Segment]) -> Iterator[np.ndarray]:
    """The run's finished frames: the shot's segment, blended with the previous handle and captioned as planned."""
    shot = plan.shots[run.shot]
    own = islice(decode_frames(segments[run.shot].path, plan.width, plan.height, run.start - shot.start, plan.fps),
                 run.end - run.start)
    if not run.composite:
        yield from own
        return
    fade = next((t for t in plan.transitions if t.kind == "crossfade" and t.start == shot.start), None)
    handle: list[np.ndarray] = []
    if fade is not None and run.start < fade.start + fade.frames:
        prev = plan.shots[run.shot - 1]
        first = run.start - fade.start
        count = min(run.end, fade.start + fade.frames) - run.start
        handle = list(islice(decode_frames(segments[run.shot - 1].path, plan.width, plan.height,
                                           prev.end - prev.start + first, plan.fps), count))
    burn = burns_captions(plan)
    if burn:
        from storyboard.typography.drawing import burn_caption
    for k, frame in enumerate(own):
        f = run.start + k
        if handle and k < len(handle):
            frame = blend(handle[k], frame, fade.weights[f - fade.start])
        if burn:
            texts = [c.text for c in plan.captions if c.start <= f < c.end]
            if texts:
                frame = burn_caption(frame, texts[-1])
        yield frame


def assemble(plan: Plan, segments: list[Segment], path: str | Path, pieces: Path,
             on_frame: Callable[[int], None] | None = None,
             warn: Callable[[str], None] | None = None,
             on_reused: Callable[[int], None] | None = None,
             audio: Path | None = None) -> tuple[Composed, int, int]:
    """Write the MP4 from the segments. Returns (what was written, pieces encoded, pieces reused).

    A cached piece is reused only if it checks out against its note; ``warn`` hears of
    damaged ones, which are encoded again. ``on_frame(done)`` hears the video frames done
    after every frame encoded; ``on_reused(frames)`` the frames of each piece reused (else
    ``on_frame`` hears those too). ``audio``: the encoded sound, if made already (else it is
    made here when the plan has sound). ``Composed.frames`` is what the MP4 holds, counted
    after the mux.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pieces.mkdir(parents=True, exist_ok=True)
    if audio is None and plan.has_sound:
        audio = audio_piece(plan, pieces, warn)
    encoded = reused = done = 0
    files: list[Path] = []
    for run in runs_for(plan):
        piece = pieces / f"{piece_key(plan, run, segments)}.h264"
        files.append(piece)
        problem = sealed.problem(piece, run.end - run.start)
        if problem is None:
            reused += 1
            done += run.end - run.start
            if on_reused:
                on_reused(run.end - run.start)
            elif on_frame:
                on_frame(done)
            continue
        if problem != sealed.MISSING and warn:
            warn(f"warning: piece {piece.name} {problem}; encoding it again")
        encoder = piece_encoder(plan, piece)
        try:
            for frame in _run_frames(plan, run, segments):
                encoder.write(frame)
                if on_frame:
                    on_frame(done + encoder.frames)
        except BaseException:
            encoder.abort()
            raise
        finish_piece(encoder, run)
        encoded += 1
        done += run.end - run.start
    stream = temporary_sibling(path, ".h264")
    try:
        with open(stream, "wb") as out:
            for piece in files:
                with open(piece, "rb") as f:
                    while block := f.read(1 << 20):
                        out.write(block)
        muxed = _mux(stream, audio, path, plan)
    finally:
        stream.unlink(missing_ok=True)
    subtitles = tuple(write_vtt(plan, p) if p.suffix == ".vtt" else write_srt(plan, p) for p in subtitle_files(plan, path))
    return Composed(path, muxed, muxed / plan.fps, subtitles), encoded, reused


def audio_key(plan: Plan) -> str:
    tracks = []
    for track in plan.audio:
        stat = os.stat(track.path)
        tracks.append([track.path, stat.st_size, stat.st_mtime_ns, track.offset_s, track.start_s, track.volume,
                       track.fade_in_s, track.fade_out_s] + (["loop"] if getattr(track, "loop", False) else []))
    voices = [[n.path, os.stat(n.path).st_size, n.offset_s, n.volume, n.sentences] for n in plan.narration]
    made_of = {"format": PIECE_FORMAT, "tracks": tracks, "frames": plan.total_frames, "fps": plan.fps, "aac": "192k"}
    if voices or plan.mix.loudness_lufs is not None:  # (keys of mixes made before these stay as they were)
        made_of |= {"voices": voices, "mix": asdict(plan.mix)}
    if plan.mix.loudness_lufs is not None:  # mixes encoded before the ceiling was checked as encoded are made again
        made_of["peak"] = "measured after AAC"
    return hashlib.sha256(json.dumps(made_of).encode()).hexdigest()[:40]


def audio_piece(plan: Plan, pieces: Path, warn: Callable[[str], None] | None = None,
                say: Callable[[str], None] | None = None) -> Path:
    """The music mixed to the video's length and encoded as AAC (:func:`encode_mix`), cached by what it is made of.

    Encoding a minute of music takes seconds, and an edit to a scene's prompts does not
    change it, so it is made once per (tracks, their files' sizes and times, length).
    """
    target = pieces / f"audio-{audio_key(plan)}.m4a"
    problem = sealed.problem(target)
    if problem is None:
        return target
    if problem != sealed.MISSING and warn:
        warn(f"warning: the encoded music {target.name} {problem}; encoding it again")
    if say:
        what = " and ".join(kind for kind, there in (("music", plan.audio), ("narration", plan.narration)) if there)
        say(f"mixing the sound: {clock(plan.duration_s)} of {what or 'silence'}")
    pieces.mkdir(parents=True, exist_ok=True)
    wav = temporary_sibling(target, ".wav")
    partial = temporary_sibling(target, ".m4a")
    try:
        mix_audio(plan.audio, plan.duration_s, wav, plan.narration, plan.mix)
        encode_mix(wav, partial, plan.mix, warn)  # at the loudness target, its true peak measured as encoded
        commit(partial, target)
        sealed.seal(target, None)
    finally:
        wav.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def _mux(stream: Path, audio: Path | None, path: Path, plan: Plan) -> int:
    """The H.264 stream (copied, frame rate from the plan) and the AAC music (copied) into an MP4, atomically.

    Returns the frames the MP4 holds, counted in the muxed file before it is moved into place.
    """
    partial = temporary_sibling(path, ".mp4")
    cmd = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "h264",
           "-framerate", str(plan.fps), "-i", str(stream)]
    if audio is not None:
        cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "copy"]
    # No -t: the stream has exactly the plan's frames and the mix exactly its length; a trim
    # measured against the raw stream's reordered timestamps would drop the last frames.
    cmd += ["-c:v", "copy", "-metadata", f"comment={VIDEO_MARK}", "-movflags", "+faststart", "-f", "mp4", str(partial)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise EncodeError(f"ffmpeg could not mux the MP4: {result.stderr.strip()[-2000:]}")
    frames = count_frames(partial)
    if frames != plan.total_frames:
        partial.unlink(missing_ok=True)
        raise EncodeError(f"the muxed MP4 holds {frames} frames, the plan has {plan.total_frames}; nothing was written")
    commit(partial, path)
    return frames


def piece_keys(plan: Plan, segments: list[Segment]) -> set[str]:
    """Names (stems) of every piece the plan's assembly uses, the music's included."""
    keys = {piece_key(plan, run, segments) for run in runs_for(plan)}
    if plan.has_sound:
        keys.add(f"audio-{audio_key(plan)}")
    return keys


__all__ = ["PieceWriter", "Run", "assemble", "piece_keys", "runs_for"]
