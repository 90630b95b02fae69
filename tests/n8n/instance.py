"""A headless n8n on loopback with a fresh user folder, driven through its CLI.

The folder is prepared by the node pack's own setup script (n8n-nodes/docker/setup.js,
the Docker image's entrypoint): it installs the unpacked `npm pack` tarball into
``$N8N_USER_FOLDER/.n8n/nodes/node_modules/<name>/``, which n8n scans at every start
and CLI command, so node types keep the package prefix as when installed from npm.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .install import Runtime

EXECUTE_TIMEOUT_S = 180
CLI_TIMEOUT_S = 180
SETUP_TIMEOUT_S = 600

# Settings that keep n8n quiet, local and off the network (no telemetry, no
# version checks, no template or registry calls).
BASE_ENV = {
    "N8N_DIAGNOSTICS_ENABLED": "false",
    "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
    "N8N_PERSONALIZATION_ENABLED": "false",
    "N8N_TEMPLATES_ENABLED": "false",
    "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
    "N8N_SECURE_COOKIE": "false",
    "N8N_DISABLED_MODULES": "mcp-registry",
    "N8N_UNVERIFIED_PACKAGES_ENABLED": "true",
    "N8N_LISTEN_ADDRESS": "127.0.0.1",
    "N8N_HOST": "127.0.0.1",
    # `n8n execute` prints the run data through the logger at level info.
    "N8N_LOG_LEVEL": "info",
}
TEST_ENCRYPTION_KEY = "ai-gateway-n8n-tests-encryption-key"


class N8nError(Exception):
    """An n8n CLI step failed; the message names the step and carries its output."""


@dataclass
class Execution:
    """The result of ``n8n execute``: the run data and n8n's execution id."""

    workflow_id: str
    execution_id: str
    run: dict[str, Any]

    def node_output(self, node_name: str) -> list[dict[str, Any]]:
        """The JSON of every item the node sent on its first output, last run."""
        runs = self.run["data"]["resultData"]["runData"].get(node_name)
        if not runs:
            raise KeyError(f"node {node_name!r} did not run")
        main = runs[-1].get("data", {}).get("main") or [[]]
        return [item["json"] for item in (main[0] or [])]

    def ran(self, node_name: str) -> bool:
        return node_name in self.run["data"]["resultData"]["runData"]


class N8n:
    """One n8n user folder and the CLI commands run against it."""

    def __init__(
        self,
        runtime: Runtime,
        home: Path,
        port: int,
        broker_port: int,
        encryption_key: str | None = TEST_ENCRYPTION_KEY,
    ):
        self.runtime = runtime
        self.home = home
        self.port = port
        self.broker_port = broker_port
        self.encryption_key = encryption_key
        self.home.mkdir(parents=True, exist_ok=True)

    @property
    def nodes_folder(self) -> Path:
        return self.home / ".n8n" / "nodes" / "node_modules"

    @property
    def database(self) -> Path:
        return self.home / ".n8n" / "database.sqlite"

    def env(self) -> dict[str, str]:
        env = self.runtime.env()
        env.update(BASE_ENV)
        env["N8N_USER_FOLDER"] = str(self.home)
        if self.encryption_key:
            env["N8N_ENCRYPTION_KEY"] = self.encryption_key
        env["N8N_PORT"] = str(self.port)
        # The task runners' broker has a fixed default port; two n8n would collide.
        env["N8N_RUNNERS_BROKER_PORT"] = str(self.broker_port)
        env["N8N_EDITOR_BASE_URL"] = f"http://127.0.0.1:{self.port}"
        env["N8N_WEBHOOK_URL"] = f"http://127.0.0.1:{self.port}/"
        return env

    def cli(self, step: str, *args: str, timeout: int = CLI_TIMEOUT_S):
        argv = [str(self.runtime.node_bin), str(self.runtime.n8n_bin), *args]
        try:
            return subprocess.run(
                argv,
                env=self.env(),
                cwd=self.home,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as exc:
            raise N8nError(f"{step}: `n8n {' '.join(args)}` timed out") from exc

    def check_cli(self, step: str, *args: str, timeout: int = CLI_TIMEOUT_S) -> str:
        proc = self.cli(step, *args, timeout=timeout)
        if proc.returncode != 0:
            raise N8nError(
                f"{step}: `n8n {' '.join(args)}` exited {proc.returncode}\n"
                f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}"
            )
        return proc.stdout

    def run_setup(self, script: Path, settings: dict[str, str]) -> dict[str, str]:
        """Run the pack's setup script (the Docker entrypoint's) on this user folder.

        Returns the imported example workflows, file name to workflow id.
        """
        env = {**self.env(), **settings, "N8N_BIN": str(self.runtime.n8n_bin)}
        proc = subprocess.run(
            [str(self.runtime.node_bin), str(script)],
            env=env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_S,
        )
        if proc.returncode != 0:
            raise N8nError(
                f"run {script.name} exited {proc.returncode}\n"
                f"{_tail(proc.stdout)}\n{_tail(proc.stderr)}"
            )

        marker = self.home / ".n8n" / "ai-gateway-workflows.json"
        return json.loads(marker.read_text())

    def execute(self, workflow_id: str) -> Execution:
        """Run a workflow from its Manual Trigger; raise N8nError when it fails."""
        started = time.monotonic()
        proc = self.cli(
            f"execute workflow {workflow_id}",
            "execute",
            f"--id={workflow_id}",
            "--rawOutput",
            timeout=EXECUTE_TIMEOUT_S,
        )
        execution_id = self.latest_execution_id(workflow_id)
        if proc.returncode != 0:
            raise N8nError(
                f"execute workflow {workflow_id} failed after "
                f"{time.monotonic() - started:.0f} s (execution {execution_id})\n"
                f"{_tail(proc.stdout, 60)}\n{_tail(proc.stderr, 30)}"
            )

        return Execution(workflow_id, execution_id, _decode_run(proc.stdout))

    def latest_execution_id(self, workflow_id: str) -> str:
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            row = db.execute(
                "SELECT id FROM execution_entity WHERE workflowId = ? "
                "ORDER BY CAST(id AS INTEGER) DESC LIMIT 1",
                (workflow_id,),
            ).fetchone()
        if row is None:
            raise N8nError(f"n8n saved no execution of workflow {workflow_id}")
        return str(row[0])


def _decode_run(stdout: str) -> dict[str, Any]:
    """The run JSON from `n8n execute --rawOutput`; log lines may come before it."""
    lines = stdout.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("{"):
            text = "".join(lines[index:])
            run, _ = json.JSONDecoder().raw_decode(text)
            return run

    raise N8nError(f"n8n execute printed no run data:\n{_tail(stdout)}")


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join((text or "").strip().splitlines()[-lines:])
