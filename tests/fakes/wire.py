"""What crosses the wire: the recorded request, the response a dialect builds, and
the encodings both dialects share (compact JSON, server-sent events)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from .behaviours import Behaviour


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it.

    ``index`` counts requests from 0 in arrival order; ``connection`` numbers the TCP
    connection it came on (from 1), so keep-alive reuse shows as a repeated number.
    ``headers`` has lower-case names. ``json`` is the parsed body, or None when the
    body is empty or not JSON.
    """

    index: int
    connection: int
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    json: Any

    def to_json(self) -> dict[str, Any]:
        """Return the request as JSON-ready values, the body in base64."""
        return {
            "index": self.index,
            "connection": self.connection,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body_base64": base64.b64encode(self.body).decode("ascii"),
            "json": self.json,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RecordedRequest:
        fields = dict(data)
        fields["body"] = base64.b64decode(fields.pop("body_base64"))
        return cls(**fields)


@dataclass
class Response:
    """A response a dialect built, before any fault is applied.

    ``events`` is None for a plain body; for a stream it holds each server-sent event
    already encoded, sent one per HTTP chunk.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    events: list[bytes] | None = field(default=None)

    def with_headers(self, extra: dict[str, str]) -> Response:
        """Return this response with ``extra`` headers, replacing same-named ones."""
        replaced = {name.lower() for name in extra}
        kept = [
            (name, value)
            for name, value in self.headers
            if name.lower() not in replaced
        ]
        return Response(self.status, kept + list(extra.items()), self.body, self.events)


def encode_json(payload: Any) -> bytes:
    """Encode compactly, as the providers do."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(
    status: int, payload: Any, headers: list[tuple[str, str]] | None = None
) -> Response:
    return Response(
        status,
        [("Content-Type", "application/json"), *(headers or [])],
        encode_json(payload),
    )


def sse_response(headers: list[tuple[str, str]], events: list[bytes]) -> Response:
    return Response(
        200,
        [
            ("Content-Type", "text/event-stream; charset=utf-8"),
            ("Cache-Control", "no-cache"),
            *headers,
        ],
        events=events,
    )


def sse_event(data: Any, event: str | None = None) -> bytes:
    """Encode one server-sent event; ``data`` that is not a str is encoded as JSON."""
    text = data if isinstance(data, str) else encode_json(data).decode()
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {text}\n\n".encode()


def retry_headers(behaviour: Behaviour) -> list[tuple[str, str]]:
    """The ``retry-after`` (seconds) and ``retry-after-ms`` headers a behaviour asks
    for; both dialects' SDKs read these names."""
    headers = []
    if behaviour.retry_after is not None:
        headers.append(("retry-after", str(behaviour.retry_after)))
    if behaviour.retry_after_ms is not None:
        headers.append(("retry-after-ms", str(behaviour.retry_after_ms)))
    return headers
