"""Installing what a run needs, outside the clone and reused across runs.

Debian's nginx-light and wrk go on the machine; Python and Node packages go into
~/.cache/ai-gateway-bench (or $AI_GATEWAY_BENCH_CACHE), one folder per pinned set,
rebuilt only when its pin file changes.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import BenchError

BENCH_DIR = Path(__file__).resolve().parent.parent
PEERS_DIR = BENCH_DIR / "peers"
DEBIAN_TOOLS = {"nginx": "nginx-light", "wrk": "wrk"}


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "ai-gateway-bench"
    path = Path(os.environ.get("AI_GATEWAY_BENCH_CACHE", default)).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def find_tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def ensure_debian_tools(log) -> None:
    """Install nginx-light and wrk with apt-get if either is missing."""
    missing = [pkg for tool, pkg in DEBIAN_TOOLS.items() if not find_tool(tool)]
    if not missing:
        return

    command = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    advice = f"install them with `sudo {' '.join(command)}` and rerun"
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError(
            f"{', '.join(missing)} missing and not root with apt-get: {advice}"
        )

    log(f"installing {', '.join(missing)} from Debian")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if _run_quiet(command, env) != 0:
        _run_quiet(["apt-get", "update"], env)
        if _run_quiet(command, env) != 0:
            raise BenchError(
                f"apt-get could not install {', '.join(missing)}: {advice}"
            )


def ensure_venv(folder: Path, requirements: Path, log) -> Path:
    """A venv in folder with requirements installed; returns its python.

    The venv is rebuilt when the requirements file or a file it includes changes.
    """
    stamp = folder / ".installed"
    digest = _digest(requirements, *_included_files(requirements))
    python = folder / "venv" / "bin" / "python"
    if python.exists() and stamp.exists() and stamp.read_text() == digest:
        return python

    log(f"installing {requirements.relative_to(BENCH_DIR)} into {folder}")
    shutil.rmtree(folder / "venv", ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    _check_call([sys.executable, "-m", "venv", str(folder / "venv")], folder)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    _check_call([*pip, "-r", str(requirements)], folder)
    stamp.write_text(digest)
    return python


def ensure_bench_venv(log) -> Path:
    """The venv for the slow upstream and the stand-in gateway."""
    requirements = BENCH_DIR / "requirements.txt"
    return ensure_venv(cache_dir() / "bench", requirements, log)


def ensure_litellm(log) -> Path:
    """LiteLLM's proxy from the frozen pin file; returns the `litellm` command."""
    requirements = PEERS_DIR / "litellm" / "requirements.txt"
    folder = cache_dir() / f"litellm-{pinned_version(requirements, 'litellm')}"
    python = ensure_venv(folder, requirements, log)
    return python.parent / "litellm"


def ensure_portkey(log) -> Path:
    """Portkey's gateway from the committed lock file; returns its start script."""
    source = PEERS_DIR / "portkey"
    folder = cache_dir() / f"portkey-{portkey_version()}"
    script = folder / "node_modules" / "@portkey-ai" / "gateway" / "build"
    script = script / "start-server.js"
    stamp = folder / ".installed"
    digest = _digest(source / "package-lock.json")
    if script.exists() and stamp.exists() and stamp.read_text() == digest:
        return script

    if not shutil.which("npm"):
        raise BenchError("npm is missing: Portkey's gateway runs on Node 20 and npm")

    log(f"installing @portkey-ai/gateway {portkey_version()} into {folder}")
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy(source / name, folder / name)
    # Its only install script runs patch-package, and the package ships no patches.
    _check_call(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"], folder)
    stamp.write_text(digest)
    return script


def portkey_version() -> str:
    manifest = json.loads((PEERS_DIR / "portkey" / "package.json").read_text())
    return manifest["dependencies"]["@portkey-ai/gateway"]


def pinned_version(requirements: Path, name: str) -> str:
    for line in requirements.read_text().splitlines():
        package, _, version = line.partition("==")
        if package.split("[")[0].strip().lower() == name:
            return version.strip()

    raise BenchError(f"{requirements} pins no {name}")


def _included_files(requirements: Path) -> list[Path]:
    found = []
    for line in requirements.read_text().splitlines():
        option, _, name = line.strip().partition(" ")
        if option in ("-r", "-c") and name:
            found.append(requirements.parent / name.strip())

    return found


def _digest(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())

    return digest.hexdigest()


def _run_quiet(argv: list[str], env: dict) -> int:
    return subprocess.run(argv, env=env, capture_output=True, check=False).returncode


def _check_call(argv: list[str], cwd: Path) -> None:
    completed = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        output = (completed.stdout + completed.stderr)[-3000:]
        raise BenchError(f"`{' '.join(argv)}` failed in {cwd}:\n{output}")
