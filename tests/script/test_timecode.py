import math

import pytest

from storyboard.script.timecode import TimeValue, format_clock, parse_time


@pytest.mark.parametrize(
    "text, amount, unit",
    [
        (1.5, 1.5, "s"), (0, 0.0, "s"), ("6s", 6.0, "s"), ("6 s", 6.0, "s"), ("1.5", 1.5, "s"),
        ("250ms", 0.25, "s"), ("1:30", 90.0, "s"), ("0:07.5", 7.5, "s"), ("48f", 48.0, "f"),
        ("48 frames", 48.0, "f"), ("8 beats", 8.0, "beats"), ("1 beat", 1.0, "beats"),
        ("2 bars", 2.0, "bars"), ("0.5 bar", 0.5, "bars"), (".5s", 0.5, "s"), ("3 seconds", 3.0, "s"),
    ],
)
def test_parses_every_written_form(text, amount, unit):
    value = parse_time(text)
    assert value == TimeValue(amount, unit)


@pytest.mark.parametrize(
    "text, message",
    [
        (-1, "negative"), ("-2s", "negative"), ("3 parsecs", "unknown unit 'parsecs'"), ("soon", "is not a time"),
        (True, "expected a time"), (None, "expected a time"), ([1], "expected a time"), ("1:75", "below 60"),
        (math.inf, "not a finite time"), (math.nan, "not a finite time"),
    ],
)
def test_rejects_with_what_was_expected(text, message):
    with pytest.raises(ValueError, match=message):
        parse_time(text)


def test_round_trips_through_str():
    for text in ["6s", "48f", "8 beats", "2 bars", "0.25s"]:
        assert parse_time(str(parse_time(text))) == parse_time(text)


def test_one_beat_and_one_bar_print_singular():
    from storyboard.script.timecode import parse_time

    assert [str(parse_time(t)) for t in ("1 beats", "1 bar", "2 beats", "1.5 bars", "0.5 beat")] == \
        ["1 beat", "1 bar", "2 beats", "1.5 bars", "0.5 beats"]


@pytest.mark.parametrize("frame, fps, plain, srt, vtt", [
    (0, 24, "0:00.000", "00:00:00,000", "00:00:00.000"),
    (23, 24, "0:00.958", "00:00:00,958", "00:00:00.958"),
    (1799, 30, "0:59.967", "00:00:59,967", "00:00:59.967"),
    (3_600 * 25 + 12, 25, "60:00.480", "01:00:00,480", "01:00:00.480"),
])
def test_one_clock_reading_for_the_plan_and_both_subtitle_formats(frame, fps, plain, srt, vtt):
    """Milliseconds, never a frame count; m:ss.mmm reads back as the same frame's time."""
    assert format_clock(frame, fps) == plain
    assert format_clock(frame, fps, hours=True, separator=",") == srt
    assert format_clock(frame, fps, hours=True) == vtt
    assert parse_time(plain).amount == pytest.approx(frame / fps, abs=0.0005)
