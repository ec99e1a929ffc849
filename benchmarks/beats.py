"""Music-analysis speed: a 5-minute track, cold (after librosa's warm-up) and from the cache.

Prints one JSON line: ``analysis_s_5min`` (load, onset envelope, tempo, beats, onsets),
``cached_lookup_s`` (hash the file and read the cached analysis), ``replan_cached_s``
(load, validate and compile a 70-scene beat-timed script over the whole track with the
analysis cached: what editing a script and planning again costs), and what was found. The track is synthesised at 128 BPM
by the project's own synthesiser, so the tempo's truth is known.

    python benchmarks/beats.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def main() -> None:
    folder = Path(tempfile.mkdtemp())
    os.environ["STORYBOARD_CACHE"] = str(folder / "cache")
    from storyboard.music.analysis import analyse, cached_analysis
    from storyboard.music.synth import synth_track, write_wav

    track = write_wav(synth_track(128.0, 300.0, first_beat_s=0.5), folder / "five-minutes.wav")
    warm = write_wav(synth_track(100.0, 4.0, first_beat_s=0.5), folder / "warm.wav")
    started = time.perf_counter()
    analyse(warm, use_cache=False)  # librosa's numba compilation
    warm_up = time.perf_counter() - started

    started = time.perf_counter()
    result = analyse(track)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    cached = cached_analysis(track)
    lookup = time.perf_counter() - started
    assert cached is not None and cached.beats == result.beats

    # Re-planning a script over the whole track: load, validate, beat grid from the cache, compile.
    from storyboard.pipeline import plan_script
    from storyboard.script.load import load_script

    scenes = "".join(
        f"  - {{duration: 8 beats, prompts: [scene {i} a, scene {i} b], curve: beats}}\n" if i % 2 else
        f"  - {{duration: 7.5s, prompts: scene {i}, hold: {{pulse: beats}}, transition: {'morph' if i else 'cut'}}}\n"
        for i in range(70))
    script = folder / "five-minutes.yaml"
    script.write_text(f"music: {{path: {track}, sync: beats}}\noutput: {{fps: 24}}\nscenes:\n{scenes}")
    started = time.perf_counter()
    plan = plan_script(load_script(script)).plan
    replan = time.perf_counter() - started
    print(json.dumps({
        "track_s": round(result.duration_s, 2),
        "warm_up_s": round(warm_up, 2),
        "analysis_s_5min": round(cold, 3),
        "cached_lookup_s": round(lookup, 4),
        "replan_cached_s": round(replan, 3),
        "replan_scenes": len(plan.scenes),
        "replan_frames": plan.total_frames,
        "tempo_bpm": round(result.tempo_bpm, 3),
        "true_tempo_bpm": 128.0,
        "beats": len(result.beats),
        "confident": result.confident,
    }))


if __name__ == "__main__":
    main()
