"""Fixtures for the n8n end-to-end tests (marker ``n8n``).

One session builds everything once: Node 24 and n8n from the cache (installed on
first use), the node pack packed with npm, a fake OpenAI provider, the real gateway,
a local chat webhook, and an n8n user folder with the pack installed, the
credentials created and every workflow in workflows/ imported. A step that cannot
be done fails the tests with a message naming the step; nothing is skipped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import RemoteFake, start_fake_process

from .gateway import Gateway, GatewayError, free_port, run_gateway
from .install import InstallError, Runtime, ensure_node, ensure_runtime
from .instance import Execution, N8n, N8nError
from .pack import REPOSITORY_ROOT, SETUP_SCRIPT, build_tarball, unpack_tarball
from .receiver import WebhookReceiver, run_receiver

WORKFLOWS_DIR = REPOSITORY_ROOT / "workflows"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "n8n: runs the workflows in a real n8n (installs Node 24 and n8n into a cache)",
    )


def progress(message: str) -> None:
    """Progress of the slow steps, shown even while pytest captures output."""
    print(message, file=sys.__stderr__, flush=True)


def fail_setup(step: str, detail: str) -> None:
    pytest.fail(
        f"n8n end-to-end setup failed at step '{step}':\n{detail}", pytrace=False
    )


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS_DIR.glob("[0-9][0-9]-*.json"))


@dataclass
class Deployment:
    """n8n with the pack and every workflow, the gateway and the fakes around it."""

    n8n: N8n
    gateway: Gateway
    fake: RemoteFake
    receiver: WebhookReceiver
    workflows: dict[str, dict[str, Any]]
    executed: dict[str, Execution] = field(default_factory=dict)

    def workflows_by_id(self) -> dict[str, dict[str, Any]]:
        return {workflow["id"]: workflow for workflow in self.workflows.values()}

    def run(self, file_name: str) -> Execution:
        workflow = self.workflows[file_name]
        progress(f"[n8n-e2e] execute {file_name}")
        try:
            execution = self.n8n.execute(workflow["id"])
        except N8nError as exc:
            pytest.fail(f"{file_name}: {exc}", pytrace=False)

        self.executed[file_name] = execution
        return execution


@pytest.fixture(scope="session")
def node_runtime() -> Runtime:
    try:
        return ensure_node(log=progress)
    except InstallError as exc:
        fail_setup(exc.step, exc.detail)


@pytest.fixture(scope="session")
def n8n_runtime() -> Runtime:
    try:
        return ensure_runtime(log=progress)
    except InstallError as exc:
        fail_setup(exc.step, exc.detail)


@pytest.fixture(scope="session")
def node_pack_tarball(
    n8n_runtime: Runtime, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    progress("[n8n-e2e] build and pack the node pack")
    try:
        return build_tarball(n8n_runtime, tmp_path_factory.mktemp("pack"))
    except InstallError as exc:
        fail_setup(exc.step, exc.detail)


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[RemoteFake]:
    with start_fake_process() as fake:
        yield fake


@pytest.fixture(scope="session")
def gateway(
    fake_openai: RemoteFake, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    try:
        with run_gateway(
            tmp_path_factory.mktemp("gateway"), fake_openai.url
        ) as running:
            yield running
    except GatewayError as exc:
        fail_setup("start the gateway", str(exc))


@pytest.fixture(scope="session")
def deployment(
    n8n_runtime: Runtime,
    node_pack_tarball: Path,
    gateway: Gateway,
    fake_openai: RemoteFake,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    """n8n prepared by the pack's setup script, as `docker compose up` prepares it:
    the pack installed, a key made with the master key, credentials and workflows."""
    with run_receiver() as receiver:
        home = tmp_path_factory.mktemp("n8n-home")
        n8n = N8n(n8n_runtime, home, free_port(), free_port())
        pack = unpack_tarball(node_pack_tarball, tmp_path_factory.mktemp("unpacked"))
        settings = {
            "AI_GATEWAY_URL": gateway.url,
            "AI_GATEWAY_MASTER_KEY": gateway.master_key,
            "AI_GATEWAY_PACK": str(pack),
            "AI_GATEWAY_WORKFLOWS": str(WORKFLOWS_DIR),
            "AI_GATEWAY_CHAT_WEBHOOK_URL": receiver.url,
        }
        try:
            ids = n8n.run_setup(SETUP_SCRIPT, settings)
        except N8nError as exc:
            fail_setup("prepare n8n (n8n-nodes/docker/setup.js)", str(exc))

        workflows = {}
        for path in workflow_files():
            workflow = json.loads(path.read_text())
            workflows[path.name] = {"id": ids[path.name], "name": workflow["name"]}
        yield Deployment(n8n, gateway, fake_openai, receiver, workflows)
