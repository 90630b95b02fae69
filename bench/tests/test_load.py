from bench.harness.load import overhead_percentiles, summarize


def test_overhead_percentiles_use_nearest_rank_in_hundredths_of_ms():
    histogram = {10: 50, 20: 40, 150: 9, 1000: 1}

    found = overhead_percentiles(histogram, missing=3)

    assert found == {
        "count": 100,
        "missing": 3,
        "p50": 0.10,
        "p90": 0.20,
        "p99": 1.50,
        "max": 10.0,
    }


def test_overhead_percentiles_of_no_header_have_only_counts():
    assert overhead_percentiles({}, missing=7) == {"count": 0, "missing": 7}


def test_summarize_counts_only_2xx_as_throughput():
    raw = {
        "duration_us": 2_000_000,
        "requests": 100,
        "bytes": 1,
        "errors": {"connect": 1, "read": 2, "write": 0, "status": 10, "timeout": 4},
        "latency_us": {
            "min": 100,
            "max": 9000,
            "mean": 1.0,
            "stdev": 1.0,
            "percentiles": {
                "50": 1000,
                "75": 2000,
                "90": 3000,
                "99": 8000,
                "99.9": 9000,
            },
        },
        "statuses": {"200": 90, "502": 10},
        "overhead_centims": {"25": 90},
        "overhead_missing": 10,
    }

    point = summarize(raw, connections=16)

    assert point["rps"] == 50.0
    assert point["ok_rps"] == 45.0
    assert point["non_2xx"] == 10
    assert point["socket_errors"] == 3
    assert point["timeouts"] == 4
    assert point["latency_ms"]["p99"] == 8.0
    assert point["overhead_ms"]["p50"] == 0.25
