"""The node pack passes its own checks: n8n's linter (no rule switched off), the
formatter, and its unit tests (request building, output and error mapping, and the
workflow checker). They run on the cached Node 24 with the locked dev dependencies."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from .install import InstallError, Runtime
from .pack import PACK_DIR, install_dependencies, npm

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


# What a built pack may ship besides package.json and README.md.
BUILT_SUFFIXES = (".js", ".js.map", ".d.ts", ".json", ".svg")


def test_tarball_holds_the_built_nodes_and_no_build_cache(
    node_pack_tarball: Path,
) -> None:
    """The `npm pack` tarball users install: the compiled nodes, credentials and
    icons, nothing of TypeScript's incremental build cache, sources or tests."""
    with tarfile.open(node_pack_tarball) as archive:
        files = {name.removeprefix("package/") for name in archive.getnames()}
    package = json.loads((PACK_DIR / "package.json").read_text())

    built = files - {"package.json", "README.md"}
    assert "package.json" in files and "README.md" in files
    assert [name for name in built if not name.startswith("dist/")] == []
    assert [name for name in built if not name.endswith(BUILT_SUFFIXES)] == []
    entry_points = package["n8n"]["nodes"] + package["n8n"]["credentials"]
    assert [name for name in entry_points if name not in files] == []
    assert {"dist/icons/aiGateway.svg", "dist/icons/aiGateway.dark.svg"} <= files
