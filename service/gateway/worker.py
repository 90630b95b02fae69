"""The gunicorn worker: gunicorn's gevent worker with a graceful stop that does not wait
on idle keep-alive connections.

gunicorn's gevent worker stops by waiting until no connection is open, and a
connection waiting for its client's next request (for up to ``keepalive`` seconds)
counts as open, so one idle client holds a stop for the whole ``graceful_timeout``.
On SIGTERM this worker ends such waits as if their keep-alive timeout had run out,
and marks every request in flight to close its connection once answered (its answer
says ``Connection: close`` if its head has not gone out yet). Requests in flight still
run to their end.

A new connection's first request is still awaited: its client opened it to send one.
"""

from __future__ import annotations

import select
from typing import Any

import gevent
from gevent import getcurrent, monkey
from gunicorn.workers.ggevent import GeventWorker

# Called on the hub, which must never block or switch: the standard library's poll,
# not the cooperative one gevent's monkey-patching puts in its place.
_poll = monkey.get_original("select", "poll")


class GatewayWorker(GeventWorker):
    """gunicorn's gevent worker; on SIGTERM, keep-alive ends (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: dict[Any, Connection] = {}

    def handle(self, listener: Any, client: Any, addr: Any) -> None:
        """Serve one connection, known to the stop while it is open."""
        connection = Connection(client)
        self.connections[connection.greenlet] = connection
        try:
            super().handle(listener, client, addr)
        finally:
            del self.connections[connection.greenlet]

    def handle_request(self, listener_name: Any, req: Any, sock: Any, addr: Any) -> Any:
        """Serve one request, known to the stop while it runs."""
        connection = self.connections[getcurrent()]
        connection.request = req
        try:
            return super().handle_request(listener_name, req, sock, addr)
        finally:
            connection.request = None
            connection.served += 1

    def timeout_ctx(self) -> RequestWait:
        """The wait for a connection's next request, under gunicorn's keep-alive
        timeout (``keepalive`` seconds)."""
        return RequestWait(self.connections[getcurrent()], super().timeout_ctx())

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        # This runs in a signal handler, where switching greenlets is unsafe.
        gevent.get_hub().loop.run_callback(self.end_keepalive)

    def end_keepalive(self) -> None:
        """Close idle connections now and busy ones after their request. It runs on
        the hub, so no connection moves meanwhile but each idle one it closes."""
        for connection in list(self.connections.values()):
            connection.end_keepalive()


class Connection:
    """A client connection of the worker, as its graceful stop sees it.

    ``request`` is the request being served (None between requests), ``wait`` the
    keep-alive timeout of the read of the next one (None while serving), ``served``
    how many requests the connection has answered.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.greenlet = getcurrent()
        self.request: Any = None
        self.wait: gevent.Timeout | None = None
        self.served = 0

    def is_idle(self) -> bool:
        """Waiting for the request after an answered one, and none of it has come."""
        return self.wait is not None and self.served > 0 and not has_input(self.sock)

    def end_keepalive(self) -> None:
        """Close the connection after the request being served, or now if idle."""
        if self.request is not None:
            self.request.force_close()
        elif self.is_idle():
            # Raised where the wait's own timeout would be: gunicorn then closes the
            # connection as it does when keep-alive runs out.
            self.greenlet.throw(self.wait)


class RequestWait:
    """A keep-alive timeout that notes on the connection when it is waiting."""

    def __init__(self, connection: Connection, timeout: gevent.Timeout) -> None:
        self.connection = connection
        self.timeout = timeout

    def __enter__(self) -> None:
        self.timeout.start()
        self.connection.wait = self.timeout

    def __exit__(self, *exc_info: Any) -> bool | None:
        self.connection.wait = None
        return self.timeout.__exit__(*exc_info)


def has_input(sock: Any) -> bool:
    """Whether bytes (or the client's close) wait to be read on ``sock``; never
    blocks."""
    poller = _poll()
    poller.register(sock.fileno(), select.POLLIN)
    return bool(poller.poll(0))
