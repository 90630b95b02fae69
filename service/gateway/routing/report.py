"""The routing report: what retries, fallbacks and cooldowns did over a period.

This is the report that replaces the retry logic scattered across workflows: per
provider and per target, how many attempts were made and how they failed, how long
calls waited between attempts, how often a target was skipped or cooled down, and the
share of failures the gateway absorbed (the client got an answer anyway).
"""

from __future__ import annotations

from typing import Any

_PERIOD = "a.created_at >= :since AND a.created_at < :until"

_TARGETS = f"""
SELECT a.provider, a.target,
       sum(a.outcome != 'skipped') AS attempts,
       sum(a.outcome = 'success') AS successes,
       sum(a.outcome IN ('failed', 'retried', 'fell_back')) AS failures,
       sum(a.kind = 'retry' AND a.outcome != 'skipped') AS retries,
       sum(a.kind = 'fallback' AND a.outcome != 'skipped') AS fallback_attempts,
       sum(a.outcome = 'fell_back') AS fell_back_from,
       sum(a.outcome = 'skipped') AS skipped,
       round(coalesce(sum(a.wait_ms), 0), 3) AS wait_ms,
       round(avg(CASE WHEN a.outcome = 'success' THEN a.latency_ms END), 3)
           AS mean_success_latency_ms
FROM attempts a WHERE {_PERIOD}
GROUP BY a.provider, a.target ORDER BY a.provider, a.target
"""

_ERRORS = f"""
SELECT a.target, a.error_type, count(*) AS count FROM attempts a
WHERE {_PERIOD} AND a.error_type IS NOT NULL
GROUP BY a.target, a.error_type
"""

_COOLDOWNS = """
SELECT target, event, count(*) AS count FROM breaker_events
WHERE created_at >= :since AND created_at < :until GROUP BY target, event
"""

# Requests that saw at least one failed attempt, and how they ended.
_ABSORBED = """
SELECT count(*) AS requests_with_failures,
       coalesce(sum(r.status < 400), 0) AS absorbed
FROM requests r
WHERE r.created_at >= :since AND r.created_at < :until AND EXISTS (
    SELECT 1 FROM attempts a WHERE a.request_id = r.id
    AND a.outcome IN ('failed', 'retried', 'fell_back', 'skipped'))
"""


def routing_report(store: Any, since: str, until: str) -> dict[str, Any]:
    """Per provider and target over [since, until) (ISO 8601 UTC strings)."""
    period = {"since": since, "until": until}
    targets = store.query(_TARGETS, period)
    errors = store.query(_ERRORS, period)
    cooldowns = store.query(_COOLDOWNS, period)
    absorbed = store.query(_ABSORBED, period)[0]

    for row in targets:
        row["errors"] = {
            e["error_type"]: e["count"] for e in errors if e["target"] == row["target"]
        }
        row["cooldowns"] = {
            c["event"]: c["count"] for c in cooldowns if c["target"] == row["target"]
        }
        row["error_rate"] = (
            round(row["failures"] / row["attempts"], 4) if row["attempts"] else 0.0
        )

    with_failures = absorbed["requests_with_failures"]
    return {
        "object": "routing_report",
        "since": since,
        "until": until,
        "providers": _by_provider(targets),
        "targets": targets,
        "requests_with_failures": with_failures,
        "failures_absorbed": absorbed["absorbed"],
        "absorbed_share": round(absorbed["absorbed"] / with_failures, 4)
        if with_failures
        else None,
    }


def _by_provider(targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    totals: dict[str, dict[str, Any]] = {}
    summed = (
        "attempts",
        "successes",
        "failures",
        "retries",
        "fallback_attempts",
        "fell_back_from",
        "skipped",
        "wait_ms",
    )
    for row in targets:
        total = totals.setdefault(
            row["provider"], {"provider": row["provider"], "errors": {}}
        )
        for name in summed:
            total[name] = round(total.get(name, 0) + (row[name] or 0), 3)
        for error_type, count in row["errors"].items():
            total["errors"][error_type] = total["errors"].get(error_type, 0) + count

    for total in totals.values():
        attempts = total["attempts"]
        total["error_rate"] = (
            round(total["failures"] / attempts, 4) if attempts else 0.0
        )

    return list(totals.values())
