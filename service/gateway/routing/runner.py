"""The one loop that performs upstream attempts.

Layered, one concern per function, outermost first:

    run            levels of the route in order (fallbacks)
    _try_level     the targets of one level, in load-balancing order
    _try_target    one target, retried with backoff while the policy says so
    exchange       one attempt: build the provider call, send it, parse the answer

The decisions (retry? how long to wait? fall back? which order?) are the pure
functions of ``policy``. The exchanges at the bottom are the only code that sends
provider calls; each records the time spent waiting on the provider.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from ..config import ProviderEntry, Route, Target
from ..context import AttemptRecord, CallContext, Gateway
from ..errors import (
    GatewayError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderStreamError,
)
from ..keys import utc_now
from ..providers import provider_module
from ..providers.sse import SSEDecoder
from ..providers.types import Completion, StreamTranslator
from ..transport import Timeouts, UpstreamResponse
from .policy import (
    RetryPolicy,
    TargetLoad,
    order_level,
    retry_delay,
    should_fall_back,
    should_retry,
)

Result = TypeVar("Result")
Exchange = Callable[[ProviderEntry, Target], Result]


def run(
    gateway: Gateway,
    call: CallContext,
    route: Route,
    exchange: Exchange[Result],
    policy: RetryPolicy | None = None,
) -> Result:
    """Serve ``call`` from ``route``'s targets; raise the last error if none can."""
    policy = policy or RetryPolicy()
    state = {"waited": 0.0, "last_error": None}
    for level in route.levels:
        result = _try_level(gateway, call, route, level, exchange, policy, state)
        if result is not _NOTHING:
            return result

    error = state["last_error"]
    assert isinstance(error, GatewayError)
    raise error


_NOTHING: Any = object()


def _try_level(
    gateway: Gateway,
    call: CallContext,
    route: Route,
    level: tuple[Target, ...],
    exchange: Exchange[Result],
    policy: RetryPolicy,
    state: dict[str, Any],
) -> Result:
    ids = [target.id for target in level]
    weights = [target.weight for target in level]
    order = order_level(ids, weights, route.strategy, gateway.load, gateway.rng)
    for index in order:
        result = _try_target(gateway, call, level[index], exchange, policy, state)
        if result is not _NOTHING:
            return result

    return _NOTHING


def _try_target(
    gateway: Gateway,
    call: CallContext,
    target: Target,
    exchange: Exchange[Result],
    policy: RetryPolicy,
    state: dict[str, Any],
) -> Result:
    entry = gateway.config.providers[target.provider]
    kind = "fallback" if call.attempts else "first"
    wait = 0.0
    retries = 0
    while True:
        attempt = AttemptRecord(
            number=len(call.attempts) + 1,
            target=target,
            kind=kind,
            wait_ms=wait * 1000,
            created_at=utc_now(),
        )
        call.attempts.append(attempt)
        try:
            result = _attempt(gateway, call, entry, target, exchange, attempt)
        except ProviderError as error:
            wait = retry_delay(error, retries + 1, policy, gateway.rng)
            if should_retry(error, retries, wait, state["waited"], policy):
                attempt.outcome = "retried"
                with waiting_on_upstream(call):
                    time.sleep(wait)
                state["waited"] += wait
                retries += 1
                kind = "retry"
                continue

            state["last_error"] = error
            if should_fall_back(error, policy):
                attempt.outcome = "fell_back"
                return _NOTHING
            attempt.outcome = "failed"
            raise

        call.target = target
        return result


def _attempt(
    gateway: Gateway,
    call: CallContext,
    entry: ProviderEntry,
    target: Target,
    exchange: Exchange[Result],
    attempt: AttemptRecord,
) -> Result:
    load = gateway.load.get(target.id) or TargetLoad()
    gateway.load[target.id] = TargetLoad(load.in_flight + 1, load.latency_ms)
    started = time.perf_counter()
    try:
        result = exchange(entry, target)
    except ProviderError as error:
        _name_provider(error, entry)
        attempt.status = error.upstream_status
        attempt.error_type = error.type
        raise
    except BaseException as error:
        attempt.outcome = "cancelled"
        attempt.error_type = getattr(error, "type", type(error).__name__)
        raise
    finally:
        attempt.latency_ms = (time.perf_counter() - started) * 1000
        _settle_load(gateway, target.id, attempt)

    attempt.status = 200
    return result


def _settle_load(gateway: Gateway, target_id: str, attempt: AttemptRecord) -> None:
    load = gateway.load.get(target_id) or TargetLoad(1)
    latency = load.latency_ms
    if attempt.error_type is None:
        # Exponentially weighted: recent calls count most.
        latency = attempt.latency_ms if latency is None else (
            0.8 * latency + 0.2 * attempt.latency_ms
        )
    gateway.load[target_id] = TargetLoad(max(0, load.in_flight - 1), latency)


def _name_provider(error: ProviderError, entry: ProviderEntry) -> None:
    if error.provider is None:
        error.provider = entry.endpoint.name
        error.message = f"{entry.endpoint.name}: {error.message}"
        error.args = (error.message,)


def timeouts_for(gateway: Gateway) -> Timeouts:
    return Timeouts()


@contextmanager
def waiting_on_upstream(call: CallContext) -> Iterator[None]:
    """Count the block as time waiting on the provider; a client that hangs up
    meanwhile interrupts it (see ``disconnect.py``)."""
    call.waiting_upstream = True
    started = time.perf_counter()
    try:
        yield
    finally:
        call.waiting_upstream = False
        call.upstream_seconds += time.perf_counter() - started


def _send(
    gateway: Gateway, call: CallContext, provider_call: Any
) -> UpstreamResponse:
    with waiting_on_upstream(call):
        return gateway.transport.send(provider_call, timeouts_for(gateway))


def _read_body(gateway: Gateway, call: CallContext, response: UpstreamResponse) -> bytes:
    try:
        with waiting_on_upstream(call):
            return response.read(gateway.settings.max_response_bytes)
    finally:
        response.close()


def _raise_for_status(
    gateway: Gateway, call: CallContext, module: Any, response: UpstreamResponse
) -> None:
    if response.status < 400:
        return

    raw = _read_body(gateway, call, response)
    raise module.parse_error(response.status, response.headers, raw)


def chat_exchange(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Exchange[Completion]:
    """One non-streamed chat attempt against a target."""

    def exchange(entry: ProviderEntry, target: Target) -> Completion:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_chat_call(entry.endpoint, target.model, body, False)
        response = _send(gateway, call, provider_call)
        _raise_for_status(gateway, call, module, response)
        _check_json(response)
        return module.parse_chat_response(target.model, _read_body(gateway, call, response))

    return exchange


def embeddings_exchange(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Exchange[Completion]:
    def exchange(entry: ProviderEntry, target: Target) -> Completion:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_embeddings_call(entry.endpoint, target.model, body)
        response = _send(gateway, call, provider_call)
        _raise_for_status(gateway, call, module, response)
        _check_json(response)
        raw = _read_body(gateway, call, response)
        return module.parse_embeddings_response(target.model, raw)

    return exchange


def _check_json(response: UpstreamResponse) -> None:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        response.close()
        raise ProviderInvalidResponseError(
            f"the provider answered {content_type or 'no content type'}, not JSON",
            upstream_status=response.status,
        )


class UpstreamStream:
    """An open provider stream, translated to OpenAI chunks.

    The exchange reads until the first chunk exists, so that failures before the
    client has seen a byte can still be retried or fallen back from. Iterating
    yields every chunk; a cut, a stall or a malformed event raises a ProviderError.
    """

    def __init__(
        self,
        gateway: Gateway,
        call: CallContext,
        response: UpstreamResponse,
        translator: StreamTranslator,
    ) -> None:
        self._call = call
        self._response = response
        self._chunks = response.iter_chunks()
        self._decoder = SSEDecoder()
        self.translator = translator
        self.buffered: list[dict[str, Any]] = []
        self._ended = False

    def prefetch(self) -> None:
        """Read until a chunk is ready or the stream is finished."""
        while not self.buffered and not self._ended:
            self.buffered.extend(self._read_more())

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            if self.buffered:
                pending, self.buffered = self.buffered, []
                yield from pending
                continue
            if self._ended:
                return
            self.buffered.extend(self._read_more())

    def _read_more(self) -> list[dict[str, Any]]:
        with waiting_on_upstream(self._call):
            data = next(self._chunks, None)

        if data is None:
            self._ended = True
            events = self._decoder.flush()
        else:
            events = self._decoder.feed(data)

        chunks: list[dict[str, Any]] = []
        for event in events:
            chunks.extend(self.translator.feed(event))
        if self._ended and not self.translator.finished:
            raise ProviderStreamError(
                "the provider's stream ended before it was complete"
            )
        if self.translator.finished:
            self._ended = True

        return chunks

    def close(self) -> None:
        self._response.close()


def stream_exchange(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Exchange[UpstreamStream]:
    """One streamed chat attempt, returned once its first chunk has arrived."""

    def exchange(entry: ProviderEntry, target: Target) -> UpstreamStream:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_chat_call(entry.endpoint, target.model, body, True)
        response = _send(gateway, call, provider_call)
        _raise_for_status(gateway, call, module, response)
        content_type = response.headers.get("content-type", "")
        if "event-stream" not in content_type:
            raw = _read_body(gateway, call, response)
            if "json" in content_type:
                # Raises with the provider's message when the body is an error.
                module.parse_chat_response(target.model, raw)
            raise ProviderInvalidResponseError(
                f"the provider answered {content_type or 'no content type'}, "
                "not an event stream",
                upstream_status=response.status,
            )

        stream = UpstreamStream(gateway, call, response, module.open_stream(target.model))
        try:
            stream.prefetch()
        except BaseException:
            stream.close()
            raise
        return stream

    return exchange
