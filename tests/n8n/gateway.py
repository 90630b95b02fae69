"""The real gateway for the n8n tests: `gateway serve` in a process of its own.

It runs on a temporary database with a config that gives the model alias `fast` a
fallback (the fake OpenAI provider first, then the built-in demo model) beside the
demo model itself, and is driven through its admin API with the master key.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

START_TIMEOUT_S = 60
HTTP_TIMEOUT_S = 30

# The route workflow 01 asks for: the fake (told by the test to fail) first, then
# demo. Quick backoff keeps the run short; a breaker that never opens within the run
# keeps the fake in every call's attempts (opened, it would be skipped instead).
FAST_TARGETS = [
    {"provider": "fake-openai", "model": "gpt-4o-mini"},
    {"provider": "demo", "model": "demo"},
]
RETRIES = 1


def gateway_config(fake_url: str) -> dict[str, Any]:
    """The gateway's config file for the n8n tests, as data."""
    return {
        "providers": {
            "fake-openai": {
                "type": "openai",
                "base_url": f"{fake_url.rstrip('/')}/v1",
                "api_key_env": "FAKE_OPENAI_API_KEY",
            },
        },
        "routing": {
            "retries": RETRIES,
            "backoff_ms": {"base": 10, "cap": 50},
            "circuit_breaker": {"failures": 1000},
        },
        "models": {"fast": {"targets": FAST_TARGETS}},
    }


class GatewayError(Exception):
    """The gateway could not be started or answered an admin call with an error."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(method: str, url: str, token: str, body: Any = None) -> Any:
    """One JSON call; raise GatewayError with the status and body on an error answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise GatewayError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from exc


@dataclass
class Gateway:
    url: str
    master_key: str
    log: Path

    def admin(self, method: str, path: str, body: Any = None, **query: str) -> Any:
        suffix = f"?{urllib.parse.urlencode(query)}" if query else ""
        return http_json(
            method, f"{self.url}/admin{path}{suffix}", self.master_key, body
        )

    def create_key(self, name: str) -> str:
        return self.admin("POST", "/keys", {"name": name})["key"]

    def request(self, request_id: str) -> dict[str, Any]:
        """One logged request with its ``attempt_list``, oldest attempt first."""
        return self.admin("GET", f"/requests/{urllib.parse.quote(request_id)}")

    def requests_for(self, workflow_id: str) -> list[dict[str, Any]]:
        """Every logged request of one workflow, oldest first."""
        rows: list[dict[str, Any]] = []
        cursor = None
        while True:
            query = {"workflow_id": workflow_id, "limit": "1000"}
            if cursor:
                query["cursor"] = cursor
            page = self.admin("GET", "/requests", **query)
            rows.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                break

        return sorted(rows, key=lambda row: str(row.get("created_at") or row.get("id")))


def gateway_command() -> Path:
    """The `gateway` script of the Python environment running the tests."""
    script = Path(sys.executable).parent / "gateway"
    if not script.exists():
        raise GatewayError(
            f"find the gateway CLI: {script} does not exist "
            "(run `make test` or install the service into this virtualenv)"
        )
    return script


@contextlib.contextmanager
def run_gateway(workdir: Path, fake_url: str) -> Iterator[Gateway]:
    """Start `gateway serve` on a free loopback port and stop it on exit."""
    command = gateway_command()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "gateway.yaml"
    config.write_text(yaml.safe_dump(gateway_config(fake_url), sort_keys=False))
    port = free_port()
    master_key = "mk-test-" + secrets.token_hex(16)
    env = {
        **os.environ,
        "PORT": str(port),
        "GATEWAY_HOST": "127.0.0.1",
        "GATEWAY_CONFIG": str(config),
        "GATEWAY_DATABASE": str(workdir / "gw.db"),
        "GATEWAY_MASTER_KEY": master_key,
        "GATEWAY_WORKERS": "1",
        "FAKE_OPENAI_API_KEY": "sk-fake-provider-key",
    }
    log = workdir / "gateway.log"
    with open(log, "w") as out:
        process = subprocess.Popen(
            [str(command), "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    gateway = Gateway(f"http://127.0.0.1:{port}", master_key, log)
    try:
        _wait_healthy(gateway, process)
        yield gateway
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the gunicorn process group (master and workers), SIGKILL if stuck."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(gateway: Gateway, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise GatewayError(
                f"start the gateway: it exited with {process.returncode}:\n"
                f"{gateway.log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{gateway.url}/healthz", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)

    raise GatewayError(
        f"start the gateway: no answer on {gateway.url}/healthz after "
        f"{START_TIMEOUT_S} s:\n{gateway.log.read_text()[-3000:]}"
    )
