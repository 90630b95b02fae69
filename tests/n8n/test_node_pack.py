"""The node pack passes its own checks: n8n's linter (no rule switched off), the
formatter, and its unit tests (request building, output and error mapping, and the
workflow checker). They run on the cached Node 24 with the locked dev dependencies."""

from __future__ import annotations

import pytest

from .install import InstallError, Runtime
from .pack import install_dependencies, npm

# A cold cache installs n8n during the first test's setup (6-10 min).
pytestmark = [pytest.mark.n8n, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def pack_runtime(node_runtime: Runtime) -> Runtime:
    try:
        install_dependencies(node_runtime)
    except InstallError as exc:
        pytest.fail(f"node pack setup failed at step '{exc.step}':\n{exc.detail}")
    return node_runtime


@pytest.mark.parametrize(
    "step, script",
    [
        ("lint the node pack (npm run lint)", "lint"),
        ("check the formatting (npm run format:check)", "format:check"),
        ("run the node pack's unit tests (npm test)", "test"),
    ],
)
def test_node_pack_check_passes(pack_runtime: Runtime, step: str, script: str) -> None:
    try:
        npm(pack_runtime, step, "run", script)
    except InstallError as exc:
        pytest.fail(f"{exc.step} failed:\n{exc.detail}", pytrace=False)
