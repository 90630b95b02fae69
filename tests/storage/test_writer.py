"""The background writer: batched, nothing lost, off the request path."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from gateway.storage.sqlite import SQLiteStore
from gateway.storage.writer import RecordWriter


def tag_row(n: int) -> dict:
    return {"request_id": f"r{n}", "tag": "t"}


def count(path: str) -> int:
    return (
        sqlite3.connect(path).execute("SELECT count(*) FROM request_tags").fetchone()[0]
    )


def test_writer_batches_rows_and_close_drains_everything(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    SQLiteStore(path).migrate()
    writer = RecordWriter(path, interval=60)
    writer.start()

    for n in range(500):
        writer.submit("request_tags", tag_row(n))
    assert count(path) == 0
    time.sleep(0.2)  # let the thread reach its wait between drains
    started = time.monotonic()
    writer.close()

    # close wakes the thread instead of waiting out its 60 s interval.
    assert time.monotonic() - started < 30
    assert count(path) == 500
    assert writer.pending == 0


def test_writer_thread_writes_within_its_interval(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    SQLiteStore(path).migrate()
    writer = RecordWriter(path, interval=0.02)
    writer.start()
    writer.submit("request_tags", tag_row(1))

    done = threading.Event()
    for _ in range(100):
        if count(path) == 1:
            done.set()
            break
        done.wait(0.02)
    writer.close()

    assert done.is_set()


def test_failed_batch_stays_queued_and_is_retried(tmp_path: Path) -> None:
    path = str(tmp_path / "w.db")
    writer = RecordWriter(path, interval=60)
    writer.submit("request_tags", tag_row(1))

    try:
        writer.flush()
    except sqlite3.OperationalError:
        pass
    assert writer.pending == 1

    SQLiteStore(path).migrate()
    writer.flush()
    assert count(path) == 1
    assert writer.pending == 0
