"""What to tell a user about a music track's analysis: gaps in its beats, an unclear pulse,
a close call between two tempi; each with the exact ``bpm:`` (or ``--bpm``) to write.

Plain strings, no numpy nor librosa (cheap to import from ``validate``): ``storyboard beats`` prints :func:`beats_advice` to stderr, and
planning adds :func:`plan_advice` to its warnings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from storyboard.music.analysis import AudioAnalysis


def gap_message(gaps: Sequence[tuple[float, float]]) -> str:
    """'no beats found from 67.2 s to 133.0 s' (and from ... for each further gap); '' for none."""
    if not gaps:
        return ""
    return "no beats found " + ", and ".join(f"from {a:.1f} s to {b:.1f} s" for a, b in gaps)


def suggested_bpm(result: "AudioAnalysis") -> int | None:
    """The whole tempo (BPM) to write as ``bpm:`` for this analysis: its tempo, rounded;
    None when no tempo was found."""
    return round(result.tempo_bpm) if result.tempo_bpm >= 1 else None


def beats_advice(result: "AudioAnalysis") -> list[str]:
    """The lines ``storyboard beats`` prints to stderr after its summary: a gap in the beats
    (by its span), then an unclear pulse or a close call, each saying the ``bpm:`` to set.

    For example::

        warning: no beats found from 67.2 s to 133.0 s of the music; a script's beats and bars there are extrapolated
        warning: no clear, regular pulse was found (...); these beats are a guess: check them, or set the tempo
        you hear on the music track, e.g. bpm: 118 (the tempo found; try it with --bpm 118)
    """
    lines = []
    if result.gaps:
        lines.append(f"warning: {gap_message(result.gaps)} of the music; a script's beats and bars there follow "
                     "the nearest beats' tempo, not the music")
    bpm = suggested_bpm(result)
    if not result.confident:
        fix = (f"set the tempo you hear on the music track, e.g. bpm: {bpm} (the tempo found; try it here with "
               f"--bpm {bpm})" if bpm else "set the tempo you hear on the music track, e.g. bpm: 120, and try it "
               "here with --bpm 120")
        lines.append("warning: no clear, regular pulse was found (is there percussion? is the tempo free?); "
                     f"these beats are a guess: check them, or {fix}")
    elif result.close_call:
        lines.append(f"note: {result.runner_up_bpm:.1f} BPM fits the music nearly as well as {result.tempo_bpm:.1f}; "
                     f"to choose, pass --bpm {result.runner_up_bpm:.0f} (or --bpm {result.tempo_bpm:.0f}), or in a "
                     f"script set bpm: {result.runner_up_bpm:.0f} (or bpm: {result.tempo_bpm:.0f}) on the music track")
    return lines


def plan_advice(result: "AudioAnalysis", name: str) -> list[str]:
    """Warnings for planning a script whose beats come from music file ``name``: a gap in the
    beats (by its span), then an unclear pulse (with the ``bpm:`` to set on the music track)."""
    lines = []
    if result.gaps:
        lines.append(f"music '{name}': {gap_message(result.gaps)}; the beats and bars there follow the nearest "
                     "beats' tempo, not the music. Check them with `storyboard plan --plot`.")
    if not result.confident:
        bpm = suggested_bpm(result)
        fix = f"set the tempo you hear on the music track, e.g. bpm: {bpm}" if bpm else \
            "set the tempo you hear on the music track (bpm: N)"
        lines.append(f"music '{name}': no clear, regular pulse (steadiness {result.steadiness:.3f}, coverage "
                     f"{result.coverage:.0%}); its {len(result.beats)} beats at {result.tempo_bpm:.1f} BPM are a "
                     f"guess. Check them with `storyboard plan --plot`, or {fix}.")
    return lines
