"""Notice a client that hangs up while its call waits on a provider, and cancel it.

A WSGI server only learns that a client left when it next writes to it; an LLM call
may wait a minute before that, paying for tokens nobody will read. Under gunicorn's
gevent worker, ``ClientWatch`` puts a read watcher on the client's socket once the
call first waits on a provider: a peek that returns no bytes means the client
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
    """Watches one call's client connection from ``arm`` until ``stop``.

    A libev read watcher on the client socket, not a greenlet: it costs a few
    microseconds per call and, unlike a greenlet waiting on the socket, cannot
    collide with gunicorn reading the next keep-alive request. It is armed only
    once the request body has been read (the first wait on a provider): before
    that, unread body bytes would look like a pipelined request and end the watch.
    """

    __slots__ = ("_gevent", "_io", "_client", "_waiter", "_call", "_armed")

    def __init__(self, environ: Mapping[str, Any], call: CallContext) -> None:
        self._io = None
        self._armed = False
        gevent = _gevent()
        client = environ.get("gunicorn.socket")
        if gevent is None or client is None:
            self._armed = True  # nothing to watch: arming is a no-op
            return

        self._gevent = gevent
        self._client = client
        self._call = call

    def arm(self) -> None:
        """Start watching, once; the caller's greenlet is the one interrupted."""
        if self._armed:
            return

        self._armed = True
        self._waiter = self._gevent.getcurrent()
        self._io = self._gevent.get_hub().loop.io(self._client.fileno(), 1)
        self._io.start(self._on_readable)

    def stop(self) -> None:
        self._armed = True  # a stopped watch is never armed again
        if self._io is not None:
            self._io.stop()
            self._io.close()
            self._io = None

    def _on_readable(self) -> None:
        # Runs in the event loop: the peek must not block (the socket underneath a
        # gevent socket is non-blocking).
        try:
            data = self._client._sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.stop()
        if data:
            # The client is sending more (a pipelined request), not hanging up.
            return

        self._call.client_gone = True
        if self._call.waiting_upstream:
            self._gevent.kill(
                self._waiter, ClientDisconnectedError("the client disconnected")
            )
