"""Fixtures: a fresh app on a temporary SQLite file, its test client, keys, and a real
gunicorn gateway for end-to-end tests (``gateway_server``)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from gateway.app import close_app, create_app
from gateway.config import load_config, load_settings

MASTER_KEY = "mk-test-master-key"
REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.db")


@pytest.fixture
def make_app(tmp_path: Path, database: str) -> Iterator[Callable[..., Any]]:
    """Build an app from an optional YAML config text and environment overrides."""
    apps = []

    def build(config_yaml: str | None = None, env: dict[str, str] | None = None) -> Any:
        environ = {
            "GATEWAY_DATABASE": database,
            "GATEWAY_MASTER_KEY": MASTER_KEY,
            **(env or {}),
        }
        config_path = None
        if config_yaml is not None:
            config_path = tmp_path / f"gateway-{len(apps)}.yaml"
            config_path.write_text(config_yaml)
        settings = load_settings(environ)
        config = load_config(str(config_path) if config_path else None, environ)
        app = create_app(settings, config)
        apps.append(app)
        return app

    yield build
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app: Callable[..., Any]) -> Any:
    return make_app()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}


def create_key(client: Any, **fields: Any) -> str:
    """Create a virtual key through the admin API; return the full key."""
    response = client.post(
        "/admin/keys", json={"name": "test", **fields}, headers=ADMIN
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["key"]


@pytest.fixture
def key(client: Any) -> str:
    return create_key(client)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class GatewayServer:
    """A gateway started exactly as ``make run`` starts it (gateway serve)."""

    def __init__(self, workdir: Path, config_yaml: str | None, env: dict[str, str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = str(workdir / "gateway.db")
        self.log_path = workdir / "gateway.log"
        self.env = {
            **os.environ,
            "PORT": str(self.port),
            "GATEWAY_DATABASE": self.database,
            "GATEWAY_MASTER_KEY": MASTER_KEY,
            "GATEWAY_WORKERS": "2",
            **env,
        }
        if config_yaml is not None:
            path = workdir / "gateway.yaml"
            path.write_text(config_yaml)
            self.env["GATEWAY_CONFIG"] = str(path)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [str(VENV_BIN / "gateway"), "serve"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gateway exited: {self.log_path.read_text()[-2000:]}"
                )
            try:
                if requests.get(self.url + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(
            f"gateway did not start: {self.log_path.read_text()[-2000:]}"
        )

    def stop(self) -> int:
        """SIGTERM (a clean shutdown) and wait; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._log.close()
        return self.process.returncode

    def create_key(self, **fields: Any) -> str:
        response = requests.post(
            self.url + "/admin/keys", json={"name": "e2e", **fields}, headers=ADMIN
        )
        assert response.status_code == 201, response.text
        return response.json()["key"]

    def admin_get(self, path: str, **params: Any) -> Any:
        response = requests.get(
            self.url + path, params=params, headers=ADMIN, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_rows(
        self, expected: int, timeout: float = 10, **filters: Any
    ) -> list[dict]:
        """Poll the request log until ``expected`` rows match (rows are batched)."""
        deadline = time.monotonic() + timeout
        rows: list[dict] = []
        while time.monotonic() < deadline:
            rows = self.admin_get("/admin/requests", limit=1000, **filters)["data"]
            if len(rows) >= expected:
                return rows
            time.sleep(0.1)
        return rows

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                lines.append(orjson.loads(line))
        return lines


@pytest.fixture
def gateway_server(tmp_path: Path) -> Iterator[Callable[..., GatewayServer]]:
    """Start real gunicorn gateways: ``gateway_server(config_yaml, env)``."""
    servers: list[GatewayServer] = []

    def start(
        config_yaml: str | None = None, env: dict[str, str] | None = None
    ) -> GatewayServer:
        workdir = tmp_path / f"server-{len(servers)}"
        workdir.mkdir()
        server = GatewayServer(workdir, config_yaml, env or {})
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()
