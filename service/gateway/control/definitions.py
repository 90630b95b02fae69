"""Each worker's copy of the budget and team-limit definitions.

Reading the tables on every call would cost more than the rest of an unlimited
call's admission, so each worker keeps them in memory and checks, at most every
``CHECK_EVERY_S``, the version number that triggers on both tables raise on every
change (migration 3). A change made through this worker applies at once; one made
elsewhere (another worker, the CLI) within ``CHECK_EVERY_S``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import orjson

from ..storage.sqlite import SQLiteStore
from .budgets import Budget, BudgetIndex, index_budgets, load_budgets
from .ratelimits import RateLimits

CHECK_EVERY_S = 0.25


@dataclass(frozen=True, slots=True)
class Definitions:
    budgets: BudgetIndex = field(default_factory=dict)
    team_limits: dict[str, RateLimits] = field(default_factory=dict)
    version: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.budgets and not self.team_limits


class DefinitionCache:
    def __init__(self, store: SQLiteStore) -> None:
        self._store = store
        self._current = Definitions(version=-1)
        self._checked = float("-inf")

    def current(self) -> Definitions:
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return self._current

        self._checked = now
        version = self._version()
        if version != self._current.version:
            self._current = self._load(version)

        return self._current

    def invalidate(self) -> None:
        """Re-check on the next call (after this worker changed a definition)."""
        self._checked = float("-inf")

    def _version(self) -> int:
        rows = self._store.query(
            "SELECT value FROM control_meta WHERE name = 'definitions'"
        )
        return rows[0]["value"] if rows else 0

    def _load(self, version: int) -> Definitions:
        budgets: list[Budget] = load_budgets(self._store)
        team_limits = {}
        for row in self._store.query("SELECT team, limits FROM team_limits"):
            limits = RateLimits.from_mapping(orjson.loads(row["limits"]))
            if limits is not None:
                team_limits[row["team"]] = limits

        return Definitions(index_budgets(budgets), team_limits, version)
