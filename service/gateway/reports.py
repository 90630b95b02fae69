"""Spend reports: sums of the request log over a period, grouped as asked."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .keys import format_time
from .storage.sqlite import SQLiteStore

REPORT_COLUMNS = (
    "requests", "cost_usd", "prompt_tokens", "completion_tokens", "cached_tokens",
    "errors",
)
FILTER_NAMES = (
    "key_id", "team", "model", "provider", "workflow_id", "execution_id", "user",
    "tag", "endpoint",
)


def period_start(period: str, now: datetime) -> datetime | None:
    """Start of the calendar period (UTC) containing ``now``; None for ``total``."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)

    return None


def period_end(period: str, now: datetime) -> datetime | None:
    """End (exclusive) of the calendar period containing ``now``."""
    start = period_start(period, now)
    if start is None:
        return None
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)

    return start.replace(month=start.month + 1)


def spend_report(store: SQLiteStore, query: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Totals and groups for ``query`` (a loaded SpendQuerySchema)."""
    since, until = query.get("since"), query.get("until")
    if query.get("period"):
        since = period_start(query["period"], now)
        until = None
    filters = {name: query.get(name) for name in FILTER_NAMES}
    filters["since"] = format_time(since) if since else None
    filters["until"] = format_time(until) if until else None

    group_by = list(query.get("group_by") or [])
    total = store.sum_spend([], filters)[0]
    groups = store.sum_spend(group_by, filters) if group_by else []
    return {
        "object": "spend_report",
        "since": filters["since"],
        "until": filters["until"],
        "period": query.get("period"),
        "group_by": group_by,
        "total": _rounded(total),
        "groups": [_rounded(group) for group in groups],
    }


def _rounded(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["cost_usd"] = round(row["cost_usd"], 10)
    return row
