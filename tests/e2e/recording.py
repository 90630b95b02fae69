"""An HTTP transport for the openai SDK that keeps what crossed the wire.

The SDK stops reading a stream at ``[DONE]`` and raises on an error event, so what it
yields cannot tell whether a ``[DONE]`` came after an error. ``RecordingTransport``
keeps each response's raw body bytes, as the SDK read them, and the local port of the
connection that carried it (which worker served a call is found from that port).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx2


@dataclass
class Exchange:
    """One request the SDK sent and the raw bytes of the answer it read."""

    url: str
    status: int
    client_port: int | None
    body: bytearray = field(default_factory=bytearray)

    def events(self) -> list[bytes]:
        """The ``data:`` payloads of the server-sent events in the body."""
        return [
            line.removeprefix(b"data: ")
            for line in bytes(self.body).splitlines()
            if line.startswith(b"data: ")
        ]


class _TeeStream(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, sink: bytearray) -> None:
        self._inner = inner
        self._sink = sink

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._sink.extend(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


class RecordingTransport(httpx2.BaseTransport):
    """``httpx2.HTTPTransport`` that records every exchange in ``exchanges``."""

    def __init__(self) -> None:
        self._inner = httpx2.HTTPTransport()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = self._inner.handle_request(request)
        exchange = Exchange(
            str(request.url), response.status_code, _client_port(response)
        )
        self.exchanges.append(exchange)
        assert isinstance(response.stream, httpx2.SyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_TeeStream(response.stream, exchange.body),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._inner.close()

    @property
    def last(self) -> Exchange:
        return self.exchanges[-1]


def _client_port(response: httpx2.Response) -> int | None:
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    address = stream.get_extra_info("client_addr")
    return address[1] if address else None
