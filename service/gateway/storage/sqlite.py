"""The embedded store: SQLite in WAL mode through sqlite-utils.

Two connections per worker process: one for the request path (short indexed reads,
shared by the worker's greenlets; SQLite calls never yield, so they cannot interleave)
and one owned by the background writer thread (``writer.py``), which is the only
place request rows are inserted. ``synchronous=NORMAL`` in WAL mode keeps every commit
durable across a process crash; only a power loss can drop the last commits.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import sqlite_utils

from .migrations import MIGRATIONS

# Columns a spend report can group by, and the SQL each stands for.
GROUP_COLUMNS: dict[str, str] = {
    "key": "r.key_id",
    "team": "r.team",
    "model": "r.model_used",
    "route": "r.model_requested",
    "provider": "r.provider",
    "workflow": "r.workflow_id",
    "execution": "r.execution_id",
    "user": "r.user",
    "day": "substr(r.created_at, 1, 10)",
    "tag": "t.tag",
}

# Filters the request list and the spend report accept: name -> SQL condition.
FILTER_CONDITIONS: dict[str, str] = {
    "key_id": "r.key_id = :key_id",
    "team": "r.team = :team",
    "model": "(r.model_used = :model OR r.model_requested = :model)",
    "provider": "r.provider = :provider",
    "workflow_id": "r.workflow_id = :workflow_id",
    "execution_id": "r.execution_id = :execution_id",
    "user": "r.user = :user",
    "status": "r.status = :status",
    "error_type": "r.error_type = :error_type",
    "endpoint": "r.endpoint = :endpoint",
    "since": "r.created_at >= :since",
    "until": "r.created_at < :until",
    "tag": "r.id IN (SELECT request_id FROM request_tags WHERE tag = :tag)",
}


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` with the settings every connection of the gateway uses."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    connection = sqlite3.connect(
        path, check_same_thread=False, isolation_level=None, timeout=10.0
    )
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


class SQLiteStore:
    """Keys, request rows and spend queries on one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._reader = connect(path)
        self._lock = threading.Lock()

    def migrate(self) -> None:
        """Apply pending migrations; safe when several workers start at once."""
        with self._lock:
            self._reader.execute("BEGIN IMMEDIATE")
            try:
                self._reader.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER)"
                )
                row = self._reader.execute(
                    "SELECT max(version) FROM schema_version"
                ).fetchone()
                current = row[0] or 0
                for version, script in MIGRATIONS:
                    if version <= current:
                        continue
                    for statement in split_statements(script):
                        self._reader.execute(statement)
                    self._reader.execute(
                        "INSERT INTO schema_version (version) VALUES (?)", (version,)
                    )
                self._reader.execute("COMMIT")
            except BaseException:
                self._reader.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self._reader.close()

    def query(
        self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._reader.execute(sql, params).fetchall()

        return [dict(row) for row in rows]

    def execute(
        self, sql: str, params: Mapping[str, Any] | tuple[Any, ...] = ()
    ) -> int:
        """Run one write statement in its own transaction; return the rows changed."""
        with self._lock:
            return self._reader.execute(sql, params).rowcount

    def insert_key(self, row: Mapping[str, Any]) -> None:
        with self._lock:
            sqlite_utils.Database(self._reader)["keys"].insert(dict(row))

    def get_key(self, key_id: str) -> dict[str, Any] | None:
        rows = self.query("SELECT * FROM keys WHERE id = ?", (key_id,))
        return rows[0] if rows else None

    def list_keys(self, include_revoked: bool = False) -> list[dict[str, Any]]:
        where = "" if include_revoked else "WHERE revoked_at IS NULL"
        return self.query(f"SELECT * FROM keys {where} ORDER BY created_at DESC, id")

    def revoke_key(self, key_id: str, revoked_at: str) -> bool:
        changed = self.execute(
            "UPDATE keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (revoked_at, key_id),
        )
        return changed == 1

    def list_requests(
        self, filters: Mapping[str, Any], limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Newest first; returns the page and the cursor of the next page."""
        conditions, params = _where(filters)
        if cursor is not None:
            created_at, request_id = _decode_cursor(cursor)
            conditions.append(
                "(r.created_at < :cursor_at OR "
                "(r.created_at = :cursor_at AND r.id < :cursor_id))"
            )
            params.update(cursor_at=created_at, cursor_id=request_id)

        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        params["limit"] = limit + 1
        rows = self.query(
            f"SELECT r.* FROM requests r {where} "
            "ORDER BY r.created_at DESC, r.id DESC LIMIT :limit",
            params,
        )
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _encode_cursor(rows[-1]["created_at"], rows[-1]["id"])

        return rows, next_cursor

    def sum_spend(
        self, group_by: Iterable[str], filters: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Spend, tokens, requests and errors per group (all rows when no group)."""
        groups = list(group_by)
        conditions, params = _where(filters)
        join = (
            "LEFT JOIN request_tags t ON t.request_id = r.id" if "tag" in groups else ""
        )
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        selected = [f"{GROUP_COLUMNS[name]} AS {name}" for name in groups]
        if "workflow" in groups:
            selected.append("max(r.workflow_name) AS workflow_name")
        grouping = (
            f"GROUP BY {', '.join(GROUP_COLUMNS[n] for n in groups)}" if groups else ""
        )
        order = "ORDER BY cost_usd DESC" if groups else ""
        sql = (
            f"SELECT {', '.join([*selected, *_SUMS])} FROM requests r {join} "
            f"{where} {grouping} {order}"
        )
        return self.query(sql, params)


_SUMS = [
    "count(*) AS requests",
    "coalesce(sum(r.cost_usd), 0) AS cost_usd",
    "coalesce(sum(r.prompt_tokens), 0) AS prompt_tokens",
    "coalesce(sum(r.completion_tokens), 0) AS completion_tokens",
    "coalesce(sum(r.cached_tokens), 0) AS cached_tokens",
    "coalesce(sum(r.status >= 400), 0) AS errors",
]


def split_statements(script: str) -> list[str]:
    """The SQL statements of ``script`` (a trigger's ``BEGIN ... END;`` body stays
    whole). executescript would commit the migration's open transaction."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip():
        statements.append(pending.strip())

    return statements


def _where(filters: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
    conditions = []
    params: dict[str, Any] = {}
    for name, value in filters.items():
        if value is None:
            continue
        conditions.append(FILTER_CONDITIONS[name])
        params[name] = value

    return conditions, params


def _encode_cursor(created_at: str, request_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at}|{request_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, str]:
    """Raise ValueError for a cursor this store did not issue."""
    try:
        created_at, _, request_id = (
            base64.urlsafe_b64decode(cursor).decode().partition("|")
        )
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc
    if not request_id:
        raise ValueError("invalid cursor")

    return created_at, request_id
