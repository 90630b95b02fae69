"""Run the fake provider as a process: ``python -m tests.fakes --port 0``.

The first line on stdout is the URL it serves; it then serves until terminated.
Script it through the control API (see ``tests.fakes.server``) or ``RemoteFake``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    options = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with FakeServer(host=options.host, port=options.port) as fake:
        print(fake.url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            return


if __name__ == "__main__":
    main()
