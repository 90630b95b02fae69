"""Readiness checks: a port that accepts, then a chat completion that answers 200."""

import http.client
import socket
import time
from urllib.parse import urlsplit

from .errors import BenchError
from .processes import Running


def is_port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_free_port(port: int, what: str) -> None:
    if is_port_open(port):
        raise BenchError(
            f"port {port} for {what} is already taken on 127.0.0.1: stop what "
            f"listens there (`ss -ltnp 'sport = :{port}'` shows it) and rerun"
        )


def wait_for_port(port: int, process: Running, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not is_port_open(port):
        _check_alive(process)
        if time.monotonic() > deadline:
            raise BenchError(
                f"{process.name} did not listen on port {port} within {timeout:.0f}s;"
                f" log {process.log_path}:\n{process.log_tail()}"
            )
        time.sleep(0.25)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0):
    """POST body to url; return (status, headers dict lower-cased, body bytes)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        all_headers = {"Content-Type": "application/json", **headers}
        connection.request("POST", parts.path, body=body, headers=all_headers)
        response = connection.getresponse()
        payload = response.read()
        found = {k.lower(): v for k, v in response.getheaders()}
        return response.status, found, payload
    finally:
        connection.close()


def wait_for_ok(
    url: str,
    body: bytes,
    headers: dict[str, str],
    process: Running | None,
    timeout: float,
) -> dict[str, str]:
    """Retry the request until it answers 200; return that response's headers."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        if process:
            _check_alive(process)
        try:
            status, found, payload = post(url, body, headers)
            if status == 200:
                return found
            last = f"HTTP {status}: {payload[:300]!r}"
        except OSError as exc:
            last = repr(exc)

        if time.monotonic() > deadline:
            where = (
                f"; log {process.log_path}:\n{process.log_tail()}" if process else ""
            )
            raise BenchError(f"{url} never answered 200 ({last}){where}")
        time.sleep(0.5)


def _check_alive(process: Running) -> None:
    if not process.is_alive():
        raise BenchError(
            f"{process.name} exited with code {process.popen.returncode}; "
            f"log {process.log_path}:\n{process.log_tail()}"
        )
