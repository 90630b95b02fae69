"""Summaries of a memory soak: start, end, peak and slope of each worker's memory."""


def slope_per_minute(series: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) points, in MB per minute."""
    if len(series) < 2:
        return 0.0

    n = len(series)
    mean_t = sum(t for t, _ in series) / n
    mean_v = sum(v for _, v in series) / n
    spread = sum((t - mean_t) ** 2 for t, _ in series)
    if not spread:
        return 0.0

    covariance = sum((t - mean_t) * (v - mean_v) for t, v in series)
    return covariance / spread * 60


def summarize_soak(samples: list[dict], skip_s: float) -> dict:
    """Per-worker and whole-tree memory over a soak.

    The slope ignores the first skip_s seconds, while pools and caches fill. A worker
    first seen after the first sample replaced one that exited; each worker's slope
    covers its own life.
    """
    by_pid: dict[str, list[tuple[float, float, float]]] = {}
    for sample in samples:
        for pid, memory in sample["workers"].items():
            by_pid.setdefault(pid, []).append(
                (sample["t"], memory["rss_mb"], memory["pss_mb"])
            )

    first = set(samples[0]["workers"]) if samples else set()
    workers = []
    for pid, series in sorted(by_pid.items()):
        whole = [(t, rss) for t, rss, _ in series]
        settled = [(t, rss) for t, rss in whole if t >= skip_s] or whole
        workers.append(
            {
                "pid": pid,
                "samples": len(series),
                "seconds": [series[0][0], series[-1][0]],
                "start_rss_mb": series[0][1],
                "end_rss_mb": series[-1][1],
                "max_rss_mb": max(rss for _, rss, _ in series),
                "start_pss_mb": series[0][2],
                "end_pss_mb": series[-1][2],
                "max_pss_mb": max(pss for _, _, pss in series),
                "slope_mb_per_min": round(slope_per_minute(settled), 3),
            }
        )

    tree_series = [(s["t"], s["tree_rss_mb"]) for s in samples if s["t"] >= skip_s]
    tree_rss = [s["tree_rss_mb"] for s in samples] or [0.0]
    tree_pss = [s["tree_pss_mb"] for s in samples] or [0.0]
    return {
        "workers": workers,
        "restarted_workers": len(set(by_pid) - first),
        "tree": {
            "start_rss_mb": tree_rss[0],
            "end_rss_mb": tree_rss[-1],
            "max_rss_mb": max(tree_rss),
            "start_pss_mb": tree_pss[0],
            "end_pss_mb": tree_pss[-1],
            "max_pss_mb": max(tree_pss),
            "slope_mb_per_min": round(slope_per_minute(tree_series), 3),
        },
    }
