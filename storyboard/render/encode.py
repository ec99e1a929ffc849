"""Streaming H.264/AAC encoding through the ffmpeg binary that imageio-ffmpeg ships.

Frames go to ffmpeg's stdin one at a time, so memory does not grow with the
video. The file appears under its final name only when ffmpeg has finished
successfully (written to a temporary name beside it, then renamed).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

import numpy as np

from storyboard.files import VIDEO_MARK, commit, ffmpeg_exe, temporary_sibling
from storyboard.interrupts import shielded

# x264's output depends on how many threads it runs (by default 1.5 per core): the same frames encoded
# on a 2-core and a 16-core machine decode to slightly different pictures where there is a lot of motion.
# A fixed count makes every encode of the same frames identical on every machine, so a farm's workers
# and its driver, or two machines sharing a cache, agree frame for frame.
X264_THREADS = 8


def count_frames(path: Path) -> int:
    """Video frames in a media file, counted by reading its stream (no decoding)."""
    result = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy",
                             "-f", "null", "-"], capture_output=True, text=True)
    counts = re.findall(r"frame=\s*(\d+)", result.stderr)
    if result.returncode != 0 or not counts:
        raise EncodeError(f"cannot count the frames of {path}: {result.stderr.strip()[-500:] or 'no video stream'}")
    return int(counts[-1])


def abort_all() -> None:
    """Stop every encoder this process still runs and delete its partial file (for clean-up on Ctrl-C)."""
    for encoder in list(_live):
        encoder.abort()


class EncodeError(RuntimeError):
    """ffmpeg failed; the message holds the end of its log."""


_live: set["VideoEncoder"] = set()  # encoders whose ffmpeg runs: stopped by abort_all()


class VideoEncoder:
    """Write RGB frames to an MP4 (H.264, yuv420p), with an optional audio file muxed as AAC.

    Use as a context manager: on normal exit the MP4 is committed atomically; on
    an exception (Ctrl-C included) ffmpeg is stopped and nothing is left behind.
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: int,
        *,
        quality: int = 18,
        preset: str = "medium",
        audio: str | Path | None = None,
        duration_s: float | None = None,
        pixel_format: str = "yuv420p",
        container: str = "mp4",
        keyframe_every: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with shielded():  # ffmpeg never runs unrecorded: an interruption waits until it is in _live
            self.partial = temporary_sibling(self.path, self.path.suffix or ".mp4")
            self._log = tempfile.TemporaryFile()
            self._proc = subprocess.Popen(self._command(audio, preset, quality, pixel_format, container,
                                                        keyframe_every, duration_s),
                                          stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
            _live.add(self)

    def _command(self, audio: str | Path | None, preset: str, quality: int, pixel_format: str, container: str,
                 keyframe_every: int | None, duration_s: float | None) -> list[str]:
        width, height, fps = self.width, self.height, self.fps
        cmd = [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps), "-i", "pipe:0",
        ]
        if audio is not None:
            cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:a", "aac", "-b:a", "192k"]
        cmd += ["-c:v", "libx264", "-threads", str(X264_THREADS), "-preset", preset, "-crf", str(quality),
                "-pix_fmt", pixel_format]
        if keyframe_every:
            cmd += ["-g", str(keyframe_every)]
        if container == "mp4":
            cmd += ["-metadata", f"comment={VIDEO_MARK}", "-movflags", "+faststart"]
        if container == "h264":
            # A raw stream that others are appended to: no B-frames (a raw stream carries no
            # presentation times, so reordered frames would be lost at the mux).
            cmd += ["-bf", "0", "-bsf:v", "h264_mp4toannexb"]
        if duration_s is not None:
            cmd += ["-t", f"{duration_s:.6f}"]
        return cmd + ["-f", container, str(self.partial)]

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (``height x width x 3`` uint8)."""
        if frame.shape != (self.height, self.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame {self.frames}: expected {self.height}x{self.width}x3 uint8, got {frame.shape} {frame.dtype}")
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).data)
        except BrokenPipeError:
            self._proc.wait()
            raise EncodeError(f"ffmpeg stopped after {self.frames} frames: {self._tail()}") from None
        self.frames += 1

    def close(self) -> Path:
        """Finish encoding and move the file into place; returns its path."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        code = self._proc.wait()
        if code != 0:
            message = self._tail()  # before abort() closes the log
            self.abort()
            raise EncodeError(f"ffmpeg exited with code {code}: {message}")
        commit(self.partial, self.path)
        _live.discard(self)
        self._log.close()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.partial.unlink(missing_ok=True)
        _live.discard(self)
        if not self._log.closed:
            self._log.close()

    def _tail(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()[-2000:] or "(no message)"

    def __enter__(self) -> "VideoEncoder":
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()
