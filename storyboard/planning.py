"""Script (+ the music's analysis) -> plan: what ``validate``, ``plan`` and ``render`` call.

:func:`storyboard.plan.compile_plan` stays a pure function of its inputs; this is the
one place that fetches the music's beat grid for it (from the analysis cache when it
can, running librosa only when the script uses beats and the track is new).
"""

from __future__ import annotations

from dataclasses import dataclass

from storyboard.errors import PlanError, ScriptErrors
from storyboard.plan import Plan, compile_plan
from storyboard.script import Script


@dataclass(frozen=True)
class Planned:
    plan: Plan
    warnings: tuple[str, ...] = ()


def plan_script(script: Script, *, analyse: bool = True) -> Planned:
    """Compile ``script``; music drives beats and bars when the script uses them.

    Raises :class:`ScriptErrors` located in the script's source.
    """
    timing = None
    warnings: list[str] = []
    board = script.storyboard
    if board.music:
        from storyboard.audio import music_timing, needs_beat_grid

        if needs_beat_grid(board):
            try:
                timing = music_timing(script, analyse_if_needed=analyse)
            except Exception as exc:  # unreadable audio: say which file
                doc = script.document
                raise ScriptErrors([doc.error(f"cannot analyse '{board.music[0].path}': {type(exc).__name__}: {exc}",
                                              doc.resolve(("music", 0, "path")))]) from None
            if timing is not None and not timing.analysis.confident:
                a = timing.analysis
                warnings.append(
                    f"music '{board.music[0].path}': no clear, regular pulse (steadiness {a.steadiness:.3f}, "
                    f"coverage {a.coverage:.0%}); its {len(a.beats)} beats at {a.tempo_bpm:.1f} BPM are a guess. "
                    "Check them with `storyboard plan --plot`, or set bpm: and remove the music's sync."
                )
            if timing is not None and board.bpm is not None:
                warnings.append(f"bpm: {board.bpm:g} is ignored: beats follow the music ({timing.analysis.tempo_bpm:.1f} BPM)")
    try:
        if timing is None:
            return Planned(compile_plan(script), tuple(warnings))
        return Planned(compile_plan(script, timing.grid, timing.onset_strength, timing.snap_points), tuple(warnings))
    except PlanError as exc:
        raise script.plan_errors(exc) from None
