"""CPU per upstream call of the gateway's transport against urllib3: a measurement.

Starts the fast upstream (nginx, as `bench/run` does), then, in one gevent-patched
process as in a gunicorn worker, sends the bench's chat request again and again
through each client in turn, alternating rounds so a change in background load
reaches both, and prints the CPU time per call of each round:

- ``transport``: ``gateway.transport.Transport``, the gateway's own code
  (geventhttpclient's pool and parser, the body read piece by piece);
- ``urllib3``: a urllib3 connection pool used as the transport used it until
  2026-12-04 (``urlopen`` without preloading, ``read1`` until the end).

    .venv/bin/python bench/client_cost.py [--calls 5000] [--rounds 3]
"""

# ruff: noqa: E402 (gevent must patch the standard library before anything imports it)

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import urllib3

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "service")]

from bench.harness.processes import ProcessGroups
from bench.harness.upstreams import start_fast
from gateway.providers.types import ProviderCall
from gateway.routing.policy import Timeouts
from gateway.transport import Transport

BODY = (REPO / "bench" / "harness" / "payloads" / "request.json").read_bytes()
HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer bench"}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def transport_client(url: str) -> Callable[[], int]:
    transport = Transport()
    call = ProviderCall("POST", url, HEADERS, BODY)
    timeouts = Timeouts()

    def send() -> int:
        response = transport.send(call, timeouts)
        size = len(response.read(1 << 20))
        response.close()
        return size

    return send


def urllib3_client(url: str) -> Callable[[], int]:
    pool = urllib3.PoolManager(maxsize=10, retries=False).connection_from_url(url)
    path = urllib3.util.parse_url(url).request_uri
    timeout = urllib3.Timeout(connect=10, read=120)

    def send() -> int:
        response = pool.urlopen(
            "POST",
            path,
            body=BODY,
            headers=HEADERS,
            timeout=timeout,
            preload_content=False,
            redirect=False,
            retries=False,
            assert_same_host=False,
        )
        size = 0
        while chunk := response.read1(64 * 1024):
            size += len(chunk)
        response.release_conn()
        return size

    return send


def measure(send: Callable[[], int], calls: int) -> tuple[float, float]:
    """(CPU µs per call, wall µs per call)."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    for _ in range(calls):
        if not send():
            raise SystemExit("the upstream answered an empty body")
    return (
        (cpu_seconds() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=18195)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="client-cost-"))
    with ProcessGroups() as groups:
        upstream = start_fast(groups, args.port, tmp / "nginx", tmp)
        clients = {
            "transport": transport_client(upstream.chat_url),
            "urllib3": urllib3_client(upstream.chat_url),
        }
        for send in clients.values():
            measure(send, 200)  # connect and warm up

        print("round  client      CPU µs/call  wall µs/call")
        for round_number in range(1, args.rounds + 1):
            for name, send in clients.items():
                cpu, wall = measure(send, args.calls)
                print(f"{round_number:5}  {name:10} {cpu:12.0f} {wall:13.0f}")


if __name__ == "__main__":
    main()
