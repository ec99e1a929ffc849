"""Progress while narration is synthesised, as events of the ``speak`` stage.

Synthesis runs at about 20x real time on one core, so a 12-minute narration takes a minute or
more (158 s on a busy machine) before ``validate`` can say anything. Work that long is told to a
progress sink (:mod:`storyboard.progress`): the words synthesised out of the total, and the
scenes. On stderr that is a bar on a terminal, otherwise a line such as
``speaking narration: 12/40 scenes, 310/1200 words`` at every tenth of the words and one when it
is done. Short work (under :data:`LONG_WORDS` words to synthesise) and cached speech tell nothing.
"""

from __future__ import annotations

from typing import TextIO

from storyboard.progress import Advanced, Finished, Sink, Started, default_sink

LONG_WORDS = 150  # words to synthesise from which progress is shown (about 4 s of synthesis on a busy core)
STAGE = "speak"


class SpeakingProgress:
    """Counts scenes and words as they are synthesised, and tells ``sink`` (default: stderr's,
    :func:`storyboard.progress.default_sink`, silent unless ``show``) when the work is long.

    Use as a context manager; call :meth:`sentence` with each sentence's words and
    :meth:`scene` after each scene.
    """

    def __init__(self, scenes: int, words: int, stream: TextIO | None = None, *, show: bool = True,
                 sink: Sink | None = None):
        self.scenes, self.words = scenes, words
        self.done_scenes = self.done_words = 0
        self.shown = words >= LONG_WORDS and scenes > 0
        self.sink = sink or default_sink(quiet=not show, stream=stream)
        if self.shown:
            self.sink(Started(STAGE, words, "word", parts=scenes, part_unit="scene"))

    def sentence(self, words: int) -> None:
        """A sentence of ``words`` words was synthesised."""
        self.done_words = min(self.words, self.done_words + words)
        self._tell()

    def scene(self) -> None:
        """A scene's narration was synthesised (or failed)."""
        self.done_scenes = min(self.scenes, self.done_scenes + 1)
        self._tell()

    def _tell(self) -> None:
        if self.shown:
            self.sink(Advanced(STAGE, self.done_words, parts=self.done_scenes))

    def close(self) -> None:
        """The stage ends."""
        if self.shown:
            self.sink(Finished(STAGE))

    def __enter__(self) -> "SpeakingProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
