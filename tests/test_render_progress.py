"""The progress bars: their totals are the video's frames, and both give an ETA once work is under way."""

from __future__ import annotations

import io
import re

import pytest
from helpers import probe, write

from storyboard.cli import main
from storyboard.render.progress import Progress
from storyboard.studio.children import PROGRESS

LINE = re.compile(r"^(render|assemble) \[[#.]*\]\s+\d+% (\d+)/(\d+) frames .* ETA (\S+)$")


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def bar(total: int, frames: int | None = None, label: str = "assemble") -> tuple[Progress, Clock, io.StringIO]:
    clock, out = Clock(), io.StringIO()
    return Progress(total, 24, label=label, stream=out, frames=frames, now=clock), clock, out


def test_work_counted_past_the_video_is_shown_as_the_videos_frames():
    """743 frames rendered (crossfade handles included) for a 719-frame video."""
    progress, clock, _ = bar(743, frames=719, label="render")
    assert " 0/719 frames  0:00/0:30 video" in progress.line()
    clock.t += 10
    progress.update(371)
    assert " 50% 359/719 frames  0:15/0:30 video  elapsed 0:10  ETA 0:10" in progress.line()
    progress.update(743)
    assert "100% 719/719 frames  0:30/0:30 video" in progress.line()
    assert PROGRESS.match(progress.line())["total"] == "719", "the studio reads the line"


def test_the_eta_comes_after_half_a_second_of_work_at_the_rate_of_the_work():
    progress, clock, _ = bar(1000)
    progress.skip(600)  # cached pieces: done at once, not part of the rate
    clock.t += 0.4
    progress.update(650)
    assert progress.line().endswith("ETA ?"), "0.4 s of work says little yet"
    clock.t += 0.6
    progress.update(700)
    assert progress.line().endswith("ETA 0:03"), "100 frames a second, 300 left (the 600 reused do not count)"
    clock.t += 3
    progress.update(1000)
    assert progress.line().endswith("ETA 0:00")


def test_skipping_the_whole_job_never_divides_by_zero():
    progress, clock, _ = bar(240)
    clock.t += 5
    assert progress.line().endswith("ETA ?")
    progress.skip(240)
    assert "100% 240/240 frames" in progress.line() and progress.line().endswith("ETA 0:00")


@pytest.mark.slow
def test_a_crossfade_renders_lines_whose_totals_are_the_mp4s_frames(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STORYBOARD_PROGRESS_STEPS", "100")
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 12, preset: ultrafast}
        scenes:
          - {id: a, duration: 2s, prompts: a red room}
          - {id: b, duration: 2s, prompts: a blue sea, transition: {type: crossfade, duration: 1s}}
          - {id: c, duration: 2s, prompts: a green field, transition: {type: crossfade, duration: 0.5s}}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out)]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if LINE.match(line)]
    frames = probe(out).frames
    assert frames == 72
    for phase in ("render", "assemble"):
        mine = [LINE.match(line) for line in lines if line.startswith(phase)]
        assert mine, phase
        assert {m[3] for m in mine} == {str(frames)}, f"every {phase} line counts out of the MP4's {frames} frames"
        assert (mine[-1][2], mine[-1][4]) == (str(frames), "0:00"), mine[-1][0]
        assert all(PROGRESS.match(m[0]) for m in mine), "the studio still reads every line"
