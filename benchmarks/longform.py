"""Long renders: memory and time against length, incremental re-render, assembly cost.

Renders with the preview backend at 1280x720, 24 fps, and prints one JSON line:

* ``peak_rss_mb_1min``, ``peak_rss_mb_10min``, ``render_s_1min``, ``render_s_10min``:
  the same 10-scene storyboard stretched to 1 and to 10 minutes, cold cache, each in
  a fresh process (peak resident memory of that process and its ffmpeg children);
* ``render_s_ten_scenes`` and ``rerender_one_scene_s``: a 1-minute, ten-scene script
  rendered cold, then again after editing one scene's prompt;
* ``assembly_s`` next to ``plain_encode_s``: the final assembly of the 1-minute render
  (decode segments, composite, encode with audio) against ffmpeg alone re-encoding the
  same segments with the same settings.

    python benchmarks/longform.py            # about 15 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

COLOURS = ["red", "blue", "green", "golden", "violet", "teal", "orange", "silver", "pink", "cyan"]


def script_text(minutes: float, music: Path, edit: bool = False) -> str:
    scene_s = minutes * 60 / 10
    transitions = ["cut", "{type: crossfade, duration: 1s}", "{type: morph, duration: 2s}"]
    lines = ["output: {width: 1280, height: 720, fps: 24, preset: veryfast}",
             f"music: {{path: {music}, volume: 0.8}}", "scenes:"]
    for i in range(10):
        prompt = f"scene {i}, a {COLOURS[i]} city at night" if not (edit and i == 4) else "scene 4, an edited prompt"
        tr = "" if i == 0 else f", transition: {transitions[i % 3]}"
        lines.append(f"  - {{id: s{i}, duration: {scene_s:.3f}s, prompts: [{prompt!r}, {prompt + ', rain'!r}]{tr}}}")
    return "\n".join(lines) + "\n"


def child(script: str, output: str, cache: str) -> None:
    """Render ``script`` in this process; print seconds, peak RSS (self + children) and assembly time."""
    from storyboard.pipeline import plan_script
    from storyboard.render.orchestrate import render_plan
    from storyboard.script.load import load_script

    started = time.perf_counter()
    plan = plan_script(load_script(script)).plan
    result = render_plan(plan, output, quiet=True, cache_dir=cache)
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 2), "peak_rss_mb": round(own, 1), "ffmpeg_peak_rss_mb": round(kids, 1),
                      "assembly_s": round(result.assembly_s, 2), "rendered": result.rendered, "reused": result.reused,
                      "frames": result.frames}))


def run(script: Path, output: Path, cache: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(script), str(output), str(cache)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def plain_encode_seconds(cache: Path, plan_segments: list[Path], folder: Path) -> float:
    """ffmpeg alone: concatenate the segments and re-encode them with the output settings."""
    from storyboard.files import ffmpeg_exe

    listing = folder / "segments.txt"
    listing.write_text("".join(f"file '{p}'\n" for p in plan_segments))
    started = time.perf_counter()
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                    "-i", str(listing), "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
                    str(folder / "plain.mp4")], check=True)
    return time.perf_counter() - started


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return
    folder = Path(tempfile.mkdtemp())
    os.environ["STORYBOARD_CACHE"] = str(folder / "analysis")
    from storyboard.music.synth import synth_track, write_wav

    music = write_wav(synth_track(120.0, 600.0), folder / "music.wav")
    figures: dict[str, float] = {}
    for minutes, tag in ((1, "1min"), (10, "10min")):
        script = folder / f"{tag}.yaml"
        script.write_text(script_text(minutes, music))
        result = run(script, folder / f"{tag}.mp4", folder / f"cache-{tag}")
        figures[f"render_s_{tag}"] = result["seconds"]
        figures[f"peak_rss_mb_{tag}"] = result["peak_rss_mb"]
        figures[f"ffmpeg_peak_rss_mb_{tag}"] = result["ffmpeg_peak_rss_mb"]
        if tag == "1min":
            figures["assembly_s"] = result["assembly_s"]
    figures["rss_ratio_10min_over_1min"] = round(figures["peak_rss_mb_10min"] / figures["peak_rss_mb_1min"], 3)
    figures["time_ratio_10min_over_1min"] = round(figures["render_s_10min"] / figures["render_s_1min"], 2)

    # Ten scenes cold, then one edited.
    ten = folder / "ten.yaml"
    ten.write_text(script_text(1, music))
    cold = run(ten, folder / "ten.mp4", folder / "cache-ten")
    ten.write_text(script_text(1, music, edit=True))
    again = run(ten, folder / "ten.mp4", folder / "cache-ten")
    figures["render_s_ten_scenes"] = cold["seconds"]
    figures["rerender_one_scene_s"] = again["seconds"]
    figures["rerender_segments"] = f"{again['rendered']} rendered, {again['reused']} reused"
    figures["rerender_fraction"] = round(again["seconds"] / cold["seconds"], 3)

    from storyboard.pipeline import plan_script
    from storyboard.render.orchestrate import plan_segments
    from storyboard.render.segments import SegmentCache
    from storyboard.script.load import load_script

    plan = plan_script(load_script(folder / "1min.yaml")).plan
    paths = [s.path for s in plan_segments(plan, SegmentCache(folder / "cache-1min"))]
    figures["plain_encode_s"] = round(plain_encode_seconds(folder / "cache-1min", paths, folder), 2)
    figures["assembly_over_plain_encode"] = round(figures["assembly_s"] / figures["plain_encode_s"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
