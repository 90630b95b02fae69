"""The control store's one narrow interface, and the choice between its two backends.

The store keeps counters that every worker shares: per budget and period the spend
and the sum reserved by calls in flight; per key or team the calls in flight. A
reservation is a lease held by one request on one counter, with an expiry, so a
worker that dies mid-call cannot hold budget forever: expired leases are swept back
(``LEASE_SECONDS``). ``SQLiteControlStore`` keeps it all in the gateway's database;
``RedisControlStore`` in Redis when ``REDIS_URL`` is set. Both also provide the
``limits`` storage the per-minute rate limits count in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from limits.storage import Storage

# A call holding its reservation longer than this (a stream open for ten minutes)
# loses it to the sweep; its spend is still added when it ends.
LEASE_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class Claim:
    """Reserve ``amount`` on ``counter`` if spent + reserved + amount <= ``ceiling``.

    A counter that does not exist yet is created empty, unless ``backfill`` is set:
    then the reservation reports it missing, so the caller can open it with the
    spend already in the request log (a budget created mid-period, a lost Redis).
    ``expires_at`` (epoch seconds) lets the store drop the counter after its period.
    """

    counter: str
    amount: int
    ceiling: int
    backfill: bool = False
    expires_at: float | None = None


@dataclass(frozen=True, slots=True)
class CounterState:
    spent: int = 0
    reserved: int = 0


@dataclass(frozen=True, slots=True)
class Reservation:
    """The outcome of ``reserve``: all claims held, or the first one that failed.

    ``refused`` is the index of a claim over its ceiling (``state`` is its counter's);
    ``missing`` the index of a backfill claim whose counter does not exist. Nothing is
    reserved unless both are None.
    """

    refused: int | None = None
    missing: int | None = None
    state: CounterState = CounterState()

    @property
    def held(self) -> bool:
        return self.refused is None and self.missing is None


@dataclass(frozen=True, slots=True)
class Settlement:
    """End ``request_id``'s lease on ``counter`` and add ``spent`` to its spend."""

    counter: str
    spent: int


class ControlStore(Protocol):
    limiter_storage: Storage

    def reserve(
        self, request_id: str, claims: Sequence[Claim], lease_until: float, now: float
    ) -> Reservation:
        """Hold every claim for ``request_id`` until ``lease_until``, or none."""

    def release(
        self, request_id: str, settlements: Sequence[Settlement]
    ) -> list[CounterState]:
        """Settle each counter; return their states afterwards, in order."""

    def open_counter(self, counter: str, spent: int, expires_at: float | None) -> None:
        """Create ``counter`` with ``spent`` unless it exists."""

    def read_counters(self, counters: Sequence[str]) -> list[CounterState | None]:
        """The counters' states (None for one that does not exist)."""

    def claim_once(self, name: str, expires_at: float | None) -> bool:
        """True for the first caller, in any worker, to claim ``name``."""

    def close(self) -> None: ...


def open_control_store(
    database: str, redis_url: str | None, redis_prefix: str
) -> ControlStore:
    """Redis when ``redis_url`` is set, else the SQLite database."""
    if redis_url:
        from .redis_store import RedisControlStore

        return RedisControlStore(redis_url, redis_prefix)

    from .sqlite_store import SQLiteControlStore

    return SQLiteControlStore(database)
