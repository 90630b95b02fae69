"""Addresses where connecting fails: refused at once, or never answered.

These faults happen before any HTTP, so they are places to point a client at rather
than behaviours of a running fake.
"""

from __future__ import annotations

import contextlib
import select
import socket
from collections.abc import Iterator

FILL_ATTEMPTS = 16

FILL_WAIT_S = 0.2


@contextlib.contextmanager
def refused_port(host: str = "127.0.0.1") -> Iterator[int]:
    """Yield a port on ``host`` where a connect is refused at once (RST).

    The port stays bound without listening, so nothing else can take it meanwhile.
    """
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((host, 0))
        yield holder.getsockname()[1]
    finally:
        holder.close()


@contextlib.contextmanager
def unaccepting_port(host: str = "127.0.0.1") -> Iterator[int]:
    """Yield a port on ``host`` where a connect hangs until the client times out.

    A listener with a zero backlog never accepts; once its accept queue is filled the
    kernel drops further SYNs, so a new connect gets no answer at all. Raise
    RuntimeError if the queue does not fill within ``FILL_ATTEMPTS`` connections.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    fillers: list[socket.socket] = []
    try:
        listener.bind((host, 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(FILL_ATTEMPTS):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            fillers.append(filler)
            filler.setblocking(False)
            filler.connect_ex(address)
            _, writable, _ = select.select([], [filler], [], FILL_WAIT_S)
            if not writable:
                break
        else:
            raise RuntimeError(f"the accept queue of {address} did not fill")
        yield address[1]
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
