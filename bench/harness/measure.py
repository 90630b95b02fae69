"""One point of a run: one server, one upstream, one concurrency, one repetition.

A point waits for the server to go idle, warms it up with unrecorded load, then
measures one wrk run while sampling the server's memory every second and reading its
CPU time before and after.
"""

import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import procstat
from .load import LoadSpec, run_wrk, summarize
from .servers import Instance
from .upstreams import Upstream

IDLE_CORES = 0.05


@dataclass(frozen=True)
class Timing:
    """Seconds for each phase of a point."""

    warmup_s: int
    duration_s: int
    timeout_s: int
    # After warm-up, time for the upstream to answer what wrk abandoned.
    pause_s: float
    settle_max_s: float


def settle(roots: list[int], max_s: float) -> float:
    """Wait until the trees use under IDLE_CORES; return seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < max_s:
        before = procstat.tree_cpu_seconds(roots)
        time.sleep(0.5)
        if (procstat.tree_cpu_seconds(roots) - before) / 0.5 < IDLE_CORES:
            break

    return round(time.monotonic() - started, 1)


def measure_point(
    instance: Instance,
    upstream: Upstream,
    connections: int,
    timing: Timing,
    out_prefix: Path,
) -> dict:
    """Warm up, then measure one wrk run; return the point's figures."""
    server_root, upstream_root = instance.tree_root, upstream.process.pid
    roots = (
        [server_root] if server_root == upstream_root else [server_root, upstream_root]
    )
    spec = LoadSpec(
        instance.url, instance.headers, connections, timing.duration_s, timing.timeout_s
    )

    settled_s = settle([server_root], timing.settle_max_s)
    if timing.warmup_s:
        warmup = LoadSpec(spec.url, spec.headers, connections, timing.warmup_s, 5)
        run_wrk(warmup, out_prefix.with_name(out_prefix.name + "-warmup"))
        time.sleep(timing.pause_s)
        settled_s += settle([server_root], timing.settle_max_s)

    server_cpu = procstat.tree_cpu_seconds([server_root])
    upstream_cpu = procstat.tree_cpu_seconds([upstream_root])
    machine = procstat.machine_ticks()
    clocks = Clocks()
    with procstat.MemorySampler(server_root) as sampler:
        raw, wrk_cpu = run_wrk(spec, out_prefix)
    wall = clocks.elapsed()
    server_cpu = procstat.tree_cpu_seconds([server_root]) - server_cpu
    upstream_cpu = procstat.tree_cpu_seconds([upstream_root]) - upstream_cpu
    busy, total = (
        now - then for now, then in zip(procstat.machine_ticks(), machine, strict=True)
    )

    point = summarize(raw, connections)
    busy_cores = busy / total * os.cpu_count() if total else 0.0
    ours_cores = (server_cpu + wrk_cpu + (upstream_cpu if len(roots) > 1 else 0)) / wall
    point.update(
        settled_s=settled_s,
        server_cpu_s=round(server_cpu, 2),
        cpu_ms_per_request=(
            round(server_cpu * 1000 / point["requests"], 3)
            if point["requests"]
            else None
        ),
        server_cores=round(server_cpu / wall, 2),
        upstream_cores=round(upstream_cpu / wall, 2),
        wrk_cores=round(wrk_cpu / wall, 2),
        machine_busy_pct=round(100 * busy / total, 1) if total else 0.0,
        paused_s=clocks.paused(),
        other_cores=round(max(0.0, busy_cores - ours_cores), 2),
        memory=sampler.peak(),
    )
    return point


class Clocks:
    """Elapsed time, and how long the machine was frozen meanwhile.

    A frozen virtual machine stops the monotonic clock but not the wall clock, and
    wrk times requests on the wall clock: every request in flight across a freeze
    looks slow, or timed out.
    """

    def __init__(self) -> None:
        self.monotonic = time.monotonic()
        self.wall = time.time()

    def elapsed(self) -> float:
        return time.monotonic() - self.monotonic

    def paused(self) -> float:
        gap = (time.time() - self.wall) - self.elapsed()
        return round(gap, 1) if gap > 0.5 else 0.0


def rest_memory(root: int, quiet_s: float = 2.0) -> dict:
    """Memory of an idle tree after quiet_s seconds without load."""
    time.sleep(quiet_s)
    return procstat.tree_memory(root).summary()
