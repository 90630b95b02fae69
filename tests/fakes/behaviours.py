"""Scripted behaviours: what a fake provider does with a request.

A behaviour is plain data, so it crosses a process boundary as JSON (the standalone
fake's control API) as easily as it is queued in-process. It is dialect-neutral: the
endpoint that takes it renders it in its provider's wire format, so ``error(429)``
becomes OpenAI's error JSON on ``/v1/chat/completions`` and Anthropic's on
``/v1/messages``.

Three kinds exist: ``reply`` (a success, possibly shaped or broken by a transport
fault), ``error`` (an HTTP error status with the provider's error body) and ``raw``
(exact status, content type and body). The functions below build each one; build a
``Behaviour`` directly only for combinations they do not offer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

KINDS = ("reply", "error", "raw")

FAULTS = ("reset", "cut", "stall", "malformed_event", "error_event")


@dataclass(frozen=True)
class ToolCall:
    """A tool call the fake model makes; ``arguments`` is the decoded JSON object."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts of one request, in dialect-neutral terms.

    ``input_tokens`` are prompt tokens neither read from nor written to a cache.
    OpenAI reports ``prompt_tokens = input + cache_read + cache_write`` with
    ``cached_tokens = cache_read``, and ``completion_tokens = output_tokens`` (reasoning
    tokens are part of the output). Anthropic reports each count in its own field.
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True)
class Behaviour:
    """What the fake does with one request.

    ``path`` limits the behaviour to requests for that path (None: any routed path).
    ``delay_s`` is slept before the status line, whatever the kind. ``headers`` are
    added to the response, replacing any of the same name.

    For a reply, ``content``, ``tool_calls``, ``usage`` and ``finish`` replace what the
    fake would derive from the request; ``finish`` takes OpenAI's words (``stop``,
    ``length``, ``tool_calls``, ``content_filter``) or ``stop_sequence``, mapped to
    each dialect's own; other values pass through unchanged. ``fault`` breaks the
    reply after ``after_events`` SSE events (streams) or ``after_bytes`` body bytes
    (None: half the body).

    For an error, ``status`` picks the provider's error type and default message;
    ``message``, ``error_type`` and ``code`` replace them. ``retry_after`` (seconds)
    and ``retry_after_ms`` set those headers; ``limit_reset_s`` makes the rate-limit
    headers report an exhausted limit that resets in that many seconds.
    """

    kind: str = "reply"
    path: str | None = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)

    content: str | None = None
    tool_calls: tuple[ToolCall, ...] | None = None
    usage: Usage | None = None
    finish: str | None = None

    status: int = 200
    message: str | None = None
    error_type: str | None = None
    code: str | None = None
    retry_after: int | None = None
    retry_after_ms: int | None = None
    limit_reset_s: float | None = None

    body: str = ""
    content_type: str = "application/json"

    fault: str | None = None
    after_events: int = 2
    after_bytes: int | None = None
    stall_s: float = 10.0
    http_complete: bool = False
    before_headers: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown behaviour kind {self.kind!r}; one of {KINDS}")
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {FAULTS}")

    def to_json(self) -> dict[str, Any]:
        """Return the fields that differ from the defaults, as JSON-ready values."""
        defaults = Behaviour()
        return {
            name: value
            for name, value in dataclasses.asdict(self).items()
            if value != getattr(defaults, name)
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Behaviour:
        """Build a behaviour from ``to_json`` output; raise TypeError on unknown
        fields and ValueError on an unknown kind or fault."""
        fields = dict(data)
        if fields.get("tool_calls") is not None:
            fields["tool_calls"] = tuple(
                ToolCall(**call) for call in fields["tool_calls"]
            )
        if fields.get("usage") is not None:
            fields["usage"] = Usage(**fields["usage"])
        return cls(**fields)


def reply(
    content: str | None = None,
    *,
    tool_calls: list[ToolCall] | None = None,
    usage: Usage | None = None,
    finish: str | None = None,
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
    path: str | None = None,
) -> Behaviour:
    """A success; unset parts are derived from the request as usual."""
    return Behaviour(
        content=content,
        tool_calls=None if tool_calls is None else tuple(tool_calls),
        usage=usage,
        finish=finish,
        headers=headers or {},
        delay_s=delay_s,
        path=path,
    )


def delay(seconds: float, **reply_fields: Any) -> Behaviour:
    """A normal reply whose status line comes only after ``seconds`` (slow first
    byte); ``reply_fields`` are those of ``reply``."""
    return reply(delay_s=seconds, **reply_fields)


def error(
    status: int,
    message: str | None = None,
    *,
    error_type: str | None = None,
    code: str | None = None,
    retry_after: int | None = None,
    retry_after_ms: int | None = None,
    limit_reset_s: float | None = None,
    headers: dict[str, str] | None = None,
    delay_s: float = 0.0,
    path: str | None = None,
) -> Behaviour:
    """An HTTP error ``status`` with the provider's error body (see ``Behaviour``)."""
    return Behaviour(
        kind="error",
        status=status,
        message=message,
        error_type=error_type,
        code=code,
        retry_after=retry_after,
        retry_after_ms=retry_after_ms,
        limit_reset_s=limit_reset_s,
        headers=headers or {},
        delay_s=delay_s,
        path=path,
    )


def error_in_body(
    message: str | None = None,
    *,
    status: int = 500,
    error_type: str | None = None,
    code: str | None = None,
    after_events: int = 2,
    path: str | None = None,
) -> Behaviour:
    """A 200 that carries an error: the provider's error JSON as the whole body, or,
    for a stream, its error event after ``after_events`` events, ending the stream.
    ``status`` only picks the error type and message, as for ``error``."""
    return Behaviour(
        fault="error_event",
        status=status,
        message=message,
        error_type=error_type,
        code=code,
        after_events=after_events,
        path=path,
    )


def reset(
    *,
    after_events: int = 2,
    after_bytes: int | None = None,
    before_headers: bool = False,
    path: str | None = None,
) -> Behaviour:
    """Send the head and part of a reply, then reset the connection (RST, SO_LINGER
    0). With ``before_headers`` the reset comes before any response byte."""
    return Behaviour(
        fault="reset",
        after_events=after_events,
        after_bytes=after_bytes,
        before_headers=before_headers,
        path=path,
    )


def cut(
    *,
    after_events: int = 2,
    after_bytes: int | None = None,
    http_complete: bool = False,
    path: str | None = None,
) -> Behaviour:
    """Send part of a reply, then close the connection (FIN), so a stream lacks its
    ``[DONE]`` / ``message_stop``. With ``http_complete`` a stream's HTTP body is
    ended properly instead and the connection stays open: only the provider's own
    end marker is missing."""
    return Behaviour(
        fault="cut",
        after_events=after_events,
        after_bytes=after_bytes,
        http_complete=http_complete,
        path=path,
    )


def stall(
    seconds: float = 10.0,
    *,
    after_events: int = 2,
    after_bytes: int | None = None,
    path: str | None = None,
) -> Behaviour:
    """Send part of a reply, go silent for ``seconds``, then close the connection.
    Stopping the fake ends the silence early."""
    return Behaviour(
        fault="stall",
        stall_s=seconds,
        after_events=after_events,
        after_bytes=after_bytes,
        path=path,
    )


def malformed_event(*, after_events: int = 1, path: str | None = None) -> Behaviour:
    """A stream with one SSE event whose data is not JSON, inserted after
    ``after_events`` events; a non-streaming reply gets a truncated JSON body."""
    return Behaviour(fault="malformed_event", after_events=after_events, path=path)


def raw(
    status: int,
    body: str,
    content_type: str = "application/json",
    *,
    headers: dict[str, str] | None = None,
    path: str | None = None,
) -> Behaviour:
    """Answer exactly this status, content type and body, whatever the request."""
    return Behaviour(
        kind="raw",
        status=status,
        body=body,
        content_type=content_type,
        headers=headers or {},
        path=path,
    )


def malformed_json(*, path: str | None = None) -> Behaviour:
    """A 200 ``application/json`` whose body is not valid JSON."""
    return raw(200, '{"id": "chatcmpl-malformed", "choices": [{"index": 0,', path=path)


def wrong_content_type(*, path: str | None = None) -> Behaviour:
    """A 200 HTML page, as a proxy in front of a provider might send."""
    page = "<html><head><title>Gateway</title></head><body>upstream busy</body></html>"
    return raw(200, page, "text/html; charset=utf-8", path=path)


def oversized(megabytes: float, *, path: str | None = None) -> Behaviour:
    """A valid reply whose text is exactly ``megabytes`` MiB of words."""
    size = int(megabytes * 1024 * 1024)
    return reply(("word " * (size // 5 + 1))[:size], path=path)
