"""The fake provider server: threaded HTTP/1.1 on loopback, scripted per request.

One thread serves each connection, so hundreds of concurrent connections (and pooled
keep-alive connections left idle) are served at once. Every request is recorded; one
for a known route then takes the first queued behaviour meant for its path, or the
default (a valid success). The dialect that owns the route renders the behaviour;
this module only writes it, breaking the reply where the behaviour's fault says.

Dialects are modules registered in ``DIALECTS``. Each has ``ROUTES`` (``(method,
path)`` to an endpoint taking the recorded request and the behaviour),
``render_error(request, behaviour, status)``, ``render_error_event(request,
behaviour)`` and ``MALFORMED_EVENT``; adding a provider is adding such a module.
Requests under ``/__fake__/`` go to the control API (see ``script``).
"""

from __future__ import annotations

import contextlib
import http
import http.server
import itertools
import json
import logging
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Self

from . import anthropic, openai
from .behaviours import Behaviour
from .script import CONTROL_PREFIX, Script, answer_control
from .wire import RecordedRequest, Response, json_response

log = logging.getLogger(__name__)

DIALECTS: dict[str, ModuleType] = {"openai": openai, "anthropic": anthropic}

Endpoint = Callable[[RecordedRequest, Behaviour], Response]


class FakeServer:
    """A fake provider on ``host``, serving ``dialects`` (None: all of ``DIALECTS``).

    The port is bound on construction (0 picks a free one), so ``url`` is known before
    ``start``. Use it as a context manager, or call ``start`` and ``stop``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        dialects: Iterable[ModuleType] | None = None,
    ) -> None:
        self.script = Script()
        chosen = list(DIALECTS.values() if dialects is None else dialects)
        self._server = _Server((host, port), self.script, chosen)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fake-provider-{self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, end delays and stalls, and close every open connection."""
        self._server.stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def queue(self, *behaviours: Behaviour) -> None:
        self.script.queue(*behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        self.script.set_default(behaviour)

    def requests(self) -> list[RecordedRequest]:
        return self.script.requests()

    def pending(self) -> int:
        return self.script.pending()

    def reset(self) -> None:
        self.script.reset()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], script: Script, dialects: list[ModuleType]
    ) -> None:
        self.script = script
        self.routes: dict[tuple[str, str], tuple[ModuleType, Endpoint]] = {
            route: (dialect, endpoint)
            for dialect in dialects
            for route, endpoint in dialect.ROUTES.items()
        }
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._aborted: set[socket.socket] = set()
        self._connection_numbers = itertools.count(1)
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host up in DNS (getfqdn); loopback needs not.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def next_connection_number(self) -> int:
        with self._lock:
            return next(self._connection_numbers)

    def abort(self, connection: socket.socket) -> None:
        """Make the coming close of ``connection`` a reset (RST) instead of a FIN."""
        linger = struct.pack("ii", 1, 0)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        with self._lock:
            self._aborted.add(connection)

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
            aborted = request in self._aborted
            self._aborted.discard(request)
        if aborted:
            # A shutdown() first would send a FIN before the RST.
            self.close_request(request)
        else:
            super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client may reset a connection it no longer wants (a half-read body
        # cannot be reused); that is not an error of the fake's.
        if not isinstance(sys.exc_info()[1], ConnectionResetError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Its handler thread may have closed it since the copy was taken.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-provider/1"
    disable_nagle_algorithm = True
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection_number = self.server.next_connection_number()

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)

    def do_GET(self) -> None:
        self.answer()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def answer(self) -> None:
        body = self.read_body()
        path, _, query = self.path.partition("?")
        if path.startswith(CONTROL_PREFIX):
            self.write_whole(
                answer_control(self.server.script, self.command, path, body)
            )
            return

        request = self.server.script.record(
            connection=self.connection_number,
            method=self.command,
            path=path,
            query=query,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=body,
            json=parse_json(body),
        )
        route = self.server.routes.get((self.command, path))
        if route is None:
            message = f"The fake provider has no route {self.command} {path}."
            self.write_whole(json_response(404, {"error": {"message": message}}))
            return

        behaviour = self.server.script.take(path)
        if behaviour.delay_s:
            self.server.stopping.wait(behaviour.delay_s)
        try:
            self.perform(*route, request, behaviour)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up (a gateway timing out, or the fake stopping): there
            # is no one left to answer.
            log.debug("client of %s left before the answer was written", path)
            self.close_connection = True

    def read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self.read_chunked_body()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length)

    def read_chunked_body(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0], 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def perform(
        self,
        dialect: ModuleType,
        endpoint: Endpoint,
        request: RecordedRequest,
        behaviour: Behaviour,
    ) -> None:
        if behaviour.fault == "reset" and behaviour.before_headers:
            self.abort()
            return

        if behaviour.kind == "raw":
            headers = [("Content-Type", behaviour.content_type)]
            response = Response(behaviour.status, headers, behaviour.body.encode())
        elif behaviour.kind == "error":
            response = dialect.render_error(request, behaviour, behaviour.status)
        else:
            response = endpoint(request, behaviour)
        response = response.with_headers(behaviour.headers)

        fault = behaviour.fault if response.status < 400 else None
        if response.events is None:
            self.write_body(dialect, request, response, behaviour, fault)
        else:
            self.write_stream(dialect, request, response, behaviour, fault)

    def write_body(
        self,
        dialect: ModuleType,
        request: RecordedRequest,
        response: Response,
        behaviour: Behaviour,
        fault: str | None,
    ) -> None:
        if fault is None:
            self.write_whole(response)
            return
        if fault == "error_event":
            self.write_whole(dialect.render_error(request, behaviour, 200))
            return

        size = len(response.body) // 2
        if behaviour.after_bytes is not None:
            size = behaviour.after_bytes
        part = response.body[:size]
        if fault == "malformed_event":
            self.write_whole(Response(response.status, response.headers, part))
            return

        self.write_head(response, length=len(response.body))
        self.wfile.write(part)
        self.break_off(fault, behaviour)

    def write_stream(
        self,
        dialect: ModuleType,
        request: RecordedRequest,
        response: Response,
        behaviour: Behaviour,
        fault: str | None,
    ) -> None:
        events = response.events or []
        count = behaviour.after_events
        if fault == "error_event":
            events = [*events[:count], dialect.render_error_event(request, behaviour)]
        elif fault == "malformed_event":
            events = [*events[:count], dialect.MALFORMED_EVENT, *events[count:]]

        chunked = self.request_version != "HTTP/1.0"
        self.write_head(response, chunked=chunked)
        if fault in ("reset", "cut", "stall"):
            events = events[:count]
        for event in events:
            self.wfile.write(
                b"%x\r\n%s\r\n" % (len(event), event) if chunked else event
            )

        if fault in ("reset", "stall") or (
            fault == "cut" and not behaviour.http_complete
        ):
            self.break_off(fault, behaviour)
        elif chunked:
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.close_connection = True

    def write_head(
        self, response: Response, *, length: int | None = None, chunked: bool = False
    ) -> None:
        self.send_response(response.status, reason_phrase(response.status))
        for name, value in response.headers:
            self.send_header(name, value)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def write_whole(self, response: Response) -> None:
        self.write_head(response, length=len(response.body))
        self.wfile.write(response.body)

    def break_off(self, fault: str, behaviour: Behaviour) -> None:
        """End a response that was sent in part: reset, close, or stall then close."""
        if fault == "reset":
            self.abort()
            return
        if fault == "stall":
            self.server.stopping.wait(behaviour.stall_s)
        self.close_connection = True

    def abort(self) -> None:
        self.server.abort(self.connection)
        self.close_connection = True


def parse_json(body: bytes) -> Any:
    """Return the parsed body, or None if it is empty or not JSON."""
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def reason_phrase(status: int) -> str:
    if status == 529:
        return "Site Overloaded"
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
