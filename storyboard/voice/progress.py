"""Progress while narration is synthesised: a bar on a terminal, plain lines in a log.

Synthesis runs at about 20x real time on one core, so a 12-minute narration takes a minute or
more (158 s on a busy machine) before ``validate`` can say anything. Work that long shows
progress on stderr: a tqdm bar when stderr is a terminal, otherwise a line such as
``speaking narration: 12/40 scenes, 310/1200 words`` every :data:`EVERY_S` seconds and one when
it is done. Short work (under :data:`LONG_WORDS` words to synthesise) and cached speech show
nothing.
"""

from __future__ import annotations

import io
import os
import sys
import time
from typing import TextIO

from storyboard.words import plural

LONG_WORDS = 150  # words to synthesise from which progress is shown (about 4 s of synthesis on a busy core)
EVERY_S = 10.0  # seconds between plain progress lines


class SpeakingProgress:
    """Counts scenes and words as they are synthesised, and shows it when the work is long.

    Use as a context manager; call :meth:`sentence` with each sentence's words and
    :meth:`scene` after each scene.
    """

    def __init__(self, scenes: int, words: int, stream: TextIO | None = None, *, show: bool = True):
        self.scenes, self.words = scenes, words
        self.done_scenes = self.done_words = 0
        self.stream = stream if stream is not None else sys.stderr
        self.shown = show and words >= LONG_WORDS and scenes > 0
        self._bar = None
        self._last, self._said = float("-inf"), ""
        width = _terminal_width(self.stream) if self.shown else None
        if width:
            from tqdm import tqdm

            self._bar = tqdm(total=words, unit="word", desc="speaking narration", file=self.stream, leave=False,
                             ncols=width)
            self._bar.set_postfix_str(self._scenes_text(), refresh=False)
        else:
            self._tick()  # 0/40 scenes: the work has begun

    def line(self) -> str:
        """``speaking narration: 12/40 scenes, 310/1200 words``."""
        return f"speaking narration: {self._scenes_text()}, {self.done_words}/{plural(self.words, 'word')}"

    def _scenes_text(self) -> str:
        return f"{self.done_scenes}/{plural(self.scenes, 'scene')}"

    def sentence(self, words: int) -> None:
        """A sentence of ``words`` words was synthesised."""
        self.done_words = min(self.words, self.done_words + words)
        if self._bar is not None:
            self._bar.update(self.done_words - self._bar.n)
        self._tick()

    def scene(self) -> None:
        """A scene's narration was synthesised (or failed)."""
        self.done_scenes = min(self.scenes, self.done_scenes + 1)
        if self._bar is not None:
            self._bar.set_postfix_str(self._scenes_text())
        self._tick()

    def _tick(self, final: bool = False) -> None:
        if not self.shown or self._bar is not None:
            return
        now, line = time.monotonic(), self.line()
        if (final and line != self._said) or now - self._last >= EVERY_S:
            self._last, self._said = now, line
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        """Take the bar down, or print the last count (unless the last line printed says it)."""
        if self._bar is not None:
            self._bar.close()
        else:
            self._tick(final=True)

    def __enter__(self) -> "SpeakingProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _terminal_width(stream: TextIO) -> int | None:
    """The width of the terminal ``stream`` writes to (columns), or None when it is not one, or one
    without a width (a pseudo-terminal of 0 columns, where a bar would draw nothing)."""
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return 80  # a terminal that does not say its size
