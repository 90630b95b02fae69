"""Each app's cost-control state, built by ``init_control`` in the app factory."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..storage.sqlite import SQLiteStore
from ..storage.writer import RecordWriter
from .alerts import AlertSender
from .budgets import Budget, sync_config_budgets
from .definitions import DefinitionCache
from .ratelimits import MinuteLimiter
from .store import ControlStore, open_control_store

# Alert claims this worker has already made or seen taken, so a crossed threshold
# costs one store round trip per worker, not one per call. Cleared past this size.
_SEEN_ALERTS_MAX = 10_000


@dataclass(slots=True)
class Control:
    store: ControlStore
    definitions: DefinitionCache
    limiter: MinuteLimiter
    alerts: AlertSender
    seen_alerts: set[str] = field(default_factory=set)

    def remember_alert(self, claim: str) -> bool:
        """True the first time this worker sees ``claim``."""
        if claim in self.seen_alerts:
            return False
        if len(self.seen_alerts) >= _SEEN_ALERTS_MAX:
            self.seen_alerts.clear()
        self.seen_alerts.add(claim)
        return True

    def close(self) -> None:
        self.alerts.close()
        self.store.close()


def init_control(
    database: str,
    redis_url: str | None,
    redis_prefix: str,
    store: SQLiteStore,
    writer: RecordWriter,
    config_budgets: tuple[Budget, ...],
) -> Control:
    """Open the control store (Redis when ``redis_url`` is set), copy the config
    file's budgets into the database and start the alert thread."""
    sync_config_budgets(store, config_budgets)
    control_store = open_control_store(database, redis_url, redis_prefix)
    alerts = AlertSender(writer)
    alerts.start()
    return Control(
        store=control_store,
        definitions=DefinitionCache(store),
        limiter=MinuteLimiter(control_store.limiter_storage),
        alerts=alerts,
    )
