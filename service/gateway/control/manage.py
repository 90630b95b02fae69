"""Managing budgets and team limits: what the admin API and the CLI call.

Each function takes the stores it works on, so the CLI (no running app) and the
admin API share them. Definitions change in the database; workers pick the change
up through ``definitions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from ..errors import NotFoundError
from ..keys import format_time, utc_now
from ..reports import logged_spend
from ..storage.sqlite import SQLiteStore
from .budgets import (
    EACH,
    SCOPE_COLUMNS,
    Budget,
    check_references,
    counter_expiry,
    delete_budget,
    find_budget,
    load_budgets,
    logged_since,
    new_budget,
    resets_at,
    save_budget,
    updated_budget,
)
from .money import to_nanos, to_usd
from .periods import period_start
from .ratelimits import RateLimits
from .store import ControlStore


def create_budget(
    store: SQLiteStore, routes: Mapping[str, Any], data: Mapping[str, Any]
) -> Budget:
    """Store a budget from validated input; 400 for a key or model that does not
    exist."""
    budget = new_budget(data)
    check_references(budget, store, routes)
    save_budget(store, budget)
    return budget


def update_budget(
    store: SQLiteStore,
    routes: Mapping[str, Any],
    budget_id: str,
    changes: Mapping[str, Any],
) -> Budget:
    budget = updated_budget(find_budget(store, budget_id), changes)
    check_references(budget, store, routes)
    save_budget(store, budget)
    return budget


def remove_budget(store: SQLiteStore, budget_id: str) -> Budget:
    budget = find_budget(store, budget_id)
    delete_budget(store, budget)
    return budget


def list_budgets(
    store: SQLiteStore, scope: str | None = None, subject: str | None = None
) -> list[Budget]:
    return [
        budget
        for budget in load_budgets(store)
        if (scope is None or budget.scope == scope)
        and (subject is None or budget.subject == subject)
    ]


def budget_usage(
    store: SQLiteStore,
    control_store: ControlStore,
    budget: Budget,
    now: datetime,
    subject: str | None = None,
) -> dict[str, Any] | None:
    """The budget's current period: spent, reserved by calls in flight, remaining
    and when it resets (USD). For a ``*`` budget, that of ``subject``; None when no
    subject is given."""
    subject = budget.subject if budget.subject != EACH else subject
    if subject is None:
        return None

    counter = budget.counter(subject, now)
    state = control_store.read_counters([counter])[0]
    if state is not None:
        spent, reserved = to_usd(state.spent), to_usd(state.reserved)
    else:
        since = logged_since(budget, now)
        column = SCOPE_COLUMNS.get(budget.scope)
        spent = logged_spend(
            store, column, subject, format_time(since) if since else None
        )
        reserved = 0.0
    start, ends = period_start(budget.period, now), resets_at(budget, now)
    return {
        "subject": subject or None,
        "period_start": format_time(start) if start else None,
        "resets_at": format_time(ends) if ends else None,
        "spent_usd": round(spent, 10),
        "reserved_usd": round(reserved, 10),
        "remaining_usd": round(max(0.0, budget.limit_usd - spent - reserved), 10),
    }


def open_current_period(
    store: SQLiteStore, control_store: ControlStore, budget: Budget, now: datetime
) -> None:
    """Open the budget's counter for the current period with the spend the request
    log holds for it, so calls already made this period count. (Calls of a new
    period open theirs on their own.) A ``*`` budget's counters open per subject."""
    if budget.subject == EACH:
        return

    since = logged_since(budget, now)
    column = SCOPE_COLUMNS.get(budget.scope)
    spent = logged_spend(
        store, column, budget.subject, format_time(since) if since else None
    )
    counter = budget.counter(budget.subject, now)
    control_store.open_counter(counter, to_nanos(spent), counter_expiry(budget, now))


def list_alerts(
    store: SQLiteStore, budget_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    return store.query(
        "SELECT * FROM budget_alerts WHERE budget_id = ? "
        "ORDER BY created_at DESC, id DESC LIMIT ?",
        (budget_id, limit),
    )


def set_team_limits(
    store: SQLiteStore, team: str, limits: RateLimits | None
) -> RateLimits | None:
    """Replace a team's limits; None (or all fields empty) removes them."""
    if limits is None:
        store.execute("DELETE FROM team_limits WHERE team = ?", (team,))
        return None

    store.execute(
        "INSERT INTO team_limits (team, limits, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (team) DO UPDATE SET limits = excluded.limits, "
        "updated_at = excluded.updated_at",
        (team, orjson.dumps(limits.to_public()).decode(), utc_now()),
    )
    return limits


def get_team_limits(store: SQLiteStore, team: str) -> RateLimits:
    rows = store.query("SELECT limits FROM team_limits WHERE team = ?", (team,))
    limits = RateLimits.from_mapping(orjson.loads(rows[0]["limits"])) if rows else None
    if limits is None:
        raise NotFoundError(
            f"team {team!r} has no limits", code="team_limits_not_found"
        )

    return limits


def list_team_limits(store: SQLiteStore) -> list[dict[str, Any]]:
    rows = store.query("SELECT team, limits, updated_at FROM team_limits ORDER BY team")
    return [
        {
            "team": row["team"],
            "limits": orjson.loads(row["limits"]),
            "updated_at": row["updated_at"],
        }
        for row in rows
    ]
