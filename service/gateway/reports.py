"""Spend reports: sums of the request log over a period, grouped as asked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .control.periods import period_start
from .keys import format_time
from .storage.sqlite import SQLiteStore

REPORT_COLUMNS = (
    "requests",
    "cost_usd",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "errors",
)
FILTER_NAMES = (
    "key_id",
    "team",
    "model",
    "provider",
    "workflow_id",
    "execution_id",
    "user",
    "tag",
    "endpoint",
)


def spend_report(
    store: SQLiteStore, query: dict[str, Any], now: datetime
) -> dict[str, Any]:
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


def logged_spend(
    store: SQLiteStore, column: str | None, value: str, since: str | None
) -> float:
    """USD the request log holds since ``since`` (all time when None), for the rows
    whose ``column`` is ``value`` (every row when ``column`` is None)."""
    conditions, params = [], []
    if column is not None:
        conditions.append(f"{column} = ?")
        params.append(value)
    if since is not None:
        conditions.append("created_at >= ?")
        params.append(since)

    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    sql = f"SELECT coalesce(sum(cost_usd), 0) AS spent FROM requests {where}"
    rows = store.query(sql, tuple(params))
    return rows[0]["spent"]
