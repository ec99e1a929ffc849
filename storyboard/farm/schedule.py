"""Which shot goes first, and how fast a farm can render a plan: pure functions of shot costs.

Shots are independent jobs (a shot is one continuous latent video, rendered by one
worker from start to end). A farm hands the longest remaining shot to whichever worker
is free (LPT, *longest processing time first*), which keeps a long shot from starting
last and finishing alone. Its makespan is within 4/3 of the best schedule's.

The render can never finish before its longest shot does: that shot is the plan's
*critical path*. With ``n`` workers the speed-up over one worker is at most
``total / max(longest, total / n)``, however the shots are ordered.

A shot's cost is an estimate in the backend's unit of work: output frames for the
preview (its time per frame is about constant), denoiser (latent) frame-evaluations for
a diffusion model (windows x latent frames x steps, doubled by guidance), which is where
a diffusion model spends its time.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Sequence

from storyboard.plan.data import Plan, ShotPlan
from storyboard.backends.latents import latent_evaluations

SHOWN_WORKERS = (2, 4, 8)  # the farm sizes a dry run and the benchmark report


def shot_cost(plan: Plan, shot: ShotPlan) -> float:
    """Estimated work of rendering ``shot``: frames for the preview, denoiser frame-evaluations for diffusion."""
    if plan.model.id == "preview":
        return float(shot.length)
    steps = plan.model.steps
    guidance = 2 if plan.model.guidance > 1 else 1
    overlap = plan.model.window.overlap
    return float(latent_evaluations(shot, plan.fps, overlap, plan.model.id) * steps * guidance)


def cost_unit(plan: Plan) -> str:
    """What :func:`shot_cost` counts, in words."""
    return "frames" if plan.model.id == "preview" else "denoiser frame-evaluations"


def longest_first(costs: Sequence[float]) -> list[int]:
    """Indices of ``costs``, the largest first (ties: the earlier index first)."""
    return sorted(range(len(costs)), key=lambda i: (-costs[i], i))


def lpt_schedule(costs: Sequence[float], workers: int) -> list[list[int]]:
    """The jobs each of ``workers`` runs, in order, when every free worker takes the longest job left.

    This is what the farm does (with estimated costs). A worker that frees first takes the next job;
    ties go to the lower-numbered worker.
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    lanes: list[list[int]] = [[] for _ in range(workers)]
    free = [(0.0, w) for w in range(workers)]  # (time the worker is free, worker)
    for job in longest_first(costs):
        at, worker = heapq.heappop(free)
        lanes[worker].append(job)
        heapq.heappush(free, (at + costs[job], worker))
    return lanes


def makespan(costs: Sequence[float], workers: int) -> float:
    """When the last job ends under :func:`lpt_schedule` (in the costs' unit); 0 for no jobs."""
    return max((sum(costs[j] for j in lane) for lane in lpt_schedule(costs, workers)), default=0.0)


def critical_path(costs: Sequence[float]) -> float:
    """The longest job: no farm finishes sooner (independent jobs, each on one worker)."""
    return max(costs, default=0.0)


def speedup_bound(costs: Sequence[float], workers: int) -> float:
    """The most any schedule on ``workers`` can gain over one worker: ``total / max(longest, total / workers)``."""
    total = sum(costs)
    if total <= 0:
        return 1.0
    return total / max(critical_path(costs), total / workers)


def speedup_lpt(costs: Sequence[float], workers: int) -> float:
    """What longest-first reaches on ``workers`` over one worker (``total / makespan``), costs exact."""
    total = sum(costs)
    return total / makespan(costs, workers) if total > 0 else 1.0


@dataclass(frozen=True)
class Reach:
    """How far ``workers`` workers can speed a set of jobs up: the bound and longest-first's schedule."""

    workers: int
    bound: float
    lpt: float


def reach(costs: Sequence[float], workers: Sequence[int] = SHOWN_WORKERS) -> list[Reach]:
    """:class:`Reach` for each farm size in ``workers``."""
    return [Reach(n, speedup_bound(costs, n), speedup_lpt(costs, n)) for n in workers]


def describe(plan: Plan, shots: Sequence[ShotPlan], workers: int | None = None) -> list[str]:
    """The lines ``render --dry-run --ray`` prints: each shot's cost in the order a farm takes them,
    the critical path, and the speed-up 2, 4, 8 (and ``workers``) workers can reach."""
    if not shots:
        return ["farm: nothing to render"]
    costs = [shot_cost(plan, shot) for shot in shots]
    total, longest = sum(costs), critical_path(costs)
    order = longest_first(costs)
    lines = [f"farm order (longest first), cost in {cost_unit(plan)}:",
             f"  {'order':5} {'shot':>4} {'frames':>7} {'video':>8} {'cost':>12} {'share':>6}  scenes"]
    for n, i in enumerate(order, 1):
        shot = shots[i]
        ids = ", ".join(plan.scenes[s].id for s in shot.scenes)
        mark = "  <- critical path" if n == 1 else ""
        lines.append(f"  {n:<5} {shot.index:>4} {shot.length:>7} {shot.length / plan.fps:>7.1f}s {costs[i]:>12.0f} "
                     f"{costs[i] / total:>6.1%}  {ids}{mark}")
    first = shots[order[0]]
    lines.append(f"critical path: shot {first.index}, {first.length} frames ({first.length / plan.fps:.1f} s of video), "
                 f"{longest / total:.0%} of the work: no farm renders these {len(shots)} shots faster than "
                 f"{total / longest:.2f}x one worker")
    sizes = sorted(set(SHOWN_WORKERS) | ({workers} if workers else set()))
    shown = ", ".join(f"{r.workers} workers {r.lpt:.2f}x (bound {r.bound:.2f}x)" for r in reach(costs, sizes))
    lines.append(f"speed-up over one worker, longest first: {shown}")
    return lines
