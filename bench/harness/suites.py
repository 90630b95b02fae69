"""The order of a run: suites, repetitions, servers, concurrencies.

Each repetition starts every server fresh, one at a time, so no server shares the two
cores with an idle or still-busy peer; the server order flips on every repetition so
a drift in background load touches all servers alike.
"""

from dataclasses import dataclass
from pathlib import Path

from . import procstat
from .errors import BenchError
from .load import LoadSpec, run_wrk, summarize
from .measure import Clocks, Timing, measure_point, rest_memory
from .processes import ProcessGroups
from .servers import Context, ServerSpec, start_server
from .upstreams import Upstream

SLOW_DELAY_S = 1.0


@dataclass(frozen=True)
class Suite:
    """Concurrencies measured against one upstream."""

    upstream: str
    connections: tuple[int, ...]
    timing: Timing


# (fast, slow) timings. After a slow warm-up, the pause lets the upstream answer
# what wrk abandoned, one delay and a margin.
FULL_TIMINGS = (
    Timing(warmup_s=3, duration_s=10, timeout_s=5, pause_s=0, settle_max_s=30),
    Timing(warmup_s=5, duration_s=20, timeout_s=10, pause_s=2, settle_max_s=60),
)
QUICK_TIMINGS = (
    Timing(warmup_s=1, duration_s=3, timeout_s=5, pause_s=0, settle_max_s=10),
    Timing(warmup_s=2, duration_s=5, timeout_s=10, pause_s=2, settle_max_s=15),
)


def plan_suites(quick: bool) -> list[Suite]:
    """The fast suite (c = 1, 16, 64) and the slow one (c = 200, 1000)."""
    fast, slow = QUICK_TIMINGS if quick else FULL_TIMINGS
    return [Suite("fast", (1, 16, 64), fast), Suite("slow", (200, 1000), slow)]


def run_suites(
    ctx: Context,
    groups: ProcessGroups,
    specs: list[ServerSpec],
    suites: list[Suite],
    upstreams: dict[str, Upstream],
    runs: int,
    raw_dir: Path,
) -> dict:
    """Measure every server at every point of every suite, `runs` times."""
    results = {"points": [], "rest": [], "commands": {}, "failures": []}
    for suite in suites:
        upstream = upstreams[suite.upstream]
        for rep in range(1, runs + 1):
            order = specs if rep % 2 else list(reversed(specs))
            for spec in order:
                try:
                    measure_server(
                        ctx, groups, spec, suite, upstream, rep, raw_dir, results
                    )
                except BenchError as exc:
                    # One server that fails must not cost the others' figures.
                    failure = (
                        f"{spec.name}, {suite.upstream} upstream, run {rep}: {exc}"
                    )
                    ctx.log(f"FAILED {failure}")
                    results["failures"].append(failure)

    return results


def measure_server(
    ctx: Context,
    groups: ProcessGroups,
    spec: ServerSpec,
    suite: Suite,
    upstream: Upstream,
    rep: int,
    raw_dir: Path,
    results: dict,
) -> None:
    ctx.log(f"[{suite.upstream} upstream, run {rep}] starting {spec.name}")
    instance = start_server(spec, ctx, groups, upstream)
    results["commands"].setdefault(spec.name, instance.command)
    try:
        where = {"server": spec.name, "suite": suite.upstream, "rep": rep}
        rest = {**where, "before": rest_memory(instance.tree_root)}

        for connections in suite.connections:
            prefix = raw_dir / f"{suite.upstream}-{spec.name}-c{connections}-run{rep}"
            point = measure_point(instance, upstream, connections, suite.timing, prefix)
            point.update(where)
            results["points"].append(point)
            ctx.log(describe_point(point, upstream))

        rest["after"] = rest_memory(instance.tree_root)
        results["rest"].append(rest)
    finally:
        if instance.process:
            groups.stop(instance.process)


def describe_point(point: dict, upstream: Upstream) -> str:
    latency = point["latency_ms"]
    text = (
        f"  {point['server']:>8} c={point['connections']:<5} "
        f"{point['ok_rps']:>9.1f} rps  p50 {latency['p50']:.1f} ms  "
        f"p99 {latency['p99']:.1f} ms  non-2xx {point['non_2xx']} "
        f"sock {point['socket_errors']} timeouts {point['timeouts']}  "
        f"cpu {point['cpu_ms_per_request']} ms/req  "
        f"rss {point['memory']['tree_rss_mb']} MB  other load "
        f"{point['other_cores']} cores"
    )
    if upstream.delay_s:
        ideal = point["connections"] / upstream.delay_s
        text += f"  {100 * point['ok_rps'] / ideal:.0f} % of ideal"
    if point["paused_s"]:
        text += f"  MACHINE FROZEN {point['paused_s']} s: rerun this point"
    return text


def run_soak(
    ctx: Context,
    groups: ProcessGroups,
    spec: ServerSpec,
    upstream: Upstream,
    connections: int,
    duration_s: int,
    interval_s: float,
    raw_dir: Path,
) -> dict:
    """Hold load on one server for duration_s, sampling memory every interval_s."""
    ctx.log(f"[soak] starting {spec.name} against the {upstream.name} upstream")
    instance = start_server(spec, ctx, groups, upstream)
    try:
        rest = rest_memory(instance.tree_root)
        load = LoadSpec(instance.url, instance.headers, connections, duration_s, 5)
        ctx.log(f"[soak] {duration_s}s at c={connections}, memory every {interval_s}s")
        cpu = procstat.tree_cpu_seconds([instance.tree_root])
        clocks = Clocks()
        with procstat.MemorySampler(instance.tree_root, interval_s) as sampler:
            raw, _wrk_cpu = run_wrk(load, raw_dir / f"soak-{spec.name}-c{connections}")
        wall = clocks.elapsed()
        cpu = procstat.tree_cpu_seconds([instance.tree_root]) - cpu
    finally:
        if instance.process:
            groups.stop(instance.process)

    point = summarize(raw, connections)
    point["cpu_ms_per_request"] = (
        round(cpu * 1000 / point["requests"], 3) if point["requests"] else None
    )
    point["server_cores"] = round(cpu / wall, 2)
    point["paused_s"] = clocks.paused()
    series = [soak_sample(t, sample) for t, sample in sampler.samples]
    return {
        "server": spec.name,
        "command": instance.command,
        "rest": rest,
        "load": point,
        "samples": series,
    }


def soak_sample(t: float, sample: procstat.TreeMemory) -> dict:
    workers = {
        str(w.pid): {"rss_mb": round(w.rss_mb, 1), "pss_mb": round(w.pss_mb, 1)}
        for w in sample.workers
    }
    return {
        "t": round(t, 1),
        "tree_rss_mb": round(sample.rss_mb, 1),
        "tree_pss_mb": round(sample.pss_mb, 1),
        "workers": workers,
    }
