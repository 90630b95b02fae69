"""The one place the gateway talks to providers over the network.

Built on geventhttpclient's connection pool and its C HTTP parser (llhttp): on this
machine a call through this module costs 90-99 µs of CPU, through urllib3 (with
http.client parsing headers under it) 219-227 µs (``bench/client_cost.py``,
bench/RESULTS.md); requests' Session, a layer over urllib3, cost ~570 µs more.
Every lower-level error is mapped here to the most specific ``ProviderError``,
according to the phase of the call it happened in; a test walks the error classes
to keep it so.

In-process upstreams (the built-in ``demo`` provider) are mounted by URL prefix and
answer through the same ``UpstreamResponse`` interface, so they exercise the same
parsing, streaming and accounting code as a real provider.
"""

from __future__ import annotations

import collections
import re
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import brotli
from geventhttpclient.connectionpool import ConnectionPool, SSLConnectionPool
from geventhttpclient.response import (
    HTTPConnectionClosed,
    HTTPParseError,
    HTTPSocketPoolResponse,
)

from .errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderResponseTooLargeError,
    ProviderTimeoutError,
)
from .providers.types import ProviderCall
from .routing.policy import Timeouts, with_limit

READ_CHUNK_BYTES = 64 * 1024


class UpstreamResponse:
    """A response whose head has arrived; the body is read on demand."""

    status: int
    headers: Mapping[str, str]

    def read(self, limit: int) -> bytes:
        """Read the whole body; raise ProviderInvalidResponseError past ``limit``."""
        raise NotImplementedError

    def iter_chunks(self) -> Iterator[bytes]:
        """Yield body bytes as they arrive."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the connection (or drop it if the body was not fully read)."""


class LocalResponse(UpstreamResponse):
    """An in-process upstream's answer (see ``Transport.mount``)."""

    def __init__(
        self, status: int, headers: Mapping[str, str], chunks: Iterator[bytes]
    ) -> None:
        self.status = status
        self.headers = {name.lower(): value for name, value in headers.items()}
        self._chunks = chunks

    def read(self, limit: int) -> bytes:
        body = b"".join(self._chunks)
        if len(body) > limit:
            raise ProviderResponseTooLargeError(f"response larger than {limit} bytes")

        return body

    def iter_chunks(self) -> Iterator[bytes]:
        return self._chunks


LocalHandler = Callable[[ProviderCall], LocalResponse]


class _ParsedResponse(HTTPSocketPoolResponse):
    """geventhttpclient's pooled response, read piece by piece as the parser
    produces them.

    Its own ``read(n)`` waits until ``n`` bytes are buffered, where a stream needs
    each event as soon as it arrives; and one piece per HTTP chunk keeps a chunk
    that arrives with the next one from being judged together with it (a failure
    after the first piece reaches the client as a stream error). When the body
    ends the parser hands the socket back to the pool (``_on_message_complete``).
    """

    def __init__(self, sock: Any, pool: ConnectionPool, **options: Any) -> None:
        # Set before the base class reads the head, which may parse body bytes.
        self._pieces: collections.deque[bytes] = collections.deque()
        super().__init__(sock, pool, **options)

    def _on_body(self, buf: bytearray) -> None:
        if buf:
            self._pieces.append(bytes(buf))

    def read_piece(self, timeout: float) -> bytes:
        """The next piece of the body, waiting up to ``timeout`` seconds per
        receive; ``b""`` once the body is complete.

        Raises TimeoutError, OSError or HTTPParseError; the socket is dropped then.
        """
        while not self._pieces and not self.message_complete:
            sock = self._sock
            if sock is None:
                raise HTTPConnectionClosed("the connection closed")
            try:
                sock.settimeout(timeout)
                data = sock.recv(self.block_size)
                if data:
                    self.feed(data)
                else:
                    self._end_of_stream()
            except BaseException:
                self.release()
                raise

        return self._pieces.popleft() if self._pieces else b""

    def _end_of_stream(self) -> None:
        """The provider closed the connection: that completes a body delimited by
        the close; any other body was cut short."""
        try:
            self.feed(b"")
        except HTTPParseError:
            pass
        if not self.message_complete:
            raise HTTPConnectionClosed("the connection closed mid-body")


class _PooledResponse(UpstreamResponse):
    def __init__(
        self, parsed: _ParsedResponse, timeouts: Timeouts, deadline: float
    ) -> None:
        self._parsed = parsed
        self._timeouts = timeouts
        self._deadline = deadline
        self.status = parsed.status_code
        self.headers = {name.lower(): value for name, value in parsed.items()}

    def read(self, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        for chunk in self.iter_chunks():
            size += len(chunk)
            if size > limit:
                raise ProviderResponseTooLargeError(
                    f"response larger than {limit} bytes"
                )
            parts.append(chunk)

        return b"".join(parts)

    def iter_chunks(self) -> Iterator[bytes]:
        decoder = _body_decoder(self.headers.get("content-encoding", ""))
        limit = "stall"
        try:
            while True:
                wait, limit = self._next_wait()
                chunk = self._parsed.read_piece(wait)
                if not chunk:
                    return
                if decoder is not None:
                    chunk = decoder(chunk)
                    if not chunk:
                        continue
                yield chunk
        except Exception as exc:
            raise with_limit(map_transport_error(exc, "body"), limit) from exc

    def close(self) -> None:
        # Back to the pool if the body was read to its end; a half-read body
        # cannot go back, so its connection is closed.
        self._parsed.release()

    def _next_wait(self) -> tuple[float, str]:
        """Seconds to wait for the next chunk, and the limit that sets them."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise with_limit(
                ProviderTimeoutError("the provider did not finish in time"), "total"
            )
        if self._timeouts.stall > remaining:
            return remaining, "total"

        return self._timeouts.stall, "stall"


def _body_decoder(encoding: str) -> Callable[[bytes], bytes] | None:
    """A streaming decoder for a compressed body, None for an identity one.

    The gateway asks for no compression (it sends no Accept-Encoding), but a proxy
    in front of a provider may compress all the same; gzip, deflate and br are
    decoded piece by piece, so a compressed stream is still relayed as it arrives.
    Raises ProviderInvalidResponseError for an encoding it cannot decode.
    """
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        # wbits 47: a gzip or a zlib header, detected from the first bytes.
        return zlib.decompressobj(wbits=47).decompress
    if encoding == "br":
        return brotli.Decompressor().process

    raise ProviderInvalidResponseError(
        f"the provider's response is {encoding}-encoded, which the gateway cannot read"
    )


@dataclass(frozen=True, slots=True)
class _Route:
    """A provider URL, parsed once: its connection pool, its request target and the
    value of its Host header."""

    pool: ConnectionPool
    target: str
    host: str


class Transport:
    """Pooled HTTP to providers, plus in-process upstreams mounted by URL prefix."""

    def __init__(self, max_connections: int = 1000) -> None:
        # A pool holds at most this many connections and makes a caller wait for
        # one beyond that; a worker never has more calls in flight than its
        # connection limit, so nobody waits.
        self._max_connections = max_connections
        self._mounts: dict[str, LocalHandler] = {}
        # (scheme, host, port, connect timeout) -> pool: the pool sets the timeout
        # when it connects.
        self._pools: dict[tuple[str, str, int, float], ConnectionPool] = {}
        # (URL, connect timeout) -> route: a provider's URLs are few and fixed.
        self._routes: dict[tuple[str, float], _Route] = {}

    def mount(self, prefix: str, handler: LocalHandler) -> None:
        """Answer calls whose URL starts with ``prefix`` in-process."""
        self._mounts[prefix] = handler

    def send(self, call: ProviderCall, timeouts: Timeouts) -> UpstreamResponse:
        """Send ``call`` and return once the response head has arrived.

        Raises ProviderConnectionError or ProviderTimeoutError (or ProviderError for
        a URL or header that cannot be sent); HTTP error statuses are returned, not
        raised (the provider module decides what they mean).
        """
        for prefix, handler in self._mounts.items():
            if call.url.startswith(prefix):
                return handler(call)

        deadline = time.monotonic() + timeouts.total
        connect = min(timeouts.connect, timeouts.total)
        first_byte = min(timeouts.first_byte, timeouts.total)
        route = self._route(call.url, connect)
        message = _request_message(call, route)
        phase = "connect"
        try:
            sock = route.pool.get_socket()
            phase = "first_byte"
            try:
                sock.settimeout(first_byte)
                sock.sendall(message)
            except BaseException:
                route.pool.release_socket(sock)
                raise
            parsed = _ParsedResponse(
                sock, route.pool, block_size=READ_CHUNK_BYTES, method=call.method
            )
        except Exception as exc:
            limit = "total" if getattr(timeouts, phase) > timeouts.total else phase
            raise with_limit(map_transport_error(exc, phase), limit) from exc

        return _PooledResponse(parsed, timeouts, deadline)

    def _route(self, url: str, connect: float) -> _Route:
        route = self._routes.get((url, connect))
        if route is not None:
            return route

        try:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ProviderError("the provider's base URL is not a valid URL") from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError("the provider's base URL is not a valid URL")

        pool = self._pool(parts.scheme, parts.hostname, port, connect)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        host = parts.netloc.rpartition("@")[2]
        route = _Route(pool, target, host)
        if len(self._routes) < 1024:
            self._routes[(url, connect)] = route

        return route

    def _pool(
        self, scheme: str, host: str, port: int, connect: float
    ) -> ConnectionPool:
        key = (scheme, host, port, connect)
        pool = self._pools.get(key)
        if pool is None:
            kind = SSLConnectionPool if scheme == "https" else ConnectionPool
            pool = kind(
                host,
                port,
                host,
                port,
                size=self._max_connections,
                connection_timeout=connect,
            )
            self._pools[key] = pool

        return pool

    def close(self) -> None:
        self._routes.clear()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


# RFC 9110 field-name token, and a field value without CR, LF or NUL.
_FIELD_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(r"[^\r\n\x00]*")


def _request_message(call: ProviderCall, route: _Route) -> bytes:
    """The HTTP/1.1 request: head and body, ready for one ``sendall``.

    Raises ProviderError for a header that cannot be sent as it is (a line break in
    a value would let the value smuggle headers of its own).
    """
    lines = [f"{call.method} {route.target} HTTP/1.1", f"Host: {route.host}"]
    for name, value in call.headers.items():
        if not _FIELD_NAME.fullmatch(name) or not _FIELD_VALUE.fullmatch(value):
            raise ProviderError(f"header {name!r} for the provider is not valid HTTP")
        if name.lower() not in ("host", "content-length"):
            lines.append(f"{name}: {value}")
    body = call.body or b""
    lines.append(f"Content-Length: {len(body)}")
    try:
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ProviderError("a header for the provider is not Latin-1 text") from exc

    return head + body


def map_transport_error(exc: BaseException, phase: str) -> ProviderError:
    """Translate a socket, TLS or HTTP parsing error into the most specific
    ProviderError. ``phase`` is where it happened: ``connect``, ``first_byte``
    (sending and waiting for the response head) or ``body``."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):
        if phase == "connect":
            return ProviderTimeoutError("connecting to the provider timed out")
        return ProviderTimeoutError("the provider did not answer in time")
    if isinstance(exc, socket.gaierror):
        return ProviderConnectionError("could not resolve the provider's host")
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return ProviderConnectionError("TLS with the provider failed")
    if isinstance(exc, HTTPConnectionClosed):
        return ProviderConnectionError("the connection to the provider broke")
    if isinstance(exc, HTTPParseError):
        return ProviderInvalidResponseError("the provider's response was not HTTP")
    if isinstance(exc, zlib.error | brotli.error):
        return ProviderInvalidResponseError("the provider's response did not decode")
    if phase == "connect" and isinstance(exc, OSError | RuntimeError):
        # The pool raises RuntimeError when a host resolves to no address.
        return ProviderConnectionError("could not connect to the provider")
    if isinstance(exc, OSError):
        return ProviderConnectionError("the connection to the provider broke")

    raise exc
