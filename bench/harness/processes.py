"""Starting and stopping the processes a bench run needs.

Every server, upstream and load generator runs in its own session, so stopping one
signals its whole process group. The registry stops whatever is still running when
the run ends, fails, or is interrupted (Ctrl-C, SIGTERM, SIGHUP).
"""

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import BenchError


@dataclass
class Running:
    """A started process group."""

    name: str
    argv: list[str]
    popen: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""

        return "\n".join(text.splitlines()[-lines:])


class ProcessGroups:
    """Owns the process groups of one run and stops every one of them at exit."""

    def __init__(self) -> None:
        self.running: list[Running] = []
        self._previous_handlers = {}

    def __enter__(self) -> "ProcessGroups":
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous_handlers[sig] = signal.signal(sig, _raise_exit)

        return self

    def __exit__(self, *exc) -> None:
        # A second Ctrl-C while cleaning up must not leave servers behind.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for process in reversed(list(self.running)):
                self.stop(process)
        finally:
            signal.signal(signal.SIGINT, previous_int)
            for sig, handler in self._previous_handlers.items():
                signal.signal(sig, handler)

    def start(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Running:
        """Start argv in a new session with output to log_path."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = {**os.environ, **(env or {})}
        with open(log_path, "ab") as log:
            log.write(f"$ {' '.join(argv)}\n".encode())
            log.flush()
            try:
                popen = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=full_env,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise BenchError(f"cannot start {name}: {exc}") from exc

        process = Running(name, argv, popen, log_path)
        self.running.append(process)
        return process

    def stop(self, process: Running, grace: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left after grace seconds."""
        if process in self.running:
            self.running.remove(process)

        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if process.popen.poll() is not None and not _group_exists(process.pid):
                return
            time.sleep(0.1)

        _signal_group(process.pid, signal.SIGKILL)
        try:
            process.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _raise_exit(signum, _frame):
    raise SystemExit(128 + signum)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True

    return True
