import pytest

from bench.harness.soak import slope_per_minute, summarize_soak


def sample(t, workers, tree):
    return {
        "t": t,
        "tree_rss_mb": tree,
        "tree_pss_mb": tree / 2,
        "workers": {pid: {"rss_mb": v, "pss_mb": v / 2} for pid, v in workers.items()},
    }


def test_slope_is_megabytes_per_minute():
    series = [(0, 100.0), (30, 101.0), (60, 102.0)]

    assert slope_per_minute(series) == pytest.approx(2.0)


def test_slope_of_a_single_point_is_flat():
    assert slope_per_minute([(5, 80.0)]) == 0.0


def test_summary_skips_warmup_and_counts_replaced_workers():
    samples = [
        sample(0, {"11": 50, "12": 50}, 120),
        sample(60, {"11": 90, "12": 60}, 170),
        sample(120, {"11": 90, "13": 40}, 150),
        sample(180, {"11": 90, "13": 40}, 150),
    ]

    summary = summarize_soak(samples, skip_s=60)

    by_pid = {w["pid"]: w for w in summary["workers"]}
    assert by_pid["11"]["slope_mb_per_min"] == 0.0
    assert by_pid["11"]["start_rss_mb"] == 50
    assert by_pid["11"]["max_rss_mb"] == 90
    assert by_pid["13"]["seconds"] == [120, 180]
    assert summary["restarted_workers"] == 1
    assert summary["tree"]["max_rss_mb"] == 170
