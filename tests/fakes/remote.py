"""The fake as a separate process, and the client that scripts it over HTTP.

Tests whose gateway runs in another process (gunicorn, n8n) start the fake with
``start_fake_process`` or ``python -m tests.fakes --port 0`` and script it through
``RemoteFake``, which offers the same methods as ``FakeServer``.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .behaviours import Behaviour
from .script import CONTROL_PREFIX
from .wire import RecordedRequest

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]

CONTROL_TIMEOUT_S = 10.0


class RemoteFake:
    """Scripts the fake listening at ``url`` through its control API.

    Every method raises ``urllib.error.HTTPError`` if the fake refuses the call and
    ``urllib.error.URLError`` if it cannot be reached.
    """

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def queue(self, *behaviours: Behaviour) -> None:
        items = [behaviour.to_json() for behaviour in behaviours]
        self._call("POST", "queue", {"behaviours": items})

    def set_default(self, behaviour: Behaviour) -> None:
        self._call("PUT", "default", behaviour.to_json())

    def requests(self) -> list[RecordedRequest]:
        answer = self._call("GET", "requests")
        return [RecordedRequest.from_json(item) for item in answer["requests"]]

    def pending(self) -> int:
        return self._call("GET", "pending")["pending"]

    def reset(self) -> None:
        self._call("POST", "reset")

    def _call(self, method: str, action: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}{CONTROL_PREFIX}{action}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=CONTROL_TIMEOUT_S) as response:
            return json.loads(response.read())


@contextlib.contextmanager
def start_fake_process(port: int = 0) -> Iterator[RemoteFake]:
    """Run ``python -m tests.fakes`` on ``port`` (0: a free one) and yield its
    client; the process is terminated on exit. Raise RuntimeError if it exits
    before printing its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes", "--port", str(port)],
        cwd=REPOSITORY_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the fake process exited with {process.wait()}")
        yield RemoteFake(url)
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
