"""Warnings about a compiled plan: music that stops before the video ends or starts after it,
and scene ends that ``sync`` could not move. Pure functions of the script, the plan and numbers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from storyboard.plan.data import Plan

if TYPE_CHECKING:
    from storyboard.script.schema import Storyboard


def music_end_warnings(board: "Storyboard", plan: Plan, lengths: list[float]) -> list[str]:
    """Warnings for music that stops before the video ends (how many seconds of silence
    follow) or that starts after it. ``lengths``: each track's file length in seconds."""
    end = plan.duration_s
    warnings: list[str] = []
    heard_until, last = 0.0, None
    for track, placed, length in zip(board.music, plan.audio, lengths):
        if placed.offset_s >= end:
            warnings.append(f"music '{track.path}' starts at {placed.offset_s:g} s, after the video ends "
                            f"({end:.3f} s): it is not heard")
            continue
        stops = end if placed.loop else min(end, placed.offset_s + length - placed.start_s)
        if stops >= heard_until:
            heard_until, last = stops, track
    silence = end - heard_until
    if last is not None and silence > 1.0 / plan.fps:
        warnings.append(f"music '{last.path}' ends at {heard_until:.3f} s: the last {silence:.3f} s of the video "
                        f"({end:.3f} s long) are silent. Set loop: true on the track to repeat it, or shorten the scenes.")
    return warnings


def sync_warnings(board: "Storyboard", plan: Plan, points: Sequence[float] | None) -> list[str]:
    """A warning for each scene whose end ``sync`` left as written: no snap point within reach
    (one beat; one bar with ``sync: bars``), e.g. before the music starts or after it ends."""
    if not points or not board.music:
        return []
    sync = board.music[0].sync
    what = {"beats": "beat", "bars": "downbeat", "onsets": "onset"}.get(sync, "snap point")
    reach = "one bar" if sync == "bars" else "one beat"
    warnings = []
    for scene in plan.scenes:
        if not scene.sync_skipped:
            continue
        nxt = scene.index + 1
        end = plan.scenes[nxt].requested_start_s if nxt < len(plan.scenes) else plan.duration_s - plan.end_snapped_s
        nearest = min(points, key=lambda p: abs(p - end))
        warnings.append(f"scene '{scene.id}': sync: {sync} left its end at {end:.3f} s as written: no {what} within "
                        f"{reach} of it (the nearest is at {nearest:.3f} s, {abs(nearest - end):.3f} s away)")
    return warnings
