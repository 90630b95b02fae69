"""Build the node pack and pack it with npm, as it would be published.

Dependencies come from the committed lockfile (`npm ci`); the install is skipped
when node_modules already matches it. Runs on the cached Node 24.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

from .install import InstallError, Runtime, run_step

REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = REPOSITORY_ROOT / "n8n-nodes"
PACKAGE_NAME = "n8n-nodes-ai-gateway"
SETUP_SCRIPT = PACK_DIR / "docker" / "setup.js"
NPM_TIMEOUT_S = 600


def npm(runtime: Runtime, step: str, *args: str, timeout: int = NPM_TIMEOUT_S) -> str:
    """Run npm in the pack folder; raise InstallError naming ``step`` when it fails."""
    env = runtime.env()
    # @n8n/node-cli's preinstall asks npx for a package; never prompt.
    env["npm_config_yes"] = "true"
    return run_step(
        step, ["npm", *args], cwd=PACK_DIR, env=env, timeout=timeout, tail=60
    )


def install_dependencies(runtime: Runtime) -> None:
    lockfile = PACK_DIR / "package-lock.json"
    stamp = PACK_DIR / "node_modules" / ".ai-gateway-lock-sha256"
    digest = hashlib.sha256(lockfile.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text().strip() == digest:
        return

    # Install scripts are not needed to build, lint or test the pack.
    npm(
        runtime,
        "install the node pack's dev dependencies (npm ci)",
        "ci",
        "--ignore-scripts",
    )
    stamp.write_text(digest + "\n")


def build_tarball(runtime: Runtime, destination: Path) -> Path:
    """Build the pack and return the `npm pack` tarball written to ``destination``."""
    install_dependencies(runtime)
    npm(runtime, "build the node pack (npm run build)", "run", "build")
    destination.mkdir(parents=True, exist_ok=True)
    out = npm(
        runtime,
        "pack the node pack (npm pack)",
        "pack",
        "--pack-destination",
        str(destination),
    )
    name = out.strip().splitlines()[-1]
    tarball = destination / name
    if not tarball.exists():
        raise InstallError("pack the node pack (npm pack)", f"no tarball at {tarball}")
    return tarball


def unpack_tarball(tarball: Path, destination: Path) -> Path:
    """Unpack an `npm pack` tarball (files under "package/") into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(destination, filter="data")

    return destination / "package"
