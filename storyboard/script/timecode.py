"""Time values as users write them: seconds, frames, beats and bars.

Parsing happens here; conversion to frames happens only in :mod:`storyboard.plan.compile`,
which knows the frame rate and the beat grid.

Accepted forms::

    1.5        6s      250ms     1:30      (seconds; ``m:ss`` too)
    48f        48 frames                   (frames at the output fps)
    8 beats    1 beat    2 bars   0.5 bar  (against the tempo or the analysed beat grid)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

Unit = Literal["s", "f", "beats", "bars"]

_UNIT_ALIASES: dict[str, Unit] = {
    "": "s", "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "f": "f", "frame": "f", "frames": "f",
    "b": "beats", "beat": "beats", "beats": "beats",
    "bar": "bars", "bars": "bars",
}
_NUMBER = r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+"
_PATTERN = re.compile(rf"^\s*({_NUMBER})\s*(ms|[a-z]*)\s*$", re.IGNORECASE)
_CLOCK = re.compile(rf"^\s*([0-9]+):({_NUMBER})\s*$")

TIME_HELP = "a time such as 6s, 1.5, 250ms, 1:30, 48f, 8 beats or 2 bars"
DURATION_HELP = TIME_HELP + ", or auto (as long as the narration) or auto + 1s"
MAX_VIDEO_S = 24 * 3600.0  # the longest video a script may describe (seconds)
MAX_FPS = 120
MAX_BPM = 400
# The most of each unit a time may hold: 24 hours at the highest frame rate and tempo.
LIMITS: dict[str, float] = {"s": MAX_VIDEO_S, "f": MAX_VIDEO_S * MAX_FPS, "beats": MAX_VIDEO_S * MAX_BPM / 60,
                            "bars": MAX_VIDEO_S * MAX_BPM / 60}


@dataclass(frozen=True)
class TimeValue:
    """A non-negative amount of time in one unit: seconds, frames, beats or bars."""

    amount: float
    unit: Unit = "s"

    def __str__(self) -> str:
        amount = f"{self.amount:g}"
        one = self.amount == 1
        return {"s": f"{amount}s", "f": f"{amount}f", "beats": f"{amount} beat{'' if one else 's'}",
                "bars": f"{amount} bar{'' if one else 's'}"}[self.unit]

    @property
    def musical(self) -> bool:
        """True when the value needs a tempo or a beat grid (beats, bars)."""
        return self.unit in ("beats", "bars")

    @property
    def is_zero(self) -> bool:
        return self.amount == 0


def parse_time(value: object) -> TimeValue:
    """Parse a user's time value; raise ``ValueError`` with what was expected.

    Numbers are seconds. Negative, infinite and NaN values are rejected here;
    whether zero is allowed is the caller's business.
    """
    if isinstance(value, TimeValue):
        return value
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected {TIME_HELP}, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            return _checked(float(value), "s", value)
        except OverflowError:  # an integer too large for a float
            raise ValueError(f"a {len(str(value))}-digit number of seconds is more than 24 hours of video, "
                             "the longest a script may describe") from None
    if not isinstance(value, str):
        raise ValueError(f"expected {TIME_HELP}, got {type(value).__name__}")
    clock = _CLOCK.match(value)
    if clock:
        minutes, seconds = int(clock.group(1)), float(clock.group(2))
        if seconds >= 60:
            raise ValueError(f"'{value}': seconds in m:ss must be below 60")
        return _checked(minutes * 60 + seconds, "s", value)
    match = _PATTERN.match(value)
    if not match:
        if value.strip().startswith("-"):
            raise ValueError(f"'{value}' is negative; expected {TIME_HELP}")
        raise ValueError(f"'{value}' is not a time; expected {TIME_HELP}")
    amount, unit_text = float(match.group(1)), match.group(2).lower()
    if unit_text == "ms":
        return _checked(amount / 1000.0, "s", value)
    unit = _UNIT_ALIASES.get(unit_text)
    if unit is None:
        raise ValueError(f"'{value}': unknown unit '{match.group(2)}'; expected s, ms, f, beats or bars")
    return _checked(amount, unit, value)


def _checked(amount: float, unit: Unit, original: object) -> TimeValue:
    if not math.isfinite(amount):
        raise ValueError(f"{original!r} is not a finite time")
    if amount < 0:
        raise ValueError(f"{original!r} is negative; expected {TIME_HELP}")
    if amount > LIMITS[unit]:
        unit_name = {"s": "seconds", "f": "frames", "beats": "beats", "bars": "bars"}[unit]
        raise ValueError(f"{original!r} is more than 24 hours of video (at most {LIMITS[unit]:g} {unit_name}), "
                         "the longest a script may describe")
    return TimeValue(amount, unit)


@dataclass(frozen=True)
class AutoDuration:
    """A scene's ``duration: auto`` (or ``auto + 1s``): as long as its narration, plus ``pad``.

    :mod:`storyboard.pipeline` turns it into seconds once the speech is synthesised.
    """

    pad: TimeValue = TimeValue(0.0)
    seconds: float | None = None  # the narration's length plus the padding, once synthesised

    def __str__(self) -> str:
        return "auto" if self.pad.is_zero else f"auto + {self.pad}"

    @property
    def musical(self) -> bool:
        return False

    @property
    def is_zero(self) -> bool:
        return False


_AUTO = re.compile(r"^\s*auto\s*(?:\+\s*(.*?))?\s*$", re.IGNORECASE)


def parse_duration(value: object) -> TimeValue | AutoDuration:
    """A scene's duration: a time (:func:`parse_time`), ``auto`` or ``auto + <time>``, the padding
    in seconds or frames."""
    if isinstance(value, (TimeValue, AutoDuration)):
        return value
    match = _AUTO.match(value) if isinstance(value, str) else None
    if match is None:
        return parse_time(value)
    if match.group(1) is None:
        return AutoDuration()
    pad = parse_time(match.group(1))
    if pad.musical:
        raise ValueError(f"'{value}': the padding after the narration is written in seconds or frames")
    return AutoDuration(pad)


def fixed_seconds(value: TimeValue, fps: int) -> float:
    """Seconds of a value written in seconds or frames (``fps`` frames a second).

    Beats and bars need a beat grid and a position: :mod:`storyboard.plan.compile` converts those.
    """
    if value.musical:
        raise ValueError(f"'{value}' is in {value.unit}; expected seconds or frames")
    return value.amount / fps if value.unit == "f" else value.amount


def format_clock(frame: int, fps: int, *, hours: bool = False, separator: str = ".") -> str:
    """When frame ``frame`` starts at ``fps`` frames a second, to the millisecond (a decimal fraction of a
    second, never a frame count): ``m:ss.mmm``, the notation a script accepts for a time; with ``hours``,
    ``hh:mm:ss.mmm`` (WebVTT), or ``hh:mm:ss,mmm`` with ``separator=","`` (SubRip)."""
    ms = round(frame * 1000 / fps)
    h, ms = divmod(ms, 3_600_000) if hours else (0, ms)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{separator}{ms:03d}" if hours else f"{m}:{s:02d}{separator}{ms:03d}"
