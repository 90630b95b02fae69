"""Budgets: USD limits per key, team, workflow, model alias or the whole gateway,
per calendar period (``periods``) or in total.

A budget's ``subject`` names what it limits (a key id, a team, a workflow id, a model
alias; empty for ``global``), or is ``*``: then each key (team, ...) gets the limit
separately, unless it has a budget of its own of the same scope and period. Budgets
live in the ``budgets`` table; those declared in the config file are copied there at
start (``source = config``) and can only be changed in the file.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson

from ..errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from ..keys import utc_now
from ..storage.sqlite import SQLiteStore
from .money import to_limit_nanos
from .periods import period_end, period_label, period_start

SCOPES = ("key", "team", "workflow", "model", "global")
EACH = "*"
_GLOBAL = ("global", "")
# The request-log column each scope's spend is found by (for backfilling counters).
SCOPE_COLUMNS = {
    "key": "key_id",
    "team": "team",
    "workflow": "workflow_id",
    "model": "model_requested",
}
_ID_ALPHABET = string.ascii_lowercase + string.digits
_EDITABLE = (
    "name",
    "period",
    "limit_usd",
    "alert_thresholds",
    "webhook_url",
    "downgrade_to",
    "downgrade_at",
)


@dataclass(frozen=True, slots=True)
class Budget:
    id: str
    name: str | None
    scope: str
    subject: str
    period: str
    limit_usd: float
    alert_thresholds: tuple[float, ...] = ()
    webhook_url: str | None = None
    downgrade_to: str | None = None
    downgrade_at: float | None = None
    source: str = "api"
    created_at: str = ""
    updated_at: str = ""

    @property
    def limit_nanos(self) -> int:
        return to_limit_nanos(self.limit_usd)

    def ceiling_nanos(self, on_asked_route: bool) -> int:
        """The most spend plus reservations may reach: the limit, or, while the call
        still goes to the route it asked for, the downgrade threshold."""
        if on_asked_route and self.downgrade_to and self.downgrade_at is not None:
            return to_limit_nanos(self.limit_usd * self.downgrade_at / 100)

        return self.limit_nanos

    def counter(self, subject: str, now: datetime) -> str:
        return f"budget:{self.id}:{subject}:{period_label(self.period, now)}"

    def to_public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "budget",
            "name": self.name,
            "scope": self.scope,
            "subject": self.subject if self.scope != "global" else None,
            "period": self.period,
            "limit_usd": self.limit_usd,
            "alert_thresholds": list(self.alert_thresholds),
            "webhook_url": self.webhook_url,
            "downgrade_to": self.downgrade_to,
            "downgrade_at": self.downgrade_at,
            "source": self.source,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class AppliedBudget:
    """A budget as it applies to one call: which subject's counter it charges."""

    budget: Budget
    subject: str


BudgetIndex = Mapping[tuple[str, str], tuple[Budget, ...]]


def index_budgets(
    budgets: Iterable[Budget],
) -> dict[tuple[str, str], tuple[Budget, ...]]:
    index: dict[tuple[str, str], list[Budget]] = {}
    for budget in budgets:
        index.setdefault((budget.scope, budget.subject), []).append(budget)

    return {place: tuple(found) for place, found in index.items()}


def applicable_budgets(
    index: BudgetIndex, subjects: Mapping[str, str | None]
) -> list[AppliedBudget]:
    """Every budget a call with these subjects (scope -> subject) is charged to."""
    applied = [AppliedBudget(budget, "") for budget in index.get(_GLOBAL, ())]
    for scope, subject in subjects.items():
        own = index.get((scope, subject)) if subject else None
        each = index.get((scope, EACH)) if subject else None
        if own is None and each is None:
            continue
        for budget in own or ():
            applied.append(AppliedBudget(budget, subject))
        periods = {budget.period for budget in own or ()}
        for budget in each or ():
            if budget.period not in periods:
                applied.append(AppliedBudget(budget, subject))

    return applied


def resets_at(budget: Budget, now: datetime) -> datetime | None:
    return period_end(budget.period, now)


def counter_expiry(budget: Budget, now: datetime) -> float | None:
    """When a period's counter may be dropped: 35 days after the period ends."""
    end = period_end(budget.period, now)
    return None if end is None else end.timestamp() + 35 * 86400


def logged_since(budget: Budget, now: datetime) -> datetime | None:
    """Start of the spend a new counter is backfilled with from the request log."""
    return period_start(budget.period, now)


def budget_from_row(row: Mapping[str, Any]) -> Budget:
    return Budget(
        id=row["id"],
        name=row["name"],
        scope=row["scope"],
        subject=row["subject"],
        period=row["period"],
        limit_usd=row["limit_usd"],
        alert_thresholds=tuple(orjson.loads(row["alert_thresholds"] or "[]")),
        webhook_url=row["webhook_url"],
        downgrade_to=row["downgrade_to"],
        downgrade_at=row["downgrade_at"],
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def budget_row(budget: Budget) -> dict[str, Any]:
    return {
        "id": budget.id,
        "name": budget.name,
        "scope": budget.scope,
        "subject": budget.subject,
        "period": budget.period,
        "limit_usd": budget.limit_usd,
        "alert_thresholds": orjson.dumps(list(budget.alert_thresholds)).decode(),
        "webhook_url": budget.webhook_url,
        "downgrade_to": budget.downgrade_to,
        "downgrade_at": budget.downgrade_at,
        "source": budget.source,
        "created_at": budget.created_at,
        "updated_at": budget.updated_at,
    }


def load_budgets(store: SQLiteStore) -> list[Budget]:
    rows = store.query("SELECT * FROM budgets ORDER BY created_at, id")
    return [budget_from_row(row) for row in rows]


def find_budget(store: SQLiteStore, budget_id: str) -> Budget:
    rows = store.query("SELECT * FROM budgets WHERE id = ?", (budget_id,))
    if not rows:
        raise NotFoundError(f"no budget with id {budget_id!r}", code="budget_not_found")

    return budget_from_row(rows[0])


def new_budget(
    data: Mapping[str, Any], source: str = "api", budget_id: str | None = None
) -> Budget:
    """A budget from validated input (``BudgetCreateSchema`` or the config file)."""
    now = utc_now()
    scope = data["scope"]
    return Budget(
        id=budget_id
        or "bud_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(12)),
        name=data.get("name"),
        scope=scope,
        subject="" if scope == "global" else data["subject"],
        period=data.get("period", "month"),
        limit_usd=float(data["limit_usd"]),
        alert_thresholds=_thresholds(data.get("alert_thresholds")),
        webhook_url=data.get("webhook_url"),
        downgrade_to=data.get("downgrade_to"),
        downgrade_at=_downgrade_at(data),
        source=source,
        created_at=now,
        updated_at=now,
    )


def updated_budget(budget: Budget, changes: Mapping[str, Any]) -> Budget:
    """``budget`` with the validated ``changes`` (``BudgetUpdateSchema``) applied."""
    if budget.source == "config":
        raise PermissionDeniedError(
            f"budget {budget.id!r} is defined in the config file; change it there",
            code="budget_from_config",
        )

    values = {name: changes[name] for name in _EDITABLE if name in changes}
    if "alert_thresholds" in values:
        values["alert_thresholds"] = _thresholds(values["alert_thresholds"])
    merged = replace(budget, **values, updated_at=utc_now())
    if merged.downgrade_to and merged.downgrade_at is None:
        merged = replace(merged, downgrade_at=_downgrade_at({"downgrade_to": True}))
    if not merged.downgrade_to:
        merged = replace(merged, downgrade_at=None)

    return merged


def check_references(
    budget: Budget, store: SQLiteStore, routes: Mapping[str, Any]
) -> None:
    """400 naming the field when the budget names a key or model that does not exist."""
    if budget.subject != EACH:
        if budget.scope == "key" and store.get_key(budget.subject) is None:
            raise InvalidRequestError(
                f"subject: no key with id {budget.subject!r}",
                param="subject",
                code="key_not_found",
            )
        if budget.scope == "model" and budget.subject not in routes:
            raise InvalidRequestError(
                f"subject: no model {budget.subject!r} on this gateway",
                param="subject",
                code="model_not_found",
            )
    if budget.downgrade_to and budget.downgrade_to not in routes:
        raise InvalidRequestError(
            f"downgrade_to: no model {budget.downgrade_to!r} on this gateway",
            param="downgrade_to",
            code="model_not_found",
        )


def save_budget(store: SQLiteStore, budget: Budget) -> None:
    row = budget_row(budget)
    columns = ", ".join(row)
    marks = ", ".join(f":{name}" for name in row)
    store.execute(f"INSERT OR REPLACE INTO budgets ({columns}) VALUES ({marks})", row)


def delete_budget(store: SQLiteStore, budget: Budget) -> None:
    if budget.source == "config":
        raise PermissionDeniedError(
            f"budget {budget.id!r} is defined in the config file; remove it there",
            code="budget_from_config",
        )
    store.execute("DELETE FROM budgets WHERE id = ?", (budget.id,))


def sync_config_budgets(store: SQLiteStore, declared: Iterable[Budget]) -> None:
    """Make the config-file budgets in the table match ``declared``.

    Rows are rewritten only when they differ, so starting several workers does not
    make every worker reload its definitions.
    """
    stored = {
        budget.id: budget for budget in load_budgets(store) if budget.source == "config"
    }
    wanted = {budget.id: budget for budget in declared}
    for budget_id, budget in wanted.items():
        current = stored.get(budget_id)
        if current is None or not _same_definition(current, budget):
            kept = replace(budget, created_at=current.created_at) if current else budget
            save_budget(store, kept)
    for budget_id in stored.keys() - wanted.keys():
        store.execute("DELETE FROM budgets WHERE id = ?", (budget_id,))


def config_budget_id(name: str) -> str:
    return f"cfg_{name}"


def _same_definition(one: Budget, other: Budget) -> bool:
    ignored = {"created_at": "", "updated_at": ""}
    return replace(one, **ignored) == replace(other, **ignored)


def _thresholds(values: Iterable[float] | None) -> tuple[float, ...]:
    return tuple(sorted({float(value) for value in values or ()}))


def _downgrade_at(data: Mapping[str, Any]) -> float | None:
    if not data.get("downgrade_to"):
        return None

    # Without a threshold, downgrade only when the asked-for route no longer fits.
    value = data.get("downgrade_at")
    return 100.0 if value is None else float(value)
