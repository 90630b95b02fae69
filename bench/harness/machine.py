"""Facts about the machine and the version of every component, for the report."""

import os
import platform
import subprocess
import sys
from pathlib import Path


def machine_facts() -> dict[str, str]:
    return {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} ({len(os.sched_getaffinity(0))} usable)",
        "RAM": f"{_meminfo_kb('MemTotal') / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "OS": _os_name(),
        "load average at start": load_average(),
    }


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def command_output(argv: list[str], cwd: Path | None = None) -> str:
    """First line a command prints (stdout or stderr), or '' if it cannot run."""
    try:
        completed = subprocess.run(
            argv, capture_output=True, text=True, cwd=cwd, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""

    text = (completed.stdout or completed.stderr).strip()
    return text.splitlines()[0] if text else ""


def package_versions(python: Path, names: list[str]) -> dict[str, str]:
    """Versions of distributions installed for an interpreter; absent ones are '-'."""
    script = (
        "import importlib.metadata as m, sys\n"
        "for n in sys.argv[1:]:\n"
        "    try: print(n, m.version(n))\n"
        "    except m.PackageNotFoundError: print(n, '-')\n"
    )
    try:
        completed = subprocess.run(
            [str(python), "-c", script, *names],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError:
        return dict.fromkeys(names, "-")

    found = dict(line.split(" ", 1) for line in completed.stdout.splitlines())
    return {name: found.get(name, "-") for name in names}


def tool_versions() -> dict[str, str]:
    nginx = command_output(["nginx", "-v"]) or command_output(["/usr/sbin/nginx", "-v"])
    return {
        "harness Python": sys.version.split()[0],
        "Node": command_output(["node", "--version"]),
        "nginx (fast upstream)": nginx.replace("nginx version: ", ""),
        "wrk (load)": command_output(["wrk", "-v"]).split(" Copyright")[0],
    }


def git_revision(repo: Path) -> str:
    """Short commit of the working tree, with '+changes' if it differs from it."""
    commit = command_output(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    if not commit or " " in commit:
        commit = "no commit"

    changed = command_output(["git", "status", "--porcelain"], cwd=repo)
    return commit + (" +changes" if changed else "")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass

    return platform.processor() or "unknown"


def _meminfo_kb(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

    return 0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass

    return platform.system()
