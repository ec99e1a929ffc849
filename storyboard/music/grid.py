"""Beat grids: the map between seconds and (fractional) beat numbers.

A grid answers two questions, in seconds of *video* time:

* ``beat_at(t)``: how many beats have passed at time ``t`` (fractional);
* ``time_at(b)``: when beat number ``b`` falls (fractional ``b`` interpolates).

Beat 0 is the first downbeat. :class:`ConstantTempo` comes from an explicit
``bpm:``; :class:`BeatGrid` comes from beats found in a music track, so a tempo
that drifts is followed rather than averaged away.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

MIN_BPM, MAX_BPM = 1.0, 400.0  # BPM: the tempi a grid accepts (a script's bpm: is validated to the same range)


def check_tempo(bpm: float) -> float:
    """``bpm`` as a float; raises ValueError unless it is a number from MIN_BPM to MAX_BPM.

    Outside that range a beat lasts over a minute or under 0.15 s, and a tempo such as
    1e-320 BPM makes a beat last longer than any float can hold (60 / 1e-320 is infinite).
    """
    value = float(bpm)
    if not (math.isfinite(value) and MIN_BPM <= value <= MAX_BPM):
        raise ValueError(f"tempo {value:g} BPM: expected a tempo from {MIN_BPM:g} to {MAX_BPM:g} BPM")
    return value


@dataclass(frozen=True)
class ConstantTempo:
    """A steady tempo: ``bpm`` beats per minute, beat 0 at ``first_beat_s`` seconds."""

    bpm: float
    beats_per_bar: int = 4
    first_beat_s: float = 0.0

    def __post_init__(self) -> None:
        check_tempo(self.bpm)

    @property
    def beat_s(self) -> float:
        """Length of one beat in seconds."""
        return 60.0 / self.bpm

    def beat_at(self, t: float) -> float:
        return (t - self.first_beat_s) / self.beat_s

    def time_at(self, beat: float) -> float:
        return self.first_beat_s + beat * self.beat_s

    def describe(self) -> str:
        return f"{self.bpm:g} BPM"


@dataclass(frozen=True)
class BeatGrid:
    """Beats at measured times (seconds, ascending); extrapolated at both ends.

    Before the first beat and after the last, the grid continues at the local
    beat period (the mean of the nearest ``edge`` intervals).
    """

    times: tuple[float, ...]
    beats_per_bar: int = 4
    edge: int = 4
    _periods: tuple[float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.times) < 2:
            raise ValueError("a beat grid needs at least two beats")
        if any(b <= a for a, b in zip(self.times, self.times[1:])):
            raise ValueError("beat times must increase")
        k = min(self.edge, len(self.times) - 1)
        head = (self.times[k] - self.times[0]) / k
        tail = (self.times[-1] - self.times[-1 - k]) / k
        object.__setattr__(self, "_periods", (head, tail))

    @property
    def bpm(self) -> float:
        """Mean tempo over the grid, beats per minute."""
        return 60.0 * (len(self.times) - 1) / (self.times[-1] - self.times[0])

    def beat_at(self, t: float) -> float:
        times = self.times
        if t <= times[0]:
            return (t - times[0]) / self._periods[0]
        if t >= times[-1]:
            return len(times) - 1 + (t - times[-1]) / self._periods[1]
        i = bisect.bisect_right(times, t) - 1
        return i + (t - times[i]) / (times[i + 1] - times[i])

    def time_at(self, beat: float) -> float:
        times = self.times
        if beat <= 0:
            return times[0] + beat * self._periods[0]
        last = len(times) - 1
        if beat >= last:
            return times[-1] + (beat - last) * self._periods[1]
        i = int(beat)
        return times[i] + (beat - i) * (times[i + 1] - times[i])

    def describe(self) -> str:
        return f"{len(self.times)} beats, mean {self.bpm:.2f} BPM"


Grid = ConstantTempo | BeatGrid
