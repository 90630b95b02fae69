"""The one loop that performs upstream attempts.

Layered, one concern per function, outermost first:

    run            levels of the route in order (fallbacks), under one deadline
    _try_level     the targets of one level, in load-balancing order, skipping those
                   cooling down (circuit breaker) or with too small a context window
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
from dataclasses import replace
from typing import Any, TypeVar

from ..config import ProviderEntry, Route, Target
from ..context import AttemptRecord, CallContext, Gateway
from ..errors import (
    ClientDisconnectedError,
    ContextWindowExceededError,
    GatewayError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderResponseTooLargeError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from ..keys import utc_now
from ..providers import provider_module
from ..providers.sse import SSEDecoder
from ..providers.types import Completion, StreamTranslator
from ..transport import UpstreamResponse
from .breaker import Breaker
from .policy import (
    BreakerPolicy,
    Overrides,
    TargetLoad,
    Timeouts,
    breaker_verdict,
    is_context_too_small,
    order_level,
    retry_delay,
    select_levels,
    should_fall_back,
    should_retry,
    with_limit,
)

Result = TypeVar("Result")
Exchange = Callable[[ProviderEntry, Target, Timeouts], Result]
_NOTHING: Any = object()


class _Run:
    """The state of one call's walk through its route."""

    def __init__(
        self, gateway: Gateway, call: CallContext, route: Route, overrides: Overrides
    ) -> None:
        settings = route.settings
        self.gateway = gateway
        self.call = call
        self.route = route
        self.policy = settings.retry
        if overrides.max_retries is not None:
            self.policy = replace(
                self.policy,
                max_retries=min(overrides.max_retries, self.policy.max_retries),
            )
        total = settings.timeouts.total
        if overrides.timeout is not None:
            total = min(total, overrides.timeout)
        self.timeouts = replace(settings.timeouts, total=total)
        self.deadline = time.monotonic() + total
        self.overrides = overrides
        self.waited = 0.0
        self.last_error: GatewayError | None = None
        self.context_floor: int | None = None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


def run(
    gateway: Gateway,
    call: CallContext,
    route: Route,
    exchange: Exchange[Result],
    overrides: Overrides | None = None,
) -> Result:
    """Serve ``call`` from ``route``'s targets; raise the last error if none can."""
    state = _Run(gateway, call, route, overrides or Overrides())
    for level in select_levels(route.levels, state.overrides):
        result = _try_level(state, level, exchange)
        if result is not _NOTHING:
            return result

    if state.last_error is None:
        raise ProviderUnavailableError(
            f"every target of {route.name!r} is cooling down after failures; "
            "try again shortly",
            details={"targets": [target.id for target in route.targets]},
        )
    last = call.attempts[-1]
    if last.outcome == "fell_back":
        # No target came after it: the call failed there, it did not fall back.
        last.outcome = "failed"
    raise state.last_error


def _try_level(
    state: _Run, level: tuple[Target, ...], exchange: Exchange[Result]
) -> Result:
    gateway = state.gateway
    ids = [target.id for target in level]
    weights = [target.weight for target in level]
    order = order_level(ids, weights, state.route.strategy, gateway.load, gateway.rng)
    for index in order:
        target = level[index]
        skip = _skip_reason(state, target)
        if skip is not None:
            _record_skip(state, target, skip)
            continue
        result = _try_target(state, target, exchange)
        if result is not _NOTHING:
            return result

    return _NOTHING


def _skip_reason(state: _Run, target: Target) -> str | None:
    if state.context_floor is not None and is_context_too_small(
        _context_window(state.gateway, target), state.context_floor
    ):
        return "context_too_small"

    return state.gateway.breaker.admit(target.id)


def _record_skip(state: _Run, target: Target, reason: str) -> None:
    state.call.attempts.append(
        AttemptRecord(
            number=len(state.call.attempts) + 1,
            target=target,
            kind="fallback" if state.call.attempts else "first",
            wait_ms=0.0,
            error_type=reason,
            outcome="skipped",
            created_at=utc_now(),
        )
    )


def _try_target(state: _Run, target: Target, exchange: Exchange[Result]) -> Result:
    gateway, call, policy = state.gateway, state.call, state.policy
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
            result = _attempt(state, entry, target, exchange, attempt)
        except ProviderError as error:
            _note_failure(state, target, error)
            wait = retry_delay(error, retries + 1, policy, gateway.rng)
            if should_retry(error, retries, wait, state.waited, policy) and (
                wait < state.remaining()
            ):
                attempt.outcome = "retried"
                with waiting_on_upstream(call):
                    time.sleep(wait)
                state.waited += wait
                retries += 1
                kind = "retry"
                continue

            state.last_error = error
            if should_fall_back(error, policy) and state.remaining() > 0:
                attempt.outcome = "fell_back"
                return _NOTHING
            attempt.outcome = "failed"
            raise

        if isinstance(result, UpstreamStream):
            # A stream is judged when it ends, not when its first chunk arrives.
            result.judge_with(gateway.breaker, target.id, state.route.settings.breaker)
        else:
            gateway.breaker.judge(
                target.id, state.route.settings.breaker, breaker_verdict(None)
            )
        call.target = target
        return result


def _note_failure(state: _Run, target: Target, error: ProviderError) -> None:
    """Tell the breaker; remember a context window that was too small."""
    state.gateway.breaker.judge(
        target.id, state.route.settings.breaker, breaker_verdict(error)
    )
    if isinstance(error, ContextWindowExceededError):
        window = _context_window(state.gateway, target)
        state.context_floor = max(state.context_floor or 0, window or 0)


def _context_window(gateway: Gateway, target: Target) -> int | None:
    if target.context_window is not None:
        return target.context_window
    entry = gateway.config.providers[target.provider]
    return gateway.pricer.context_window(entry.pricing_provider, target.model)


def _attempt(
    state: _Run,
    entry: ProviderEntry,
    target: Target,
    exchange: Exchange[Result],
    attempt: AttemptRecord,
) -> Result:
    gateway = state.gateway
    remaining = state.remaining()
    if remaining <= 0:
        raise with_limit(
            ProviderTimeoutError(
                f"the request did not finish within {state.timeouts.total:g} s"
            ),
            "total",
        )
    timeouts = replace(state.timeouts, total=remaining)
    load = gateway.load.get(target.id) or TargetLoad()
    gateway.load[target.id] = TargetLoad(load.in_flight + 1, load.latency_ms)
    started = time.perf_counter()
    try:
        result = exchange(entry, target, timeouts)
    except ProviderError as error:
        _name_provider(error, entry)
        attempt.status = error.upstream_status
        attempt.error_type = error.type
        attempt.outcome = "failed"
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
        latency = (
            attempt.latency_ms
            if latency is None
            else (0.8 * latency + 0.2 * attempt.latency_ms)
        )
    gateway.load[target_id] = TargetLoad(max(0, load.in_flight - 1), latency)


def _name_provider(error: ProviderError, entry: ProviderEntry) -> None:
    if error.provider is None:
        error.provider = entry.endpoint.name
        error.message = f"{entry.endpoint.name}: {error.message}"
        error.args = (error.message,)


@contextmanager
def waiting_on_upstream(call: CallContext) -> Iterator[None]:
    """Count the block as time waiting on the provider; a client that hangs up
    meanwhile interrupts it (see ``disconnect.py``), and one already gone stops the
    call before it waits."""
    if call.watch is not None:
        call.watch.arm()
    if call.client_gone:
        raise ClientDisconnectedError("the client disconnected")
    call.waiting_upstream = True
    started = time.perf_counter()
    try:
        yield
    finally:
        call.waiting_upstream = False
        call.upstream_seconds += time.perf_counter() - started


def _send(
    gateway: Gateway, call: CallContext, provider_call: Any, timeouts: Timeouts
) -> UpstreamResponse:
    with waiting_on_upstream(call):
        return gateway.transport.send(provider_call, timeouts)


def _read_body(
    gateway: Gateway, call: CallContext, response: UpstreamResponse
) -> bytes:
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

    def exchange(
        entry: ProviderEntry, target: Target, timeouts: Timeouts
    ) -> Completion:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_chat_call(
            entry.endpoint, target.model, body, False
        )
        response = _send(gateway, call, provider_call, timeouts)
        with _answered(response):
            _raise_for_status(gateway, call, module, response)
            _check_json(response)
            raw = _read_body(gateway, call, response)
            return module.parse_chat_response(target.model, raw)

    return exchange


def embeddings_exchange(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Exchange[Completion]:
    def exchange(
        entry: ProviderEntry, target: Target, timeouts: Timeouts
    ) -> Completion:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_embeddings_call(entry.endpoint, target.model, body)
        response = _send(gateway, call, provider_call, timeouts)
        with _answered(response):
            _raise_for_status(gateway, call, module, response)
            _check_json(response)
            raw = _read_body(gateway, call, response)
            return module.parse_embeddings_response(target.model, raw)

    return exchange


@contextmanager
def _answered(response: UpstreamResponse) -> Iterator[None]:
    """Give an error raised after the response head the status the provider
    answered, so the attempt records it (a 200 whose body was broken, say)."""
    try:
        yield
    except ProviderError as error:
        if error.upstream_status is None:
            error.upstream_status = response.status
        raise


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
        self._limit = gateway.settings.max_response_bytes
        self._size = 0
        self.translator = translator
        self.buffered: list[dict[str, Any]] = []
        self._ended = False
        self._judge: tuple[Breaker, str, BreakerPolicy] | None = None

    def judge_with(self, breaker: Breaker, target: str, policy: BreakerPolicy) -> None:
        """Tell ``breaker`` how the stream went when ``finish`` is called."""
        self._judge = (breaker, target, policy)

    def finish(self, error: ProviderError | None = None) -> None:
        """The stream ended: completely (no error) or broken by ``error``."""
        if self._judge is None:
            return
        breaker, target, policy = self._judge
        self._judge = None
        breaker.judge(target, policy, breaker_verdict(error))

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
            self._size += len(data)
            if self._size > self._limit:
                raise ProviderResponseTooLargeError(
                    f"the provider's stream passed {self._limit} bytes"
                )
            events = self._decoder.feed(data)

        chunks: list[dict[str, Any]] = []
        for event in events:
            chunks.extend(self.translator.feed(event))
        if self._ended and not self.translator.finished:
            # Retryable while no chunk has reached the client; the relay turns it
            # into a stream error after that.
            raise ProviderInvalidResponseError(
                "the provider's stream ended before it was complete"
            )
        if self.translator.finished:
            self._ended = True

        return chunks

    def close(self) -> None:
        self._response.close()


def record_stream_failure(call: CallContext, error: ProviderError) -> None:
    """Record on the attempt that opened the stream that it broke after its first
    chunk: too late to retry or fall back, but a failed attempt all the same."""
    attempt = call.attempts[-1]
    attempt.outcome = "failed"
    attempt.error_type = error.type


def stream_exchange(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Exchange[UpstreamStream]:
    """One streamed chat attempt, returned once its first chunk has arrived."""

    def exchange(
        entry: ProviderEntry, target: Target, timeouts: Timeouts
    ) -> UpstreamStream:
        module = provider_module(entry.endpoint.type)
        provider_call = module.build_chat_call(entry.endpoint, target.model, body, True)
        response = _send(gateway, call, provider_call, timeouts)
        with _answered(response):
            _raise_for_status(gateway, call, module, response)
            _check_event_stream(gateway, call, module, target, response)
            translator = module.open_stream(target.model)
            stream = UpstreamStream(gateway, call, response, translator)
            try:
                stream.prefetch()
            except BaseException:
                stream.close()
                raise
            return stream

    return exchange


def _check_event_stream(
    gateway: Gateway,
    call: CallContext,
    module: Any,
    target: Target,
    response: UpstreamResponse,
) -> None:
    content_type = response.headers.get("content-type", "")
    if "event-stream" in content_type:
        return

    raw = _read_body(gateway, call, response)
    if "json" in content_type:
        # Raises with the provider's message when the body is an error.
        module.parse_chat_response(target.model, raw)
    raise ProviderInvalidResponseError(
        f"the provider answered {content_type or 'no content type'}, "
        "not an event stream",
        upstream_status=response.status,
    )
