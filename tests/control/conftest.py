"""Fixtures for the control store tests: each backend, on a fresh database or under
a fresh Redis key prefix that is removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gateway.control.redis_store import RedisControlStore
from gateway.control.sqlite_store import SQLiteControlStore
from gateway.storage.sqlite import SQLiteStore

REDIS_URL = "redis://127.0.0.1:6379/0"


def unique_prefix() -> str:
    return f"gateway-test-{uuid.uuid4().hex[:12]}"


def delete_prefix(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = unique_prefix()
    yield prefix
    delete_prefix(prefix)


@pytest.fixture(params=["sqlite", "redis"])
def control_store(request: Any, tmp_path: Path) -> Iterator[Any]:
    """A control store of each kind."""
    if request.param == "sqlite":
        path = str(tmp_path / "control.db")
        schema = SQLiteStore(path)
        schema.migrate()
        schema.close()
        store: Any = SQLiteControlStore(path)
        yield store
        store.close()
        return

    prefix = unique_prefix()
    store = RedisControlStore(REDIS_URL, prefix)
    yield store
    store.close()
    delete_prefix(prefix)
