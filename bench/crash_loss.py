"""How many request rows a crashed worker loses: a measurement, not a test.

Starts the gateway as `make run` does (two gevent workers, the demo model so no
upstream is needed), sends requests from 16 client threads, SIGKILLs one worker in the
middle of the load (gunicorn starts a new one), then stops the gateway cleanly and
compares the request ids the clients received with the rows in the database.

    .venv/bin/python bench/crash_loss.py [--seconds 8] [--kills 3]

Rows are written by a background thread every 100 ms, so a killed worker loses the
rows it has not committed yet: those of its last interval (at R requests/s on that
worker, about R/10), more when its last write was waiting on SQLite. The clients note
when each answer arrived, so the report also says how long before the kill the
oldest lost answer came: how far the killed worker's writer was behind.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
GATEWAY = REPO / ".venv" / "bin" / "gateway"
BODY = {"model": "demo", "messages": [{"role": "user", "content": "crash test"}]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def worker_pids(master: int) -> list[int]:
    output = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True
    ).stdout
    return [int(pid) for pid in output.split()]


def age_at_kill(answered: float, kills: list[float]) -> float:
    """Seconds from an answer to the first kill after it, 0 if it came after all.

    50 ms of slack: a client notes the time only after reading the answer, so an
    answer the worker sent just before dying can be noted just after the kill.
    """
    later = [kill for kill in kills if kill >= answered - 0.05]
    return max(0.0, min(later) - answered) if later else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--kills", type=int, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="crash-loss-"))
    database = workdir / "gateway.db"
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "GATEWAY_DATABASE": str(database),
        "GATEWAY_MASTER_KEY": "mk-crash",
        "GATEWAY_WORKERS": "2",
        "GATEWAY_LOG_LEVEL": "warning",
    }
    log = open(workdir / "gateway.log", "wb")
    server = subprocess.Popen(
        [str(GATEWAY), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            requests.get(url + "/healthz", timeout=1)
            break
        except requests.RequestException:
            time.sleep(0.1)
    created = subprocess.run(
        [str(GATEWAY), "keys", "create", "--name", "crash", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(created.stdout)["key"]

    received: list[str] = []
    answered_at: dict[str, float] = {}
    killed_at: list[float] = []
    failed = [0]
    lock = threading.Lock()
    stop = time.monotonic() + args.seconds

    def client() -> None:
        session = requests.Session()
        while time.monotonic() < stop:
            try:
                response = session.post(
                    url + "/v1/chat/completions",
                    json=BODY,
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=10,
                )
            except requests.RequestException:
                with lock:
                    failed[0] += 1
                continue
            if response.status_code == 200:
                request_id = response.headers["x-request-id"]
                with lock:
                    received.append(request_id)
                    answered_at[request_id] = time.monotonic()

    threads = [threading.Thread(target=client) for _ in range(16)]
    for thread in threads:
        thread.start()
    killed = 0
    for number in range(args.kills):
        time.sleep(args.seconds / (args.kills + 1))
        pids = worker_pids(server.pid)
        if pids:
            killed_at.append(time.monotonic())
            os.kill(pids[number % len(pids)], signal.SIGKILL)
            killed += 1
    for thread in threads:
        thread.join()

    os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)
    rows = {
        row[0] for row in sqlite3.connect(database).execute("SELECT id FROM requests")
    }
    lost = [request_id for request_id in received if request_id not in rows]
    rate = len(received) / args.seconds
    print(
        f"requests answered 200: {len(received)} "
        f"({rate:.0f}/s over {args.seconds:g} s, 2 workers); "
        f"client errors during the kills: {failed[0]}"
    )
    print(
        f"workers SIGKILLed: {killed}; answered requests with no row: {len(lost)} "
        f"({len(lost) / max(killed, 1):.1f} per kill; "
        f"one worker's 100 ms ~ {rate / 2 / 10:.0f})"
    )
    ages = [age_at_kill(answered_at[r], killed_at) for r in lost]
    if ages:
        print(
            f"oldest lost answer came {1000 * max(ages):.0f} ms "
            "before the kill that lost it"
        )
    print(f"rows written: {len(rows)}; logs in {workdir}")
    sys.exit(0)


if __name__ == "__main__":
    main()
