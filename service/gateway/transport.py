"""The one place the gateway talks to providers over the network.

Built on urllib3's connection pools rather than requests' Session (requests is a layer
over urllib3): on this machine the Session layer cost ~570 µs of CPU per call, more than
the rest of the gateway's pipeline together (bench/RESULTS.md). Every lower-level error
is mapped here to the most specific ``ProviderError``; a test walks urllib3's exception
classes to keep it so.

In-process upstreams (the built-in ``demo`` provider) are mounted by URL prefix and
answer through the same ``UpstreamResponse`` interface, so they exercise the same
parsing, streaming and accounting code as a real provider.
"""

from __future__ import annotations

import http.client
import socket
import time
from collections.abc import Callable, Iterator, Mapping

import urllib3
from urllib3 import exceptions as u3

from .errors import (
    ProviderConnectionError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderResponseTooLargeError,
    ProviderTimeoutError,
)
from .providers.types import ProviderCall
from .routing.policy import Timeouts

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


class _PooledResponse(UpstreamResponse):
    def __init__(
        self, raw: urllib3.BaseHTTPResponse, timeouts: Timeouts, deadline: float
    ) -> None:
        self._raw = raw
        self._timeouts = timeouts
        self._deadline = deadline
        self._done = False
        self.status = raw.status
        self.headers = {name.lower(): value for name, value in raw.headers.items()}

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
        limit = "stall"
        try:
            while True:
                wait, limit = self._next_wait()
                _set_read_timeout(self._raw, wait)
                chunk = self._raw.read1(READ_CHUNK_BYTES)
                if not chunk:
                    self._done = True
                    return
                yield chunk
        except Exception as exc:
            raise _with_limit(map_transport_error(exc), limit) from exc

    def close(self) -> None:
        if self._done:
            self._raw.release_conn()
        else:
            # A half-read body cannot go back to the pool.
            self._raw.close()
            self._raw.release_conn()

    def _next_wait(self) -> tuple[float, str]:
        """Seconds to wait for the next chunk, and the limit that sets them."""
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise _with_limit(
                ProviderTimeoutError("the provider did not finish in time"), "total"
            )
        if self._timeouts.stall > remaining:
            return remaining, "total"

        return self._timeouts.stall, "stall"


class Transport:
    """Pooled HTTP to providers, plus in-process upstreams mounted by URL prefix."""

    def __init__(self, max_connections: int = 1000) -> None:
        self._pool = urllib3.PoolManager(
            num_pools=64, maxsize=max_connections, block=False, retries=False
        )
        self._mounts: dict[str, LocalHandler] = {}
        # URL -> (connection pool, path): a provider's URLs are few and fixed, so
        # each is parsed once rather than on every call (PoolManager.urlopen would).
        self._routes: dict[str, tuple[urllib3.HTTPConnectionPool, str]] = {}

    def mount(self, prefix: str, handler: LocalHandler) -> None:
        """Answer calls whose URL starts with ``prefix`` in-process."""
        self._mounts[prefix] = handler

    def send(self, call: ProviderCall, timeouts: Timeouts) -> UpstreamResponse:
        """Send ``call`` and return once the response head has arrived.

        Raises ProviderConnectionError or ProviderTimeoutError; HTTP error statuses
        are returned, not raised (the provider module decides what they mean).
        """
        for prefix, handler in self._mounts.items():
            if call.url.startswith(prefix):
                return handler(call)

        deadline = time.monotonic() + timeouts.total
        first_byte = min(timeouts.first_byte, timeouts.total)
        connect = min(timeouts.connect, timeouts.total)
        try:
            pool, path = self._route(call.url)
            raw = pool.urlopen(
                call.method,
                path,
                body=call.body,
                headers=call.headers,
                timeout=urllib3.Timeout(connect=connect, read=first_byte),
                preload_content=False,
                decode_content=True,
                redirect=False,
                retries=False,
                assert_same_host=False,
            )
        except Exception as exc:
            phase = (
                "connect" if isinstance(exc, u3.ConnectTimeoutError) else "first_byte"
            )
            limit = "total" if getattr(timeouts, phase) > timeouts.total else phase
            raise _with_limit(map_transport_error(exc), limit) from exc

        return _PooledResponse(raw, timeouts, deadline)

    def _route(self, url: str) -> tuple[urllib3.HTTPConnectionPool, str]:
        route = self._routes.get(url)
        if route is None:
            parsed = urllib3.util.parse_url(url)
            path = parsed.request_uri
            route = (self._pool.connection_from_url(url), path)
            if len(self._routes) < 1024:
                self._routes[url] = route

        return route

    def close(self) -> None:
        self._routes.clear()
        self._pool.clear()


def map_transport_error(exc: BaseException) -> ProviderError:
    """Translate a urllib3 or socket error into the most specific ProviderError."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, u3.NewConnectionError | u3.NameResolutionError):
        return ProviderConnectionError("could not connect to the provider")
    if isinstance(exc, u3.ConnectTimeoutError):
        return ProviderTimeoutError("connecting to the provider timed out")
    if isinstance(exc, u3.ReadTimeoutError | socket.timeout | TimeoutError):
        return ProviderTimeoutError("the provider did not answer in time")
    if isinstance(exc, u3.DecodeError):
        return ProviderInvalidResponseError("the provider's response did not decode")
    if isinstance(exc, u3.LocationValueError | u3.ProxySchemeUnsupported):
        return ProviderError("the provider's base URL is not a valid URL")
    if isinstance(exc, http.client.IncompleteRead):
        return ProviderConnectionError("the connection to the provider broke")
    if isinstance(exc, http.client.HTTPException):
        return ProviderInvalidResponseError("the provider's response was not HTTP")
    if isinstance(exc, u3.SSLError):
        return ProviderConnectionError("TLS with the provider failed")
    if isinstance(exc, u3.HTTPError | OSError):
        return ProviderConnectionError("the connection to the provider broke")

    raise exc


def _with_limit(error: ProviderError, limit: str) -> ProviderError:
    """Name on a timeout which limit fired (see ``Timeouts``): the circuit breaker
    counts the route's own limits against a target, not the request's deadline.
    A limit already named stays."""
    if isinstance(error, ProviderTimeoutError):
        error.details = {"limit": limit, **(error.details or {})}

    return error


def _set_read_timeout(raw: urllib3.BaseHTTPResponse, seconds: float) -> None:
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        sock.settimeout(seconds)
