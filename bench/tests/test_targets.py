import pytest

from bench.harness import report, targets


def point(server, suite, c, rep, rps, p50=1.0, errors=(0, 0, 0), worker_rss=50.0):
    non_2xx, sock, timeouts = errors
    return {
        "server": server,
        "suite": suite,
        "connections": c,
        "rep": rep,
        "ok": int(rps * 10),
        "ok_rps": rps,
        "non_2xx": non_2xx,
        "socket_errors": sock,
        "timeouts": timeouts,
        "latency_ms": {"p50": p50, "p90": p50 * 2, "p99": p50 * 3},
        "cpu_ms_per_request": 1.0,
        "server_cores": 1.0,
        "upstream_cores": 0.1,
        "other_cores": 0.0,
        "overhead_ms": {"count": 0, "missing": 0},
        "memory": {
            "processes": 3,
            "workers": 2,
            "tree_rss_mb": 150.0,
            "tree_pss_mb": 100.0,
            "worker_rss_mb": worker_rss,
            "worker_pss_mb": worker_rss / 2,
        },
    }


def results_where(ours_rps=600.0, slow_errors=(0, 0, 0), ours_p50=2.0):
    points = []
    for rep in (1, 2):
        for c in (1, 16, 64):
            points.append(point("direct", "fast", c, rep, 30000.0, p50=0.1))
            points.append(point("ours", "fast", c, rep, ours_rps, p50=ours_p50))
            points.append(point("portkey", "fast", c, rep, 350.0, p50=3.0))
            points.append(point("litellm", "fast", c, rep, 35.0, p50=30.0))
        points.append(point("direct", "slow", 200, rep, 195.0))
        points.append(point("ours", "slow", 200, rep, 185.0, errors=slow_errors))
        points.append(point("ours", "slow", 1000, rep, 560.0))

    memory = points[0]["memory"]
    rest = [
        {"server": s, "suite": "fast", "rep": 1, "before": memory, "after": memory}
        for s in ("direct", "ours", "portkey", "litellm")
    ]
    return {"points": points, "rest": rest, "meta": {"slow_delay_s": 1.0}}


def by_target(verdicts):
    return {v.target: v for v in verdicts}


def test_every_target_passes_on_figures_that_meet_them():
    verdicts = targets.evaluate(results_where())

    measured = [v for v in verdicts if v.passed is not None]
    assert len(measured) == 9
    assert all(v.passed for v in measured)


def test_throughput_below_one_and_a_half_portkey_fails():
    verdicts = by_target(targets.evaluate(results_where(ours_rps=500.0)))

    assert verdicts["throughput at c=16 >= 1.5x portkey"].passed is False
    assert verdicts["throughput at c=16 >= 10x litellm"].passed is True


def test_a_timeout_per_repetition_at_200_fails_the_slow_target():
    verdicts = targets.evaluate(results_where(slow_errors=(0, 0, 1)))

    held = [v for v in verdicts if v.target.startswith("c=200")][0]
    assert held.passed is False
    assert "timeouts 2" in held.measured


def test_c1000_is_judged_against_own_max_and_against_what_the_upstream_allows():
    # Fast max 1,500 RPS: 80 % of it (1,200) is beyond the 1,000 calls a second
    # that 1,000 clients of a 1 s upstream can make; 850 is 85 % of that.
    results = results_where(ours_rps=1500.0)
    for p in results["points"]:
        if p["server"] == "ours" and p["connections"] == 1000:
            p["ok_rps"] = 850.0

    literal, reachable = targets.held_1000(results["points"], 1.0)

    assert literal.passed is False
    assert "57 % of 1500" in literal.measured
    assert reachable.passed is True
    assert "85 % of 1000" in reachable.measured


def test_added_latency_compares_with_portkey_over_the_direct_call():
    verdict = targets.added_latency(results_where(ours_p50=3.5)["points"])

    assert verdict.passed is False
    assert verdict.measured == "ours +3.40 ms, Portkey +2.90 ms"


def test_targets_without_their_servers_are_not_measured():
    results = results_where()
    results["points"] = [p for p in results["points"] if p["server"] != "portkey"]

    verdicts = by_target(targets.evaluate(results))

    assert verdicts["throughput at c=64 >= 1.5x portkey"].passed is None
    assert verdicts["throughput at c=64 >= 1.5x portkey"].label == "n/a"


@pytest.mark.parametrize(("slope", "passed"), [(0.4, True), (2.5, False)])
def test_soak_is_flat_below_one_megabyte_a_minute(slope, passed):
    summary = {
        "workers": [{"max_rss_mb": 120.0, "slope_mb_per_min": slope}],
        "restarted_workers": 0,
    }

    verdicts = targets.evaluate_soak(summary)

    assert verdicts[0].passed is True
    assert verdicts[1].passed is passed


def test_a_run_renders_every_table():
    results = results_where()
    results["meta"].update(
        title="Comparison",
        date="2026-12-03 17:00 UTC",
        command="bench/run compare",
        runs=2,
        machine={"CPU": "test"},
        versions={"wrk (load)": "4.1.0"},
        raw_dir="bench/out/x",
        wrk_command="wrk ...",
    )
    results["commands"] = {"ours": "make -s run"}

    text = report.render_run(results, targets.evaluate(results))

    assert "| ours | 16 | 600 / 600 | 0.0200 |" in text
    assert (
        "| 16 | 0.02x (0.02 / 0.02) | 1.71x (1.71 / 1.71) | 17.1x (17.1 / 17.1) |"
        in text
    )
    assert "| ours | 200 | 185 / 185 | 92 % / 92 % |" in text
    assert "**PASS**" in text
