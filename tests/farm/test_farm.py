"""The render farm: shots as jobs on Ray workers, the cache written by the driver alone.

The scheduling is pure and tested on numbers. The rest runs a real local Ray cluster
(2 CPUs, 127.0.0.1 only, started once for the module) with the preview backend, and
compares every MP4 with a local render of the same script by ffmpeg's framemd5: a
farm render, one whose worker is killed halfway through a shot, one whose driver is
killed, and the command line's.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest
from helpers import ffmpeg, run_cli, write

from storyboard.farm.driver import (
    Dispatch,
    FarmReport,
    ShotOnWorker,
    WorkerSpec,
    check_result,
    restarted,
    worker_spec,
)
from storyboard.farm.results import FarmError, commit_result
from storyboard.farm.schedule import (
    critical_path,
    describe,
    longest_first,
    lpt_schedule,
    makespan,
    reach,
    shot_cost,
    speedup_bound,
    speedup_lpt,
)
from storyboard.farm.worker import (
    MAX_TASK_RETRIES,
    PAUSE_ENV,
    ShotResult,
    ShotWorker,
    Tick,
)
from storyboard.pipeline import plan_script
from storyboard.progress import Advanced, Finished, Said, SegmentStarted, Started, silent
from storyboard.render import FrameTally, SegmentCache, plan_segments, render_plan, sealed
from storyboard.render.segments import KEY
from storyboard.script.load import load_script, load_script_text

WAIT_S = 180  # the longest any wait for a worker or a file may take (a busy 2-core machine)

# Five scenes, four shots: a morph (one shot), a crossfade and burnt captions (composite runs), cuts.
SCRIPT = """
    output: {{width: 160, height: 96, fps: 12, preset: veryfast, captions: burn}}
    music: {{path: {music}, volume: 0.8, fade_out: 0.5s}}
    scenes:
      - {{id: a, duration: 1.5s, prompts: a red room, caption: Hello there}}
      - {{id: b, duration: 1s, transition: morph, prompts: a blue sea}}
      - {{id: c, duration: 1s, transition: {{type: crossfade, duration: 0.5s}}, prompts: a green field}}
      - {{id: d, duration: 0.75s, transition: cut, prompts: a yellow sun, caption: Bye}}
      - {{id: e, duration: 1.25s, transition: {{type: crossfade, duration: 0.25s}}, prompts: a white moon}}
"""
SHOTS = 4  # (a, b) 36 frames with the handle, (c) 12, (d) 12, (e) 15


# ---------------------------------------------------------------- scheduling (pure)

def test_longest_first_orders_by_cost_and_keeps_ties_in_order():
    assert longest_first([2, 5, 1, 5, 3]) == [1, 3, 4, 0, 2]
    assert longest_first([]) == []


def test_longest_first_schedule_hands_each_free_worker_the_longest_job_left():
    costs = [3, 3, 2, 2, 2]
    assert lpt_schedule(costs, 2) == [[0, 2, 4], [1, 3]]
    assert makespan(costs, 2) == 7  # the best schedule takes 6 ({3, 3} and {2, 2, 2}); LPT is within 4/3
    assert speedup_lpt(costs, 2) == pytest.approx(12 / 7)
    assert makespan(costs, 1) == 12 and speedup_lpt(costs, 1) == 1.0
    assert makespan(costs, 10) == 3 and lpt_schedule([], 3) == [[], [], []]
    with pytest.raises(ValueError):
        lpt_schedule(costs, 0)


def test_the_longest_shot_bounds_the_speed_up():
    costs = [10, 1, 1, 1, 1]  # a long morph chain and four short shots
    assert critical_path(costs) == 10
    assert speedup_bound(costs, 2) == pytest.approx(14 / 10)  # max(longest, total / n) = the longest
    assert speedup_bound(costs, 8) == pytest.approx(1.4) == pytest.approx(speedup_lpt(costs, 8))
    assert speedup_bound([1, 1, 1, 1], 2) == 2.0 and speedup_bound([1, 1, 1, 1], 8) == 4.0
    assert speedup_bound([], 4) == 1.0 and critical_path([]) == 0
    for r in reach([5, 4, 3, 3, 2, 1]):
        assert 1.0 <= r.lpt <= r.bound + 1e-9 <= r.workers + 1e-9


def plan_of(text: str, tmp_path: Path, **fields):
    script = load_script_text(text, str(tmp_path / "s.yaml"))
    if fields:
        from storyboard.script.load import with_overrides

        script = with_overrides(script, **fields)
    return plan_script(script).plan


SMALL = """
    output: {width: 64, height: 64, fps: 8}
    scenes:
      - {id: long, duration: 6s, prompts: x}
      - {id: glide, duration: 2s, transition: morph, prompts: y}
      - {id: short, duration: 1s, prompts: z}
"""


def test_a_dry_run_names_the_critical_path_and_the_reachable_speed_up(tmp_path):
    plan = plan_of(SMALL, tmp_path)
    assert [s.length for s in plan.shots] == [64, 8]
    assert [shot_cost(plan, s) for s in plan.shots] == [64.0, 8.0]  # the preview: frames
    text = "\n".join(describe(plan, plan.shots, workers=3))
    assert "critical path: shot 0, 64 frames (8.0 s of video), 89% of the work" in text
    assert "faster than 1.12x one worker" in text
    assert "3 workers 1.12x (bound 1.12x)" in text and "8 workers" in text
    assert describe(plan, []) == ["farm: nothing to render"]


def test_a_diffusion_shot_costs_its_denoiser_evaluations(tmp_path):
    plan = plan_of(SMALL, tmp_path, model="tiny-random", steps=3)
    more = plan_of(SMALL, tmp_path, model="tiny-random", steps=6)
    cost = shot_cost(plan, plan.shots[0])
    assert cost > plan.shots[0].length and shot_cost(more, more.shots[0]) == 2 * cost


def test_workers_follow_the_gpus_for_diffusion_and_the_cpus_for_the_preview(tmp_path):
    preview = plan_of(SMALL, tmp_path)
    diffusion = plan_of(SMALL, tmp_path, model="tiny-random")
    assert worker_spec(preview, 5, None, {"CPU": 4, "GPU": 2}) == WorkerSpec(4, 1, 0, "CPU")
    assert worker_spec(preview, 2, None, {"CPU": 4}).count == 2  # never more workers than shots
    assert worker_spec(preview, 9, 16, {"CPU": 4}).count == 4  # nor than the cluster holds
    assert worker_spec(diffusion, 5, None, {"CPU": 32, "GPU": 4}) == WorkerSpec(4, 1, 1, "GPU")
    assert worker_spec(diffusion, 5, 2, {"CPU": 32, "GPU": 4}).count == 2
    assert worker_spec(diffusion, 5, None, {"CPU": 8}) == WorkerSpec(1, 8, 0, "CPU")  # no GPU: torch gets the CPUs
    with pytest.raises(FarmError, match="no GPU"):
        worker_spec(plan_of(SMALL, tmp_path, model="tiny-random", device="cuda"), 5, None, {"CPU": 8})
    with pytest.raises(FarmError, match="no CPU"):
        worker_spec(preview, 5, None, {})


@contextmanager
def listening(reply: bytes | None) -> Iterator[str]:
    """A server on 127.0.0.1 that reads what comes and sends ``reply`` (b"": hangs up; None: stays
    silent); its address."""
    server = socket.create_server(("127.0.0.1", 0))
    taken: list[socket.socket] = []

    def serve() -> None:
        try:
            while True:
                conn = server.accept()[0]
                taken.append(conn)
                conn.recv(1024)
                if reply == b"":
                    conn.close()
                elif reply is not None:
                    conn.sendall(reply)
        except OSError:  # (the server is closed)
            return

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.close()
        for conn in taken:
            conn.close()


def test_cluster_addresses_and_ray_errors_in_one_line():
    from storyboard.errors import UsageError
    from storyboard.farm.cluster import is_loopback, reachable
    from storyboard.farm.driver import reason

    assert is_loopback("127.0.0.1:6379") and is_loopback("localhost:1") and is_loopback("[::1]:6379")
    assert not is_loopback("10.0.0.5:6379") and not is_loopback("auto")
    reachable("auto")  # left to Ray
    with pytest.raises(UsageError, match="no Ray cluster answers there"):
        reachable("127.0.0.1:1")
    with pytest.raises(UsageError, match="the Ray Client is not supported"):
        reachable("ray://head:10001")
    settings = bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # an HTTP/2 server's first frame: empty SETTINGS on stream 0
    with listening(settings) as address, pytest.raises(UsageError, match="no answer to a Ray call in 1 s"):
        started = time.monotonic()
        reachable(address, call_timeout_s=1)  # opens as gRPC does, then stays silent (Ray waited 622 s)
    assert time.monotonic() - started < 15
    grpc = pytest.importorskip("grpc")
    from concurrent.futures import ThreadPoolExecutor

    other = grpc.server(ThreadPoolExecutor(max_workers=1))  # a gRPC server that is not Ray's
    port = other.add_insecure_port("127.0.0.1:0")
    other.start()
    try:
        with pytest.raises(UsageError, match="something answers gRPC there, but not as a Ray cluster's GCS does "
                                             r"\(it does not know Ray's calls\)"):
            reachable(f"127.0.0.1:{port}", call_timeout_s=5)
    finally:
        other.stop(0)
    with pytest.raises(UsageError, match="10001 is the Ray Client's port"):
        reachable("head.invalid:10001")  # told before any connection is tried
    for other in (b"HTTP/1.1 400 Bad Request\r\n\r\n", b"-ERR unknown command 'PRI'\r\n", b"", None):
        with listening(other) as address, pytest.raises(UsageError, match="something listens there, but not a Ray"):
            reachable(address, timeout_s=2)

    class Wrapped(Exception):
        cause = ValueError("no such model")

    assert reason(Wrapped("ray's long text")) == "ValueError: no such model"
    died = RuntimeError("The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR. ...")
    assert reason(died) == "The actor is dead because its worker process has died"


# ---------------------------------------------------------------- a worker's files, without Ray

@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    from storyboard.music.synth import synth_track, write_wav

    return write_wav(synth_track(120.0, 8.0, bass=False), tmp_path_factory.mktemp("music") / "beat.wav")


@pytest.fixture(scope="module")
def script(tmp_path_factory, music) -> Path:
    return write(tmp_path_factory.mktemp("script") / "farm.yaml", SCRIPT.format(music=music))


@pytest.fixture(scope="module")
def plan(script):
    return plan_script(load_script(script)).plan


@pytest.mark.slow
def test_a_worker_renders_a_shot_as_a_local_render_caches_it(plan, tmp_path):
    out = tmp_path / "v.mp4"
    local = SegmentCache(tmp_path / "local")
    render_plan(plan, out, quiet=True, cache_dir=local.folder)
    worker = ShotWorker(str(out))
    items = list(worker.render(plan, 0, plan_segments(plan, local)[0].key))
    again = list(worker.render(plan, 0, plan_segments(plan, local)[0].key))
    worker.close()
    ticks, result = items[:-1], items[-1]
    assert all(isinstance(t, Tick) for t in ticks) and isinstance(result, ShotResult)
    assert [t.frames for t in ticks] == [t.frames for t in again[:-1]], "the same ticks on every run (Ray's retry)"
    assert ticks[-1].frames == plan.shots[0].length and len(ticks) <= 25
    made = tmp_path / "made.mkv"
    made.write_bytes(result.segment.data)  # (Matroska gives each file a random id: the frames are compared)
    assert framemd5(made) == framemd5(plan_segments(plan, local)[0].path), "the frames a local render cached"
    for piece in result.pieces:
        assert piece.data == (local.folder / "pieces" / piece.name).read_bytes(), "pieces: the same bytes"
    assert len(result.pieces) >= 1
    assert not list(Path(tempfile.gettempdir()).glob(f"storyboard-farm-{os.getpid()}-*")), "scratch removed"


def test_the_driver_keeps_only_what_checks_out(plan, tmp_path):
    cache = SegmentCache(tmp_path / "cache")
    segments = plan_segments(plan, cache)
    worker = ShotWorker(str(tmp_path / "v.mp4"))
    result = list(worker.render(plan, 1, segments[1].key))[-1]
    worker.close()
    assert len(result.pieces) == 1  # shot 1: a crossfade (composited at assembly), then a plain run
    flipped = result.segment.data[:100] + bytes([result.segment.data[100] ^ 1]) + result.segment.data[101:]
    bad = [replace(result, segment=replace(result.segment, data=flipped)),  # a flipped bit
           replace(result, pieces=result.pieces[1:]),  # a piece missing
           replace(result, shot=2)]  # another shot's segment
    for wrong in bad:
        with pytest.raises(FarmError):
            commit_result(plan, segments, wrong, cache.folder / "pieces")
        assert not cache.folder.exists() or not any(cache.folder.rglob("*")), "nothing of it was written"
    assert commit_result(plan, segments, result, cache.folder / "pieces") == len(result.pieces)
    assert plan_segments(plan, cache)[1].cached and not plan_segments(plan, cache)[0].cached
    assert commit_result(plan, segments, result, cache.folder / "pieces") == 0, "good pieces are not written again"


def test_the_driver_writes_a_result_only_for_the_shot_it_asked_for(plan, tmp_path):
    cache = SegmentCache(tmp_path / "cache")
    segments = plan_segments(plan, cache)
    worker = ShotWorker(str(tmp_path / "v.mp4"))
    result = list(worker.render(plan, 1, segments[1].key))[-1]
    worker.close()
    check_result(ShotOnWorker(segments[1], 0, None, pid=result.pid), result)
    with pytest.raises(FarmError, match=rf"worker 2 was asked for shot 2 \(segment {segments[2].key[:12]}\) and "
                                        rf"returned shot 1 \(segment {segments[1].key[:12]}\)"):
        check_result(ShotOnWorker(segments[2], 1, None, pid=result.pid), result)
    with pytest.raises(FarmError, match="returned shot 1 .segment 000000000000"):
        check_result(ShotOnWorker(segments[1], 0, None, pid=result.pid), replace(result, key="0" * 40))
    said: list = []
    wrong, right = ShotOnWorker(segments[2], 0, None, pid=result.pid), ShotOnWorker(segments[1], 0, None, pid=result.pid)
    with pytest.raises(FarmError, match="asked for shot 2"):
        bare_dispatch(plan, segments, cache, said, wrong).on_result("stream", wrong, result)
    assert not cache.folder.exists() or not any(cache.folder.rglob("*")), "nothing of it was written"
    dispatch = bare_dispatch(plan, segments, cache, said, right)
    dispatch.on_result("stream", right, result)
    assert said == [] and plan_segments(plan, cache)[1].cached and dispatch.done == 1


def bare_dispatch(plan, segments: list, cache: SegmentCache, said: list, job: ShotOnWorker) -> Dispatch:
    """A :class:`Dispatch` without Ray or workers, for its news handling: ``job`` running, as ``"stream"``;
    the events it tells go to ``said``."""
    dispatch = Dispatch.__new__(Dispatch)
    dispatch.plan, dispatch.segments, dispatch.cache, dispatch.sink = plan, segments, cache, said.append
    dispatch.tally = FrameTally(silent, "render", sum(s.shot.length for s in segments), plan.fps)
    dispatch.running, dispatch.idle, dispatch.report = {"stream": job}, [], FarmReport()
    dispatch.base = dispatch.finished = dispatch.done = 0
    return dispatch


def test_a_restart_is_reported_by_a_tick_or_by_the_result_and_only_during_a_shot(plan, tmp_path):
    segments = plan_segments(plan, SegmentCache(tmp_path / "cache"))
    job = ShotOnWorker(segments[0], 1, None, pid=100)  # the pid the worker answered just before the shot
    assert restarted(job, 100, finished=False) is None and restarted(job, 100, finished=True) is None
    assert restarted(job, 200, finished=False) == ("shot 0: worker 2 (process 100) was lost; Ray restarted it "
                                                   "(process 200), which renders the shot again from its start")
    assert "(process 200), which rendered the whole shot again" in restarted(job, 200, finished=True)
    said: list = []
    dispatch = bare_dispatch(plan, segments, SegmentCache(tmp_path / "cache"), said, job)
    dispatch.on_tick(job, Tick(0, 3, 200))
    dispatch.on_tick(job, Tick(0, 6, 200))
    assert len(said) == 1 and "(process 100) was lost" in said[0].text and job.pid == 200, "said once per restart"
    assert said[0].level == "warning"
    assert dispatch.tally.done == 6, "the ticks count on the render's tally"
    dispatch.note_restart(job, 300, finished=True)  # lost after its last tick: only the result tells
    assert len(said) == 2 and "(process 200) was lost; Ray restarted it (process 300)" in said[1].text


def test_a_failed_or_interrupted_ray_init_stops_what_it_started(tmp_path):
    from storyboard.farm.cluster import _init

    class FakeRay:
        shutdowns = 0

        def init(self, **options):
            raise KeyboardInterrupt

        def shutdown(self):
            FakeRay.shutdowns += 1

    session = tmp_path / "sbray-1-x"
    session.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _init(FakeRay(), session, address="local")
    assert FakeRay.shutdowns == 1 and not session.exists()


@contextmanager
def own_group(args: list[str], **options):
    """``subprocess.Popen`` in a session of its own; on the way out, whatever happened (a timeout, a failed
    assert), its whole process group is killed: the command-line driver and a private Ray cluster it started."""
    process = subprocess.Popen(args, start_new_session=True, **options)
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # (the group has ended)
        process.wait(timeout=60)


# ---------------------------------------------------------------- a local Ray cluster

def framemd5(path: Path) -> list[str]:
    """Every decoded frame's MD5, video and audio (ffmpeg -f framemd5)."""
    out = subprocess.run([ffmpeg(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("#")]


@pytest.fixture(scope="module")
def reference(plan, tmp_path_factory) -> list[str]:
    """The framemd5 of a local render (no Ray)."""
    out = tmp_path_factory.mktemp("local") / "local.mp4"
    result = render_plan(plan, out, quiet=True)
    assert result.rendered == SHOTS
    return framemd5(out)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs on 127.0.0.1 for the module; its workers pause where a test arms them."""
    pytest.importorskip("ray")
    from storyboard.farm.cluster import connect, shutdown

    pauses = tmp_path_factory.mktemp("pauses")
    before = os.environ.get(PAUSE_ENV)
    os.environ[PAUSE_ENV] = str(pauses)  # the cluster's processes inherit it
    handle = connect(None, cpus=2)
    try:
        yield handle, pauses
    finally:
        shutdown(handle)
        if before is None:
            os.environ.pop(PAUSE_ENV, None)
        else:
            os.environ[PAUSE_ENV] = before


def test_a_running_cluster_passes_the_address_check(cluster):
    """The check that refuses what is not Ray in seconds lets Ray's own GCS through."""
    from storyboard.farm.cluster import reachable

    handle, _ = cluster
    reachable(handle.address, timeout_s=WAIT_S)


def wait_for(condition, what: str) -> None:
    """Poll ``condition`` (a file appearing) until it holds; fail after :data:`WAIT_S`."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"waited {WAIT_S} s for {what}"
        time.sleep(0.05)


@pytest.fixture
def pauses(cluster) -> Path:
    """The cluster's pause folder, cleared of other tests' marks; a worker the test leaves paused is released."""
    folder = cluster[1]
    for stale in [*folder.glob("*.armed"), *folder.glob("*.paused-*")]:
        stale.unlink()
    yield folder
    for marker in folder.glob("*.paused-*"):
        (folder / f"release-{pid_of(marker)}").touch()


def paused(pauses: Path, shot: int) -> list[Path]:
    """The marks of workers paused in the middle of ``shot`` (``shot-<n>.paused-<pid>``)."""
    return list(pauses.glob(f"shot-{shot}.paused-*"))


def pid_of(marker: Path) -> int:
    return int(marker.name.rsplit("-", 1)[1])


class Killer(threading.Thread):
    """Kills the worker that pauses in the middle of ``shot``, ``times`` times (arming the pause again before
    each kill but the last, so the retry stops there too). If it fails, it releases every paused worker, so
    the render does not wait for it, and keeps the error for the test."""

    def __init__(self, pauses: Path, shot: int, times: int = 1):
        super().__init__(daemon=True)
        self.pauses, self.shot, self.times = pauses, shot, times
        self.killed: list[int] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for life in range(self.times):
                wait_for(lambda: paused(self.pauses, self.shot), f"run {life + 1} of shot {self.shot} to reach its middle")
                marker = paused(self.pauses, self.shot)[0]
                marker.unlink()
                if life + 1 < self.times:
                    (self.pauses / f"shot-{self.shot}.armed").touch()
                os.kill(pid_of(marker), signal.SIGKILL)
                self.killed.append(pid_of(marker))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            for marker in self.pauses.glob("*.paused-*"):
                (self.pauses / f"release-{pid_of(marker)}").touch()


def sealed_segments(cache: Path) -> list[Path]:
    """The segments in the cache with their notes (not a note still being written: ``.<key>.<pid>...part.json``)."""
    return [note for note in cache.glob("*.json") if KEY.match(note.stem) and note.with_suffix(".mkv").is_file()]


def assert_cache_clean(cache: Path) -> None:
    """No temporary file anywhere in the cache, and every entry checks out against its note."""
    assert [p.name for p in cache.rglob("*") if ".part" in p.name] == []
    files = [*cache.glob("*.mkv"), *(cache / "pieces").glob("*.h264")]
    assert files and all(sealed.problem(p) is None for p in files), [(p.name, sealed.problem(p)) for p in files]


@pytest.mark.slow
def test_a_farm_render_is_frame_identical_to_a_local_one(pauses, plan, reference, tmp_path):
    import ray

    from storyboard.farm import FarmReport, render_plan_on_ray

    assert ray.util.get_node_ip_address() == "127.0.0.1", "the local cluster keeps to the loopback interface"
    report, events = FarmReport(), []
    result = render_plan_on_ray(plan, tmp_path / "farm.mp4", sink=events.append, report=report)
    assert (result.rendered, result.reused) == (SHOTS, 0)
    assert framemd5(tmp_path / "farm.mp4") == reference
    assert report.workers == 2 and len(report.busy_s) == SHOTS
    said = [e.text for e in events if isinstance(e, Said)]
    assert "farm: 2 CPU workers on a local Ray cluster on 127.0.0.1" in said[0]
    first = next(e for e in events if isinstance(e, SegmentStarted))
    assert (first.n, first.of, first.shot, first.scenes, first.frames) == (1, SHOTS, 0, ("a", "b"), 36), \
        "the longest shot first"
    assert {e.worker for e in events if isinstance(e, SegmentStarted)} == {1, 2}
    rendering = [e for e in events if getattr(e, "stage", "") == "render"]
    counts = [e.done for e in rendering if isinstance(e, Advanced)]
    assert rendering[0] == Started("render", plan.total_frames, "frame", fps=plan.fps)
    assert counts == sorted(counts) and counts[-1] == plan.total_frames and rendering[-1] == Finished("render"), \
        "every worker's frames on one stage, up to the video's"
    assert_cache_clean(tmp_path / ".storyboard-cache")
    again = render_plan_on_ray(plan, tmp_path / "again.mp4", quiet=True)
    assert (again.rendered, again.reused) == (0, SHOTS)
    assert framemd5(tmp_path / "again.mp4") == reference


@pytest.mark.slow
def test_a_worker_killed_mid_shot_renders_it_again_and_nothing_partial_is_kept(pauses, plan, reference, tmp_path):
    from storyboard.farm import render_plan_on_ray

    (pauses / "shot-0.armed").touch()  # the worker rendering the longest shot stops halfway ...
    killer = Killer(pauses, 0)  # ... and is killed there
    killer.start()
    events: list = []
    result = render_plan_on_ray(plan, tmp_path / "farm.mp4", sink=events.append)
    killer.join(timeout=WAIT_S)
    assert killer.error is None and len(killer.killed) == 1
    assert [e for e in events if isinstance(e, Said) and f"(process {killer.killed[0]}) was lost; Ray restarted it"
            in e.text]
    assert (result.rendered, result.reused) == (SHOTS, 0)
    assert framemd5(tmp_path / "farm.mp4") == reference
    assert_cache_clean(tmp_path / ".storyboard-cache")


@pytest.mark.slow
def test_a_shot_whose_worker_dies_too_often_stops_the_render_and_keeps_the_rest(pauses, plan, reference, tmp_path):
    from storyboard.farm import render_plan_on_ray

    (pauses / "shot-0.armed").touch()
    killer = Killer(pauses, 0, times=1 + MAX_TASK_RETRIES)  # the first run and every retry
    killer.start()
    with pytest.raises(FarmError, match=r"shot 0: worker \d was lost more often than Ray restarts it") as failed:
        render_plan_on_ray(plan, tmp_path / "v.mp4", quiet=True)
    killer.join(timeout=WAIT_S)
    assert killer.error is None and len(killer.killed) == 1 + MAX_TASK_RETRIES
    kept = int(re.search(rf"The (\d) of {SHOTS} segments finished are kept", str(failed.value)).group(1))
    assert not (tmp_path / "v.mp4").exists()
    result = render_plan_on_ray(plan, tmp_path / "v.mp4", quiet=True)
    assert (result.rendered, result.reused) == (SHOTS - kept, kept) and kept < SHOTS
    assert framemd5(tmp_path / "v.mp4") == reference
    assert_cache_clean(tmp_path / ".storyboard-cache")


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGINT"])
def test_after_the_driver_is_stopped_the_next_run_resumes_from_the_cache(cluster, pauses, plan, script, reference,
                                                                          tmp_path, stop):
    """SIGKILL: the driver is lost (a crash, a power cut). SIGINT: Ctrl-C, which answers exit 130."""
    from storyboard.farm import render_plan_on_ray

    handle, _ = cluster
    last = longest_first([shot_cost(plan, s) for s in plan.shots])[-1]
    (pauses / f"shot-{last}.armed").touch()  # one worker: every other shot is in the cache when it gets there
    cache = tmp_path / ".storyboard-cache"
    with own_group([sys.executable, "-m", "storyboard", "render", str(script), "-o", str(tmp_path / "v.mp4"),
                    "--ray", handle.address, "--workers", "1", "-q"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) as driver:
        wait_for(lambda: paused(pauses, last) and len(sealed_segments(cache)) == SHOTS - 1
                 or driver.poll() is not None, "three shots in the cache and the fourth under way")
        assert driver.poll() is None, driver.communicate()[1]
        driver.send_signal(getattr(signal, stop))
        said = driver.communicate(timeout=WAIT_S)[1]
    if stop == "SIGINT":
        assert driver.returncode == 130, said
        assert f"interrupted: {SHOTS - 1} of {SHOTS} segments to render were finished and are kept" in said
    assert not (tmp_path / "v.mp4").exists()
    result = render_plan_on_ray(plan, tmp_path / "v.mp4", quiet=True)
    assert (result.rendered, result.reused) == (1, SHOTS - 1)
    assert framemd5(tmp_path / "v.mp4") == reference
    assert_cache_clean(cache)


# ---------------------------------------------------------------- the command line

@pytest.mark.slow
def test_render_ray_on_the_command_line(script, reference, tmp_path):
    pytest.importorskip("ray")
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV}
    with own_group([sys.executable, "-m", "storyboard", "render", str(script), "--ray", "--model", "preview",
                    "-o", str(tmp_path / "cli.mp4")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                   env=env) as cli:
        out, err = cli.communicate(timeout=600)
    assert cli.returncode == 0, err
    assert re.search(r"farm: \d CPU workers? on a local Ray cluster on 127\.0\.0\.1", err), err
    assert f"wrote {tmp_path / 'cli.mp4'}" in out and f"({SHOTS} segments rendered, 0 reused)" in out
    assert framemd5(tmp_path / "cli.mp4") == reference
    assert not list(Path(tempfile.gettempdir()).glob(f"sbray-{cli.pid}-*")), "the local cluster's session folder is gone"


@pytest.mark.parametrize("address, said", [
    ("127.0.0.1:-1", "the port must be a number from 1 to 65535, not '-1'"),  # Ray waited 823 s
    ("127.0.0.1:70000", "the port must be a number from 1 to 65535, not '70000'"),
    ("h" * 300 + ":6379", "is not a host name or an IP address"),  # was idna's UnicodeError
    ("bad_host!:6379", "'bad_host!' is not a host name"),
    ("6379", "expected HOST:PORT"),
    ("", "--ray needs an address, HOST:PORT"),  # was a silent local render
    ("  ", "--ray needs an address, HOST:PORT"),
])
def test_a_malformed_ray_address_is_refused_at_once(script, tmp_path, capsys, address, said):
    from storyboard.cli import main

    started = time.process_time()
    assert main(["render", str(script), "-o", str(tmp_path / "v.mp4"), "--ray", address]) == 2
    err = capsys.readouterr().err
    assert said in err and len(err) < 600, err
    assert time.process_time() - started < 5
    assert not (tmp_path / "v.mp4").exists() and not (tmp_path / ".storyboard-cache").exists()


def test_a_cluster_that_cannot_be_joined_exits_2_before_anything_is_written(script, tmp_path):
    """Something listens at the address, but not Ray: refused in seconds (Ray's own join would retry
    for minutes), and nothing is written (exit 2)."""
    pytest.importorskip("ray")
    folder = tmp_path / "out"
    folder.mkdir()
    env = {k: v for k, v in os.environ.items() if k != PAUSE_ENV and not k.startswith("RAY_")}
    with listening(None) as address:
        with own_group([sys.executable, "-m", "storyboard", "render", str(script), "-o", str(folder / "v.mp4"),
                        "--ray", address], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=env) as cli:
            out, err = cli.communicate(timeout=WAIT_S)
    assert cli.returncode == 2, err
    assert f"--ray {address}: something listens there, but not a Ray cluster" in err, err
    assert list(folder.iterdir()) == [], "no cache folder, no file"


def test_dry_run_with_ray_shows_the_critical_path(script, tmp_path):
    done = run_cli("render", str(script), "--dry-run", "--ray", "--workers", "3", "-o", str(tmp_path / "v.mp4"))
    assert done.returncode == 0, done.stderr
    assert "critical path: shot 0, 36 frames (3.0 s of video), 48% of the work" in done.stdout
    assert "3 workers" in done.stdout and "<- critical path" in done.stdout
    assert not (tmp_path / ".storyboard-cache").exists() and not (tmp_path / "v.mp4").exists()


def test_farm_arguments_are_checked(script, tmp_path, monkeypatch, capsys):
    from storyboard.cli import main

    out = str(tmp_path / "v.mp4")
    assert main(["render", str(script), "-o", out, "--workers", "2"]) == 2
    assert "--workers 2: needs --ray" in capsys.readouterr().err
    assert main(["render", str(script), "-o", out, "--ray", "--workers", "0"]) == 2
    assert "give at least 1" in capsys.readouterr().err
    if importlib.util.find_spec("ray") is not None:
        assert main(["render", str(script), "-o", out, "--ray", "127.0.0.1:1"]) == 2  # no cluster there: at once
        assert "--ray 127.0.0.1:1: no Ray cluster answers there" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert main(["render", str(script), "-o", out, "--ray"]) == 2
    assert "install storyboard[farm]" in capsys.readouterr().err
    assert not Path(out).exists() and not (tmp_path / ".storyboard-cache").exists(), "nothing was written"


def test_notes_written_by_the_farm_are_those_of_a_local_render(plan, tmp_path):
    """What a note says (shot, scenes, model, the driver's output path) does not depend on where it was made."""
    cache = SegmentCache(tmp_path / "cache")
    segments = plan_segments(plan, cache)
    worker = ShotWorker(str(tmp_path / "v.mp4"))
    commit_result(plan, segments, list(worker.render(plan, 1, segments[1].key))[-1], cache.folder / "pieces")
    worker.close()
    note = json.loads(sealed.note_path(segments[1].path).read_text())
    assert {k: note[k] for k in ("shot", "scenes", "model", "output", "frames")} == {
        "shot": 1, "scenes": ["c"], "model": "preview", "output": str(tmp_path / "v.mp4"), "frames": 12}


def test_the_farm_imports_only_the_render_rooms_public_face():
    """The farm uses render through ``storyboard.render`` (its ``__init__``, the names in its ``__all__``),
    never its modules or their private names."""
    import storyboard.render

    farm = Path(__file__).resolve().parents[2] / "storyboard" / "farm"
    reached = []
    for path in sorted(farm.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            reached += [f"{path.name}:{node.lineno} {name}" for name in names if name.startswith("storyboard.render.")]
            if isinstance(node, ast.ImportFrom) and node.module == "storyboard.render":
                beyond = [a.name for a in node.names if a.name not in storyboard.render.__all__]
                reached += [f"{path.name}:{node.lineno} storyboard.render.{name}" for name in beyond]
    assert not reached, reached
