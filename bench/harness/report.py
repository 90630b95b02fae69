"""Markdown tables from one run's results.

Every cell that was measured more than once shows each repetition, "run 1 / run 2",
so the spread is visible next to the figure.
"""

from .targets import Verdict, mean, select, slow_share


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def per_run(points: list[dict], pick) -> str:
    return " / ".join(number(pick(p)) for p in points) or "-"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def servers_in(results: dict) -> list[str]:
    seen = []
    for point in results["points"]:
        if point["server"] not in seen:
            seen.append(point["server"])

    return seen


def concurrencies(results: dict, suite: str) -> list[int]:
    return sorted({p["connections"] for p in results["points"] if p["suite"] == suite})


def errors_cell(points: list[dict]) -> str:
    return " ; ".join(
        f"{p['non_2xx']}/{p['socket_errors']}/{p['timeouts']}" for p in points
    )


def memory_cell(points: list[dict], rss: str, pss: str) -> str:
    return " / ".join(
        f"{p['memory'][rss]:.0f} ({p['memory'][pss]:.0f})" for p in points
    )


SHARED_HEADER = [
    "p50 ms", "p90 ms", "p99 ms", "non-2xx/sock/timeout", "CPU ms/req",
    "server cores", "other load (cores)", "tree RSS MB (PSS)", "worker RSS MB (PSS)",
]  # fmt: skip


def shared_cells(points: list[dict]) -> list[str]:
    return [
        per_run(points, lambda p: p["latency_ms"]["p50"]),
        per_run(points, lambda p: p["latency_ms"]["p90"]),
        per_run(points, lambda p: p["latency_ms"]["p99"]),
        errors_cell(points),
        per_run(points, lambda p: p["cpu_ms_per_request"]),
        per_run(points, lambda p: p["server_cores"]),
        per_run(points, lambda p: p["other_cores"]),
        memory_cell(points, "tree_rss_mb", "tree_pss_mb"),
        memory_cell(points, "worker_rss_mb", "worker_pss_mb"),
    ]


def fast_table(results: dict) -> list[str]:
    rows = []
    for server in servers_in(results):
        for c in concurrencies(results, "fast"):
            points = select(results["points"], server, "fast", c)
            if not points:
                continue
            direct = select(results["points"], "direct", "fast", c)
            base = mean([p["ok_rps"] for p in direct])
            share = mean([p["ok_rps"] for p in points]) / base if base else None
            rps = per_run(points, lambda p: p["ok_rps"])
            ratio = f"{share:.4f}" if share is not None else "-"
            rows.append([server, str(c), rps, ratio, *shared_cells(points)])

    header = ["server", "c", "RPS (2xx/s)", "x direct", *SHARED_HEADER]
    return table(header, rows)


def ratio_table(results: dict) -> list[str]:
    """Our throughput over each other server's, per c, from this run's figures."""
    others = [s for s in servers_in(results) if s != "ours"]
    if "ours" not in servers_in(results) or not others:
        return []

    rows = []
    for c in concurrencies(results, "fast"):
        ours = select(results["points"], "ours", "fast", c)
        row = [str(c)]
        for other in others:
            theirs = select(results["points"], other, "fast", c)
            runs = [
                a["ok_rps"] / max(b["ok_rps"], 0.1)
                for a, b in zip(ours, theirs, strict=False)
            ]
            overall = mean([p["ok_rps"] for p in ours]) / max(
                mean([p["ok_rps"] for p in theirs]), 0.1
            )
            row.append(f"{overall:.3g}x ({' / '.join(f'{r:.3g}' for r in runs)})")
        rows.append(row)

    header = ["c", *[f"ours / {other}" for other in others]]
    return table(header, rows)


def added_latency_lines(results: dict) -> list[str]:
    direct = select(results["points"], "direct", "fast", 1)
    if not direct:
        return []

    base = mean([p["latency_ms"]["p50"] for p in direct])
    parts = []
    for server in servers_in(results):
        points = select(results["points"], server, "fast", 1)
        if server == "direct" or not points:
            continue
        added = per_run(points, lambda p: p["latency_ms"]["p50"] - base)
        overall = mean([p["latency_ms"]["p50"] for p in points]) - base
        parts.append(f"{server} +{number(overall)} ms ({added})")

    intro = f"Added p50 latency at c=1 over the direct call ({number(base)} ms): "
    return [intro + "; ".join(parts) + "."]


def slow_table(results: dict) -> list[str]:
    delay = results["meta"]["slow_delay_s"]
    rows = []
    for server in servers_in(results):
        for c in concurrencies(results, "slow"):
            points = select(results["points"], server, "slow", c)
            if not points:
                continue
            rps = per_run(points, lambda p: p["ok_rps"])
            share = " / ".join(f"{100 * slow_share([p], delay):.0f} %" for p in points)
            rows.append([server, str(c), rps, share, *shared_cells(points)])

    header = ["server", "c", "RPS (2xx/s)", "% of ideal", *SHARED_HEADER]
    return table(header, rows)


def memory_pairs(samples: list[dict], rss: str, pss: str) -> str:
    return " / ".join(f"{m[rss]:.0f} ({m[pss]:.0f})" for m in samples)


def memory_table(results: dict) -> list[str]:
    """At rest: one value per start of the server, in order (fast suite first)."""
    header = [
        "server", "processes (workers)", "at rest: tree RSS (PSS)",
        "at rest: worker RSS (PSS)", "under load, peak: tree RSS (PSS)",
        "under load, peak: worker RSS (PSS)", "after load: tree RSS (PSS)",
    ]  # fmt: skip
    rows = []
    for server in servers_in(results):
        rest = [r for r in results["rest"] if r["server"] == server]
        loaded = [p["memory"] for p in results["points"] if p["server"] == server]
        if not rest or not loaded:
            continue

        before = [r["before"] for r in rest]
        after = [r["after"] for r in rest if "after" in r]
        peak_tree = max(loaded, key=lambda m: m["tree_rss_mb"])
        peak_worker = max(loaded, key=lambda m: m["worker_rss_mb"])
        rows.append([
            server,
            f"{before[0]['processes']} ({before[0]['workers']})",
            memory_pairs(before, "tree_rss_mb", "tree_pss_mb"),
            memory_pairs(before, "worker_rss_mb", "worker_pss_mb"),
            memory_pairs([peak_tree], "tree_rss_mb", "tree_pss_mb"),
            memory_pairs([peak_worker], "worker_rss_mb", "worker_pss_mb"),
            memory_pairs(after, "tree_rss_mb", "tree_pss_mb"),
        ])  # fmt: skip

    return table(header, rows)


def overhead_table(results: dict) -> list[str]:
    rows = []
    for point_set in _overhead_points(results):
        first = point_set[0]
        rows.append([
            first["server"], first["suite"], str(first["connections"]),
            per_run(point_set, lambda p: p["overhead_ms"].get("p50")),
            per_run(point_set, lambda p: p["overhead_ms"].get("p90")),
            per_run(point_set, lambda p: p["overhead_ms"].get("p99")),
            per_run(point_set, lambda p: p["overhead_ms"].get("max")),
            " / ".join(str(p["overhead_ms"]["missing"]) for p in point_set),
        ])  # fmt: skip

    header = ["server", "upstream", "c", "p50 ms", "p90 ms", "p99 ms", "max ms"]
    return table([*header, "responses without it"], rows) if rows else []


def _overhead_points(results: dict) -> list[list[dict]]:
    sets = []
    for server in servers_in(results):
        for suite in ("fast", "slow"):
            for c in concurrencies(results, suite):
                points = select(results["points"], server, suite, c)
                if any(p["overhead_ms"]["count"] for p in points):
                    sets.append(points)

    return sets


def verdict_table(verdicts: list[Verdict]) -> list[str]:
    rows = [[v.target, v.measured, f"**{v.label}**"] for v in verdicts]
    return table(["target", "measured", "verdict"], rows)


def facts_table(meta: dict) -> list[str]:
    rows = [[k, str(v)] for k, v in {**meta["machine"], **meta["versions"]}.items()]
    return table(["component", "value"], rows)


def command_lines(meta: dict, commands: dict[str, str]) -> list[str]:
    lines = [f"- run: `{meta['command']}` (raw output in `{meta['raw_dir']}`)"]
    lines += [f"- {name}: `{command}`" for name, command in commands.items()]
    lines.append(f"- load: `{meta['wrk_command']}`")
    return lines


def frozen_lines(points: list[dict]) -> list[str]:
    """Warn about points during which the machine was frozen."""
    frozen = [
        f"{p['server']} {p['suite']} c={p['connections']} run {p['rep']} "
        f"({p['paused_s']:g} s)"
        for p in points
        if p.get("paused_s")
    ]
    if not frozen:
        return []

    return [
        "**The machine was frozen during these points** (the wall clock ran ahead of "
        "the monotonic clock, so wrk saw every request in flight as slow): "
        + "; ".join(frozen)
        + ". Their latencies and timeouts are not the servers'; rerun.",
        "",
    ]


def upstream_lines(results: dict, suite: str) -> list[str]:
    """How busy the upstream got behind the servers: it must never be the limit."""
    proxied = [
        p for p in results["points"] if p["suite"] == suite and p["server"] != "direct"
    ]
    if not proxied:
        return []

    busiest = max(proxied, key=lambda p: p["upstream_cores"])
    return [
        f"The upstream used at most {busiest['upstream_cores']:.2f} cores while serving"
        f" a server ({busiest['server']}, c={busiest['connections']}).",
        "",
    ]


def failure_lines(failures: list[str]) -> list[str]:
    if not failures:
        return []

    first_lines = [f"- {failure.splitlines()[0]}" for failure in failures]
    return [
        "**These servers failed, and their figures are missing:**",
        *first_lines,
        "",
    ]


def render_run(results: dict, verdicts: list[Verdict]) -> str:
    """The generated section for a `compare` or `ours` run."""
    meta = results["meta"]
    delay = meta["slow_delay_s"]
    lines = [
        f"## {meta['title']}: {meta['date']}",
        "",
        f"Generated by `{meta['command']}`. Every figure comes from this one run;"
        f" a cell lists its {meta['runs']} repetitions in order (run 1 / run 2 ...),"
        " and memory at rest one value per start of the server.",
        "",
        "### Targets",
        "",
        *verdict_table(verdicts),
        "",
        *frozen_lines(results["points"]),
        *failure_lines(results.get("failures", [])),
        "### Fast upstream (nginx, answers at once)",
        "",
        *fast_table(results),
        "",
        *added_latency_lines(results),
        "",
        *upstream_lines(results, "fast"),
        "Throughput ratios from this run (of the means; each repetition in brackets):",
        "",
        *ratio_table(results),
        "",
        f"### Slow upstream (answers after {delay:g} s); ideal RPS = c / {delay:g} s",
        "",
        *slow_table(results),
        "",
        *upstream_lines(results, "slow"),
        "### Memory (MB)",
        "",
        *memory_table(results),
        "",
        "### Overhead reported by the gateway (`x-gateway-overhead-ms`)",
        "",
        *(overhead_table(results) or ["No response carried the header."]),
        "",
        "### Machine and versions",
        "",
        *facts_table(meta),
        "",
        "### Commands",
        "",
        *command_lines(meta, results["commands"]),
        "",
        NOTES,
    ]
    return "\n".join(lines) + "\n"


NOTES = """\
How to read these tables: RPS counts 2xx responses per second of wrk's run. Errors
are non-2xx responses / socket errors (connect, read, write) / timeouts, where wrk
counts a timeout when a response arrives later than `--timeout`; requests still
unanswered when the run ends are in neither. CPU ms/req is the server tree's user +
system CPU during the run over the responses it completed. "other load" is the CPU
busy on the machine beyond the server, the upstream and wrk: when it is above a few
tenths of a core, the row was measured on a busy machine. Tree RSS counts pages
shared by forked workers once per process; PSS splits them. "worker" is the largest
leaf process of the tree (the only process for single-process servers)."""
