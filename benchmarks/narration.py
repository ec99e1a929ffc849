"""Narration speed: text-to-speech against real time, and renders of the narrated examples.

Prints one JSON line:
- ``voice_load_s``: loading the piper voice (once a process);
- ``tts_realtime_factor``: seconds of speech made per second of synthesis, over a
  ~600-word text (cold cache), on ``threads`` CPU threads;
- ``cached_lookup_s``: the same text again, from the speech cache;
- for each narrated example: ``validate_cold_s`` (speech synthesised), ``render_s`` (the
  preview animatic, encoded, with the mix ducked and normalised), ``video_s`` and
  ``speech_s``.

    python benchmarks/narration.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TEXT = ("Hurricanes form over warm tropical water, where heat and moisture feed a spinning column of storms. "
        "Know your evacuation zone, and plan two routes out of it. Keep water, food, medicine and a radio "
        "ready for three days at least. When officials tell you to leave, leave early. ") * 12


def main() -> None:
    cache = Path(tempfile.mkdtemp(prefix="narration-bench-"))
    os.environ["STORYBOARD_CACHE"] = str(cache)
    from storyboard.voice import speech as speech_module
    from storyboard.voice.speech import speak
    from storyboard.voice.voices import find_voice

    voice = find_voice("en_US-joe-medium")
    started = time.perf_counter()
    speech_module._load(voice.model, voice.config)
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    spoken = speak(TEXT, voice)
    tts_s = time.perf_counter() - started
    started = time.perf_counter()
    speak(TEXT, voice)
    lookup_s = time.perf_counter() - started
    figures = {"voice_load_s": round(load_s, 3), "words": len(TEXT.split()), "speech_s": round(spoken.duration_s, 2),
               "tts_s": round(tts_s, 2), "tts_realtime_factor": round(spoken.duration_s / tts_s, 1),
               "cached_lookup_s": round(lookup_s, 4), "threads": os.cpu_count(), "examples": {}}
    for name in ("explainer", "bulletin", "hurricane"):
        script = ROOT / "examples" / f"{name}.yaml"
        if script.exists():
            figures["examples"][name] = render_example(script, cache)
    print(json.dumps(figures))


def render_example(script: Path, cache: Path) -> dict[str, float]:
    """Validate (cold speech cache for this script) and render an example to a temporary MP4."""
    env = {**os.environ, "STORYBOARD_CACHE": str(cache / script.stem)}
    storyboard = [sys.executable, "-m", "storyboard"]
    started = time.perf_counter()
    subprocess.run([*storyboard, "validate", str(script)], env=env, check=True, capture_output=True)
    validate_s = time.perf_counter() - started
    out = cache / f"{script.stem}.mp4"
    started = time.perf_counter()
    subprocess.run([*storyboard, "render", str(script), "-o", str(out), "-q", "--cache", str(cache / "segments")],
                   env=env, check=True, capture_output=True)
    render_s = time.perf_counter() - started
    plan = json.loads(subprocess.run([*storyboard, "plan", str(script), "--json"], env=env, check=True,
                                     capture_output=True, text=True).stdout)
    return {"validate_cold_s": round(validate_s, 2), "render_s": round(render_s, 2),
            "video_s": round(plan["duration_s"], 2),
            "speech_s": round(sum(n["duration_s"] for n in plan.get("narration", [])), 2)}


if __name__ == "__main__":
    main()
