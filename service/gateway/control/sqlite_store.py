"""The control store in the gateway's SQLite database (the default).

Every change is one short ``BEGIN IMMEDIATE`` transaction on a connection of its own,
so SQLite's write lock makes it atomic across every worker: a reservation checks and
raises each counter with one conditional UPDATE and rolls all of them back if one
does not fit.

Under gevent a blocking wait on SQLite's lock would stall every call the worker holds,
so the connection's busy timeout is zero: a locked database raises at once and the
transaction is retried after a cooperative sleep (``time.sleep`` is gevent's in a
gevent worker), up to ``LOCK_DEADLINE_S``. The connection never checkpoints the WAL
(the request-log writer's connection does), so a commit here never waits on one.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from limits.storage import Storage

from ..errors import ControlUnavailableError
from ..storage.sqlite import connect
from .store import Claim, CounterState, Reservation, Settlement

Result = TypeVar("Result")

LOCK_DEADLINE_S = 5.0
_FIRST_WAIT_S = 0.0005
_LONGEST_WAIT_S = 0.02
# Expired leases are swept back into their counters (and expired rows pruned) at
# most this often per worker, inside a reservation.
_SWEEP_EVERY_S = 15.0


class SQLiteControlStore:
    def __init__(self, path: str) -> None:
        self._db = connect(path)
        self._db.execute("PRAGMA busy_timeout = 0")
        self._db.execute("PRAGMA wal_autocheckpoint = 0")
        self._lock = threading.Lock()
        self._swept = 0.0
        self.limiter_storage = SQLiteLimitsStorage(self)

    def close(self) -> None:
        self._db.close()

    def reserve(
        self, request_id: str, claims: Sequence[Claim], lease_until: float, now: float
    ) -> Reservation:
        def hold(db: sqlite3.Connection) -> Reservation:
            if now - self._swept >= _SWEEP_EVERY_S:
                _sweep_leases(db, now)
                _prune(db, now)
                self._swept = now
            for index, claim in enumerate(claims):
                changed = db.execute(
                    "UPDATE control_counters SET reserved = reserved + ? "
                    "WHERE name = ? AND spent + reserved + ? <= ?",
                    (claim.amount, claim.counter, claim.amount, claim.ceiling),
                ).rowcount
                if changed == 0:
                    _charge_new_counter(db, index, claim)
                db.execute(
                    "INSERT OR REPLACE INTO control_leases "
                    "(counter, request_id, amount, expires_at) VALUES (?, ?, ?, ?)",
                    (claim.counter, request_id, claim.amount, lease_until),
                )

            return Reservation()

        try:
            return self.transaction(hold)
        except _NotHeld as not_held:
            return not_held.reservation

    def release(
        self, request_id: str, settlements: Sequence[Settlement]
    ) -> list[CounterState]:
        def settle(db: sqlite3.Connection) -> list[CounterState]:
            states = []
            for settlement in settlements:
                lease = db.execute(
                    "DELETE FROM control_leases WHERE counter = ? AND request_id = ? "
                    "RETURNING amount",
                    (settlement.counter, request_id),
                ).fetchone()
                held = lease[0] if lease is not None else 0
                row = db.execute(
                    "UPDATE control_counters SET reserved = max(0, reserved - ?), "
                    "spent = spent + ? WHERE name = ? RETURNING spent, reserved",
                    (held, settlement.spent, settlement.counter),
                ).fetchone()
                states.append(CounterState(*row) if row else CounterState())

            return states

        return self.transaction(settle)

    def open_counter(self, counter: str, spent: int, expires_at: float | None) -> None:
        self.transaction(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO control_counters (name, spent, reserved, "
                "expires_at) VALUES (?, ?, 0, ?)",
                (counter, spent, expires_at),
            )
        )

    def read_counters(self, counters: Sequence[str]) -> list[CounterState | None]:
        with self._lock:
            found = {
                row[0]: CounterState(row[1], row[2])
                for name in counters
                for row in self._db.execute(
                    "SELECT name, spent, reserved FROM control_counters WHERE name = ?",
                    (name,),
                )
            }

        return [found.get(name) for name in counters]

    def claim_once(self, name: str, expires_at: float | None) -> bool:
        def claim(db: sqlite3.Connection) -> bool:
            return (
                db.execute(
                    "INSERT OR IGNORE INTO control_claims "
                    "(name, claimed_at, expires_at) VALUES (?, ?, ?)",
                    (name, time.time(), expires_at),
                ).rowcount
                == 1
            )

        return self.transaction(claim)

    def read_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._lock:
            return self._db.execute(sql, params).fetchone()

    def transaction(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        """Run ``work`` in a ``BEGIN IMMEDIATE`` transaction (rolled back if it
        raises), retrying while another connection holds the write lock; raise
        ControlUnavailableError past the deadline."""
        deadline = time.monotonic() + LOCK_DEADLINE_S
        wait = _FIRST_WAIT_S
        while True:
            try:
                with self._lock:
                    return self._run(work)
            except sqlite3.OperationalError as error:
                if not _is_locked(error) or time.monotonic() + wait > deadline:
                    raise ControlUnavailableError(
                        f"the budget and rate-limit store is unavailable ({error})"
                    ) from error
            time.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT_S)

    def _run(self, work: Callable[[sqlite3.Connection], Result]) -> Result:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            result = work(self._db)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

        return result


class _NotHeld(Exception):
    """Raised inside a reservation to roll it back; carries the outcome."""

    def __init__(self, reservation: Reservation) -> None:
        super().__init__()
        self.reservation = reservation


def _charge_new_counter(db: sqlite3.Connection, index: int, claim: Claim) -> None:
    """Create and charge a counter the conditional UPDATE did not find; raise
    _NotHeld when it exists (the claim does not fit) or must be backfilled."""
    row = db.execute(
        "SELECT spent, reserved FROM control_counters WHERE name = ?", (claim.counter,)
    ).fetchone()
    if row is not None:
        raise _NotHeld(Reservation(refused=index, state=CounterState(*row)))
    if claim.backfill:
        raise _NotHeld(Reservation(missing=index))
    if claim.amount > claim.ceiling:
        raise _NotHeld(Reservation(refused=index))

    db.execute(
        "INSERT INTO control_counters (name, spent, reserved, expires_at) "
        "VALUES (?, 0, ?, ?)",
        (claim.counter, claim.amount, claim.expires_at),
    )


def _sweep_leases(db: sqlite3.Connection, now: float) -> None:
    """Give the reservations of expired leases back to their counters."""
    expired = db.execute(
        "SELECT counter, sum(amount) FROM control_leases WHERE expires_at <= ? "
        "GROUP BY counter",
        (now,),
    ).fetchall()
    for counter, amount in expired:
        db.execute(
            "UPDATE control_counters SET reserved = max(0, reserved - ?) "
            "WHERE name = ?",
            (amount, counter),
        )
    if expired:
        db.execute("DELETE FROM control_leases WHERE expires_at <= ?", (now,))


def _prune(db: sqlite3.Connection, now: float) -> None:
    """Drop counters of long-past periods, spent claims and ended rate windows."""
    for table in ("control_counters", "control_claims"):
        db.execute(
            f"DELETE FROM {table} WHERE expires_at IS NOT NULL AND expires_at < ?",
            (now,),
        )
    db.execute("DELETE FROM control_rate_windows WHERE expires_at < ?", (now - 60,))


def _is_locked(error: sqlite3.OperationalError) -> bool:
    message = str(error)
    return "locked" in message or "busy" in message


class SQLiteLimitsStorage(Storage):
    """A ``limits`` storage in the control store's SQLite tables (fixed windows).

    ``incr`` is one UPSERT: it opens a new window when the old one has expired.
    """

    STORAGE_SCHEME = ["gateway-sqlite"]

    def __init__(self, store: SQLiteControlStore) -> None:
        super().__init__(None)
        self._store = store

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return sqlite3.Error

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()

        def add(db: sqlite3.Connection) -> int:
            return db.execute(
                "INSERT INTO control_rate_windows (key, hits, expires_at) "
                "VALUES (:key, :amount, :now + :expiry) "
                "ON CONFLICT (key) DO UPDATE SET "
                "hits = CASE WHEN expires_at <= :now THEN :amount "
                "ELSE hits + :amount END, "
                "expires_at = CASE WHEN expires_at <= :now THEN :now + :expiry "
                "ELSE expires_at END "
                "RETURNING hits",
                {"key": key, "amount": amount, "now": now, "expiry": expiry},
            ).fetchone()[0]

        return self._store.transaction(add)

    def get(self, key: str) -> int:
        row = self._window(key)
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._window(key)
        return row[1] if row else time.time()

    def check(self) -> bool:
        try:
            self._store.read_one("SELECT 1", ())
        except sqlite3.Error:
            return False
        return True

    def reset(self) -> int | None:
        return self._store.transaction(
            lambda db: db.execute("DELETE FROM control_rate_windows").rowcount
        )

    def clear(self, key: str) -> None:
        self._store.transaction(
            lambda db: db.execute(
                "DELETE FROM control_rate_windows WHERE key = ?", (key,)
            )
        )

    def _window(self, key: str) -> Any:
        return self._store.read_one(
            "SELECT hits, expires_at FROM control_rate_windows "
            "WHERE key = ? AND expires_at > ?",
            (key, time.time()),
        )
