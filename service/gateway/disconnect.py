"""Notice a client that hangs up while its call waits on a provider, and cancel it.

A WSGI server only learns that a client left when it next writes to it; an LLM call
may wait a minute before that, paying for tokens nobody will read. Under gunicorn's
gevent worker, ``ClientWatch`` runs one small greenlet per call that waits for the
client's socket to become readable: a peek that returns no bytes means the client
closed the connection. If the call is waiting on a provider at that moment, it is
interrupted with ``ClientDisconnectedError``, which closes the upstream connection
and records the row as 499; otherwise the next write to the client fails and the
stream records the same. Elsewhere (Flask's test client, other workers) the watch
does nothing.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

from .context import CallContext
from .errors import ClientDisconnectedError


def _gevent() -> Any:
    try:
        import gevent
        from gevent import monkey
    except ImportError:
        return None

    return gevent if monkey.is_module_patched("socket") else None


class ClientWatch:
    """Watches one call's client connection until ``stop``."""

    __slots__ = ("_watcher",)

    def __init__(self, environ: Mapping[str, Any], call: CallContext) -> None:
        self._watcher = None
        gevent = _gevent()
        client = environ.get("gunicorn.socket")
        if gevent is not None and client is not None:
            waiter = gevent.getcurrent()
            self._watcher = gevent.spawn(_wait_for_hangup, gevent, client, waiter, call)

    def stop(self) -> None:
        # Blocking until the watcher is gone: gunicorn reads the next keep-alive
        # request from the same socket, and gevent allows one waiter per socket.
        if self._watcher is not None:
            self._watcher.kill(block=True)
            self._watcher = None


def _wait_for_hangup(gevent: Any, client: socket.socket, waiter: Any, call: CallContext) -> None:
    try:
        gevent.socket.wait_read(client.fileno())
        data = client.recv(1, socket.MSG_PEEK)
    except OSError:
        data = b""
    if data:
        # The client is sending more (a pipelined request), not hanging up.
        return

    call.client_gone = True
    if call.waiting_upstream:
        gevent.kill(waiter, ClientDisconnectedError("the client disconnected"))
