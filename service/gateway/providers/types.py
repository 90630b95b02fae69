"""Plain data shared by the provider modules and the routing runner.

This module depends on nothing else in the gateway. The gateway's own wire shape is
OpenAI's: requests arrive as OpenAI chat bodies (dicts), and every provider module
translates to and from that shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One provider entry of the config, resolved: where and how to call it.

    ``api_key`` is the provider's secret; it never leaves the gateway and is kept out
    of ``repr`` so it cannot reach a log line by accident.
    """

    name: str
    type: str
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ProviderCall:
    """An HTTP request ready for the transport. ``body`` is encoded JSON."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


@dataclass(slots=True)
class Usage:
    """Token counts of one call.

    ``prompt_tokens`` includes cached and cache-write tokens (OpenAI's convention);
    ``completion_tokens`` includes reasoning tokens. ``estimated`` is true when the
    gateway counted the tokens itself because the provider reported none.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Completion:
    """A parsed non-streamed answer in OpenAI's shape, with its usage if reported."""

    body: dict[str, Any]
    usage: Usage | None


@dataclass(slots=True)
class SSEEvent:
    """One server-sent event: the optional ``event:`` name and the joined data."""

    event: str | None
    data: str


class StreamTranslator(Protocol):
    """Turns a provider's stream events into OpenAI ``chat.completion.chunk`` dicts.

    ``feed`` raises a ``ProviderError`` for an error event or a malformed one.
    ``finished`` becomes true on the provider's terminal event; a stream that ends
    without it was cut. ``usage`` is set once the provider reports it.
    """

    finished: bool
    usage: Usage | None

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]: ...


class ProviderModule(Protocol):
    """What every module in the provider registry offers (pure functions only)."""

    def build_chat_call(
        self, endpoint: Endpoint, model: str, body: dict[str, Any], stream: bool
    ) -> ProviderCall: ...

    def parse_chat_response(self, model: str, raw: bytes) -> Completion: ...

    def parse_error(
        self, status: int, headers: Mapping[str, str], raw: bytes
    ) -> Exception: ...

    def open_stream(self, model: str) -> StreamTranslator: ...

    def build_embeddings_call(
        self, endpoint: Endpoint, model: str, body: dict[str, Any]
    ) -> ProviderCall: ...

    def parse_embeddings_response(self, model: str, raw: bytes) -> Completion: ...
