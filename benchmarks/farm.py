"""The render farm: wall time with one and two workers, its overhead per segment, and how far each
example's shots let a farm go (the critical path).

Prints one JSON line:

* ``machine``: its cores and load average (1 minute) when the benchmark started;
* ``render``: ``examples/story.yaml`` (5 shots, 43 s at 768x432) rendered with the preview, each
  time into a fresh cache: ``local_s`` (:func:`render_plan`, no Ray), ``workers_1_s`` and
  ``workers_2_s`` (:func:`render_plan_on_ray` on a local cluster of 2 CPUs started beforehand,
  ``cluster_start_s``; workers' start-up and the assembly included, each also given alone),
  ``identical`` (the three MP4s have the same ffmpeg framemd5);
* ``overhead``: ``per_segment_ms``, with one worker, the render phase's wall time less the worker's
  busy time, per segment (handing a shot out, its ticks, its files back to the driver, checked and
  written atomically); ``actor_call_ms`` and ``streaming_call_ms``, the median round trip of a trivial
  actor call and of a one-item streaming call (Ray's own cost);
* ``examples``: for each script in ``examples/``, with its own model (the preview: cost = frames) and,
  for the three model examples, with their family's timing (cost = denoiser frame-evaluations):
  shots, video seconds, the critical path (the longest shot: seconds of video, share of the work) and
  the speed-up over one worker that 2, 4 and 8 workers reach longest first (``lpt``) and at best
  (``bound``), and ``max_speedup`` (total / critical path).

    python benchmarks/farm.py        # about 3 minutes on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FAMILIES = {"wan-480p": "tiny-wan", "ltx-768": "tiny-ltx", "modelscope-256": "tiny-random"}  # for their timing


def framemd5(path: Path) -> list[str]:
    from storyboard.files import ffmpeg_exe

    out = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


def load_plan(path: Path, model: str | None = None):
    from storyboard.pipeline import plan_script
    from storyboard.script.load import load_script, with_overrides

    script = load_script(path)
    return plan_script(with_overrides(script, model=model) if model else script).plan


def renders(folder: Path) -> dict:
    """Local, one worker, two workers: wall times, the farm's phases, and whether the MP4s are identical."""
    from storyboard.farm import FarmReport, render_plan_on_ray
    from storyboard.render.orchestrate import render_plan

    plan = load_plan(ROOT / "examples" / "story.yaml")
    started = time.perf_counter()
    render_plan(plan, folder / "local" / "story.mp4", quiet=True)
    out: dict = {"script": "examples/story.yaml", "shots": len(plan.shots), "video_s": round(plan.duration_s, 2),
                 "local_s": round(time.perf_counter() - started, 2)}
    reports = {}
    for n in (1, 2):
        reports[n] = FarmReport()
        started = time.perf_counter()
        result = render_plan_on_ray(plan, folder / f"w{n}" / "story.mp4", quiet=True, workers=n, report=reports[n])
        out[f"workers_{n}_s"] = round(time.perf_counter() - started, 2)
        out[f"workers_{n}"] = {"startup_s": round(reports[n].startup_s, 2), "render_phase_s": round(reports[n].render_s, 2),
                               "busy_s": round(sum(reports[n].busy_s), 2), "assembly_s": round(result.assembly_s, 2)}
    reference = framemd5(folder / "local" / "story.mp4")
    out["identical"] = all(framemd5(folder / f"w{n}" / "story.mp4") == reference for n in (1, 2))
    out["speedup_2_over_1"] = round(out["workers_1_s"] / out["workers_2_s"], 2)
    out["render_phase_speedup_2_over_1"] = round(reports[1].render_s / reports[2].render_s, 2)
    one = reports[1]
    out["per_segment_overhead_ms"] = round(1000 * (one.render_s - sum(one.busy_s)) / len(plan.shots), 1)
    return out


class Echo:
    """A trivial actor, to time Ray's own round trips."""

    def ping(self) -> int:
        return 1

    def stream(self):
        yield 1


def round_trips(calls: int = 100) -> dict:
    """Median milliseconds of a trivial actor call and of a one-item streaming call."""
    import ray

    actor = ray.remote(num_cpus=0)(Echo).remote()
    ray.get(actor.ping.remote())
    plain, streamed = [], []
    for _ in range(calls):
        started = time.perf_counter()
        ray.get(actor.ping.remote())
        plain.append(time.perf_counter() - started)
        started = time.perf_counter()
        ray.get(next(actor.stream.options(num_returns="streaming").remote()))
        streamed.append(time.perf_counter() - started)
    ray.kill(actor)
    return {"actor_call_ms": round(1000 * statistics.median(plain), 2),
            "streaming_call_ms": round(1000 * statistics.median(streamed), 2)}


def reach_of(plan) -> dict:
    """Shots, the critical path and the speed-up 2, 4, 8 workers can reach, for one plan."""
    from storyboard.farm.schedule import critical_path, longest_first, reach, shot_cost

    costs = [shot_cost(plan, shot) for shot in plan.shots]
    longest = plan.shots[longest_first(costs)[0]]
    total = sum(costs)
    return {"model": plan.model.id, "shots": len(plan.shots), "video_s": round(plan.duration_s, 2),
            "critical_path": {"shot": longest.index, "video_s": round(longest.length / plan.fps, 2),
                              "cost": critical_path(costs), "share": round(critical_path(costs) / total, 3)},
            "speedup": {str(r.workers): {"lpt": round(r.lpt, 2), "bound": round(r.bound, 2)} for r in reach(costs)},
            "max_speedup": round(total / critical_path(costs), 2)}


def examples() -> dict:
    out = {}
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        out[path.stem] = reach_of(load_plan(path))
        if path.stem in FAMILIES:
            out[path.stem + "@" + FAMILIES[path.stem]] = reach_of(load_plan(path, FAMILIES[path.stem]))
    return out


def main() -> None:
    from storyboard.farm.cluster import connect, shutdown

    machine = {"cores": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
    started = time.perf_counter()
    cluster = connect(None, cpus=2)
    cluster_start = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory() as folder:
            render = renders(Path(folder))
        overhead = {"per_segment_ms": render.pop("per_segment_overhead_ms"), **round_trips()}
    finally:
        shutdown(cluster)
    render["cluster_start_s"] = round(cluster_start, 2)
    print(json.dumps({"machine": machine, "render": render, "overhead": overhead, "examples": examples()}))


if __name__ == "__main__":
    main()
