"""Progress events: a render's stages count up to the video's frames, the console draws them with an
ETA once work is under way, and the JSON lines a program reads hold the same events."""

from __future__ import annotations

import io
import json

import pytest
from helpers import probe, write

from storyboard.cli import main
from storyboard.progress import (
    EVENTS,
    JSON_STEPS,
    Advanced,
    Console,
    Finished,
    JsonLines,
    Said,
    SegmentsPlanned,
    SegmentStarted,
    Started,
    Wrote,
    default_sink,
    from_json,
    silent,
    to_json,
)
from storyboard.render import FrameTally


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def console() -> tuple[Console, Clock, io.StringIO]:
    clock, out = Clock(), io.StringIO()
    return Console(out, now=clock), clock, out


def test_work_counted_past_the_video_is_told_as_the_videos_frames():
    """743 frames rendered (crossfade handles included) for a 719-frame video."""
    events: list = []
    tally = FrameTally(events.append, "render", 743, 24, frames=719)
    tally.update(371)
    tally.update(371)  # no news: no event
    tally.update(743)
    tally.finish()
    tally.finish()
    assert events == [Started("render", 719, "frame", fps=24), Advanced("render", 359), Advanced("render", 719),
                      Finished("render")]


def test_the_console_line_shows_frames_video_time_and_eta():
    shown, clock, out = console()
    shown(Started("render", 719, "frame", fps=24))
    clock.t += 10
    shown(Advanced("render", 359))
    shown(Advanced("render", 718))
    shown(Advanced("render", 719))
    lines = out.getvalue().splitlines()
    assert lines[0] == ("render [........................]   0% 0/719 frames  0:00/0:30 video  elapsed 0:00  ETA ?")
    assert lines[1].endswith(" 49% 359/719 frames  0:15/0:30 video  elapsed 0:10  ETA 0:10")
    assert lines[2].endswith(" 99% 718/719 frames  0:30/0:30 video  elapsed 0:10  ETA 0:00"), "never 100% before the end"
    assert lines[3].endswith("100% 719/719 frames  0:30/0:30 video  elapsed 0:10  ETA 0:00")


def test_the_eta_comes_after_half_a_second_of_work_at_the_rate_of_the_work():
    shown, clock, out = console()
    shown(Started("assemble", 1000, "frame", fps=24))
    shown(Advanced("assemble", 600, skipped=600))  # cached pieces: done at once, not part of the rate
    clock.t += 0.4
    shown(Advanced("assemble", 650, skipped=600))
    clock.t += 0.6
    shown(Advanced("assemble", 700, skipped=600))
    clock.t += 3
    shown(Advanced("assemble", 1000, skipped=600))
    lines = out.getvalue().splitlines()
    assert [line.split("ETA ")[1] for line in lines] == ["?", "?", "0:03", "0:00"], lines
    assert [line.split("% ")[1].split(" ")[0] for line in lines] == ["0/1000", "600/1000", "700/1000", "1000/1000"]


def test_skipping_the_whole_job_never_divides_by_zero():
    shown, clock, out = console()
    shown(Started("render", 240, "frame", fps=24))
    clock.t += 5
    shown(Advanced("render", 240, skipped=240))
    assert out.getvalue().splitlines()[-1].endswith("100% 240/240 frames  0:10/0:10 video  elapsed 0:05  ETA 0:00")


def test_plain_lines_come_at_each_tenth_or_as_asked(monkeypatch):
    monkeypatch.setenv("STORYBOARD_PROGRESS_STEPS", "4")
    shown, _, out = console()
    shown(Started("render", 100, "frame", fps=25))
    for done in range(1, 101):
        shown(Advanced("render", done))
    shown(Finished("render"))
    assert [line.split("% ")[1].split(" ")[0] for line in out.getvalue().splitlines()] == [
        "0/100", "25/100", "50/100", "75/100", "100/100"], "one line a quarter, none again at the end"


def test_said_lines_and_segment_lines_read_as_before():
    shown, _, out = console()
    shown(SegmentsPlanned(3, 2, "/x/.storyboard-cache"))
    shown(SegmentStarted(1, 2, 4, ("b", "c"), 36, 12))
    shown(SegmentStarted(2, 2, 0, ("a",), 90, 12, worker=3))
    shown(Said("warning: piece p.h264 is damaged; encoding it again", "warning"))
    shown(Wrote("v.mp4", (), 3.0, 36, 64, 64, 12, 1.0, 1, 0))  # the command prints this itself
    assert out.getvalue().splitlines() == [
        "3 segments: 2 to render, 1 reused from /x/.storyboard-cache",
        "segment 1/2: shot 4 (b, c), 36 frames (0:03 of video)",
        "segment 2/2: shot 0 (a), 90 frames (0:08 of video) on worker 3",
        "warning: piece p.h264 is damaged; encoding it again"]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_the_video_time_and_lines_above_it():
    out = Terminal()
    shown = Console(out)
    shown(Started("render", 240, "frame", fps=24))
    shown(Said("segment 1/1: shot 0 (a), 240 frames (0:10 of video)"))
    shown(Advanced("render", 240))
    shown(Finished("render"))
    drawn = out.getvalue()
    assert "\rrender: 100%" in drawn and "240/240" in drawn and "0:10/0:10 video" in drawn
    assert "segment 1/1: shot 0 (a)" in drawn and "render [" not in drawn, "a bar, not plain lines"
    assert drawn.endswith("\n"), "the render's bar stays on screen when it is done"


def test_a_terminal_bars_eta_leaves_out_the_frames_reused_from_the_cache():
    """A resumed render: 900 of 1,000 frames reused at once, then 10 frames rendered a second. The ETA
    is the 90 frames left at the rendering's rate (9 s), not at a rate swollen by the reused ones."""
    now = [0.0]
    out = Terminal()
    shown = Console(out)
    shown(Started("render", 1000, "frame", fps=24))
    bar = shown.stages["render"].bar
    bar._time = lambda: now[0]  # tqdm's clock, in seconds from 0
    bar.start_t = bar.last_print_t = 0.0
    bar.mininterval = bar.miniters = 0
    shown(Advanced("render", 900, 900))
    for done in (910, 920, 930):
        now[0] += 1.0
        shown(Advanced("render", done, 900))
    meter = bar.format_dict
    assert meter["n"] == 930 and meter["initial"] == 900
    left = (meter["total"] - meter["n"]) / meter["rate"]
    assert left == pytest.approx(7.0, rel=0.01), meter  # 70 frames at 10 a second


EXAMPLES = [Started("speak", 1200, "word", parts=40, part_unit="scene"), Advanced("render", 359, 100, 0),
            Finished("assemble"), Said("note: x", "warning"), SegmentsPlanned(3, 2, "/c"),
            SegmentStarted(1, 2, 4, ("b", "c"), 36, 12.0, 2),
            Wrote("/o/v.mp4", ("/o/v.srt", "/o/v.vtt"), 12.0, 300, 128, 72, 24, 11.0, 2, 1)]


def test_every_event_goes_to_a_json_line_and_back():
    assert {type(e).__name__ for e in EXAMPLES} == set(EVENTS)
    for event in EXAMPLES:
        line = to_json(event)
        assert "\n" not in line and json.loads(line)["event"] == type(event).__name__
        assert from_json(line) == event
    for other in ["wrote /o/v.mp4: 12.000 s", "", "{not json", '{"event": "Exploded"}', '{"event": "Said"}', "[1]"]:
        assert from_json(other) is None, other


def test_json_lines_tell_a_stage_at_each_hundredth_and_always_its_first_and_last_count():
    out = io.StringIO()
    sink = JsonLines(out)
    sink(Started("render", 1000, "frame", fps=24))
    for done in range(1, 1000):
        sink(Advanced("render", done))
    sink(Advanced("render", 1000))
    events = [from_json(line) for line in out.getvalue().splitlines()]
    counts = [e.done for e in events if isinstance(e, Advanced)]
    assert JSON_STEPS == 100 and counts == [1, *range(10, 1001, 10)]


def test_the_environment_chooses_json_lines_and_quiet_chooses_nothing(monkeypatch):
    monkeypatch.delenv("STORYBOARD_PROGRESS", raising=False)
    assert default_sink(quiet=True) is silent
    assert isinstance(default_sink(), Console)
    monkeypatch.setenv("STORYBOARD_PROGRESS", "json")
    assert isinstance(default_sink(quiet=True), JsonLines), "a program asked for them"


def events_of(err: str) -> list:
    events = [from_json(line) for line in err.splitlines()]
    return [e for e in events if e is not None]


@pytest.mark.slow
def test_a_crossfade_render_tells_stages_whose_totals_are_the_mp4s_frames(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("STORYBOARD_PROGRESS", "json")
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 12, preset: ultrafast}
        scenes:
          - {id: a, duration: 2s, prompts: a red room}
          - {id: b, duration: 2s, prompts: a blue sea, transition: {type: crossfade, duration: 1s}}
          - {id: c, duration: 2s, prompts: a green field, transition: {type: crossfade, duration: 0.5s}}
    """)
    out = tmp_path / "v.mp4"
    assert main(["render", str(script), "-o", str(out)]) == 0
    said = capsys.readouterr()
    events = events_of(said.err)
    frames = probe(out).frames
    assert frames == 72
    for phase in ("render", "assemble"):
        mine = [e for e in events if getattr(e, "stage", None) == phase]
        assert mine[0] == Started(phase, frames, "frame", fps=12), "counted out of the MP4's frames"
        counts = [e.done for e in mine if isinstance(e, Advanced)]
        assert counts and counts == sorted(counts) and counts[-1] == frames, counts
        assert mine[-1] == Finished(phase)
    shots = [e for e in events if isinstance(e, SegmentStarted)]
    assert [(s.n, s.of) for s in shots] == [(1, 3), (2, 3), (3, 3)]
    assert sum(s.frames for s in shots) > frames, "the crossfades' handles are rendered, not shown"
    assert events[-1] == Wrote(str(out), (), 6.0, 72, 64, 64, 12, events[-1].seconds, 3, 0)
    assert said.out.strip() == events[-1].line(), "the command's summary is the event's"
    assert not [line for line in said.err.splitlines() if from_json(line) is None], "nothing but events on stderr"


@pytest.mark.slow
def test_a_render_on_a_log_prints_plain_lines_and_quiet_prints_none(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("STORYBOARD_PROGRESS", raising=False)
    script = write(tmp_path / "s.yaml", """
        output: {width: 64, height: 64, fps: 12, preset: ultrafast}
        scenes:
          - {id: a, duration: 2s, prompts: a red room}
    """)
    assert main(["render", str(script), "-o", str(tmp_path / "v.mp4")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert "render [########################] 100% 24/24 frames  0:02/0:02 video" in "\n".join(err)
    assert "assemble [########################] 100% 24/24 frames" in "\n".join(err)
    assert not events_of("\n".join(err))
    assert main(["render", str(script), "-o", str(tmp_path / "w.mp4"), "-q"]) == 0
    assert capsys.readouterr().err == ""
