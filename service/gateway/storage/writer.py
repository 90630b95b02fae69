"""Write request rows off the request path, in batches, without losing any.

Requests hand their rows to ``RecordWriter.submit`` (an append to a deque: no I/O, no
lock, no wait). One real OS thread per worker process drains the deque every
``interval`` seconds and inserts everything pending in one transaction. Under gevent
the thread must be a real one, not a greenlet, or SQLite's blocking calls would stall
the worker's event loop; so the thread and its locks are taken from the unpatched
standard library.

``close`` (called when the worker exits, including on SIGTERM) drains what is left,
so a clean shutdown loses nothing. A crash of the process loses the rows not yet
committed: those of the last ``interval``, more when a write was waiting on SQLite
(bench/RESULTS.md has the measurement).
"""

from __future__ import annotations

import _thread
import collections
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import sqlite_utils

from .sqlite import connect

logger = logging.getLogger(__name__)

Row = tuple[str, dict[str, Any]]


def real_threading() -> tuple[
    Callable[..., Any], Callable[[float], None], Callable[[], Any]
]:
    """start_new_thread, sleep and allocate_lock of the real (unpatched) stdlib."""
    try:
        from gevent import monkey
    except ImportError:
        monkey = None
    if monkey is not None and monkey.is_module_patched("threading"):
        return (
            monkey.get_original("_thread", "start_new_thread"),
            monkey.get_original("time", "sleep"),
            monkey.get_original("_thread", "allocate_lock"),
        )

    return _thread.start_new_thread, time.sleep, _thread.allocate_lock


class RecordWriter:
    """Batches rows for several tables into single SQLite transactions."""

    def __init__(self, database_path: str, interval: float = 0.1) -> None:
        self._path = database_path
        self._interval = interval
        self._pending: collections.deque[Row] = collections.deque()
        self._start_thread, _, allocate_lock = real_threading()
        self._drain_lock = allocate_lock()
        self._stopped = allocate_lock()
        # Held while running; the thread waits on it (``_pause``), so releasing it
        # in ``close`` wakes the thread at once instead of after its wait.
        self._wake = allocate_lock()
        self._running = False
        self._db: sqlite_utils.Database | None = None
        self.written = 0

    def start(self) -> None:
        """Start the writer thread (once per process, after any fork)."""
        if self._running:
            return
        self._running = True
        self._stopped.acquire()
        self._wake.acquire()
        self._start_thread(self._run, ())

    def submit(self, table: str, row: dict[str, Any]) -> None:
        self._pending.append((table, row))

    def submit_many(self, rows: Iterable[Row]) -> None:
        self._pending.extend(rows)

    def flush(self) -> None:
        """Write everything submitted so far before returning."""
        self._drain()

    def close(self) -> None:
        """Stop the thread after a final drain. Safe to call more than once."""
        if self._running:
            self._running = False
            self._wake.release()
            self._stopped.acquire()
            self._stopped.release()
        self._drain()
        if self._db is not None:
            self._db.conn.close()
            self._db = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        try:
            while self._running:
                self._pause(self._interval)
                self._drain_logging_errors()
        finally:
            self._stopped.release()

    def _drain_logging_errors(self) -> None:
        try:
            self._drain()
        except Exception:
            # The rows stay queued and are retried on the next tick.
            logger.exception("writing request rows failed; will retry")
            self._pause(1.0)

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or until ``close`` releases the wake lock."""
        if self._wake.acquire(timeout=seconds):
            self._wake.release()

    def _drain(self) -> None:
        with self._drain_lock:
            batch: list[Row] = []
            while self._pending:
                batch.append(self._pending.popleft())
            if not batch:
                return
            try:
                self._write(batch)
            except BaseException:
                self._pending.extendleft(reversed(batch))
                raise
            self.written += len(batch)

    def _write(self, batch: list[Row]) -> None:
        if self._db is None:
            self._db = sqlite_utils.Database(connect(self._path))
        connection = self._db.conn

        tables: dict[str, list[dict[str, Any]]] = {}
        for table, row in batch:
            tables.setdefault(table, []).append(row)
        # BEGIN IMMEDIATE takes the write lock up front, so the busy timeout applies;
        # a deferred transaction that read first could fail at once with "database
        # is locked" when another worker's writer committed in between. Plain
        # executemany: sqlite-utils' insert_all costs ~10x the CPU per row here.
        connection.execute("BEGIN IMMEDIATE")
        try:
            for table, rows in tables.items():
                columns = list(rows[0])
                connection.executemany(
                    _insert_sql(table, columns),
                    [tuple(row[name] for name in columns) for row in rows],
                )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise


def _insert_sql(table: str, columns: list[str]) -> str:
    names = ", ".join(f'"{name}"' for name in columns)
    marks = ", ".join("?" for _ in columns)
    return f'INSERT OR IGNORE INTO "{table}" ({names}) VALUES ({marks})'
