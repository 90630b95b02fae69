"""The request story, in the order it happens:

    authenticate  (api layer: the key on every /v1 call)
    check         the key may use the model; the model has a route
    route + call  routing.runner: targets, retries, fallbacks
    admit         budgets and rate limits (control.admission): reserve the call's
                  maximum cost, or refuse it before any provider is called
    account       tokens (the provider's, or counted when it reported none) and cost
    record        settle the reservation with the actual cost; one request row (with
                  its attempts) handed to the background writer

Each public function here serves one endpoint and returns what the view serializes.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson

from .accounting.tokens import (
    count_embedding_input_tokens,
    count_prompt_tokens,
    count_text_tokens,
)
from .config import Route, Target
from .context import CallContext, Gateway
from .control.admission import admit, response_headers, settle
from .control.estimate import card_for_target
from .errors import (
    ClientDisconnectedError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    ProviderError,
    ProviderStreamError,
)
from .keys import check_model_allowed, utc_now
from .providers.types import Completion, Usage
from .providers.wire import usage_body
from .routing import runner

logger = logging.getLogger(__name__)


def resolve_route(gateway: Gateway, call: CallContext, model: str) -> Route:
    """The route serving ``model`` for this key; 403 or 404 otherwise."""
    call.model_requested = model
    assert call.key is not None
    check_model_allowed(call.key, model)
    route = gateway.config.find_route(model)
    if route is None:
        raise NotFoundError(
            f"the model {model!r} does not exist on this gateway",
            param="model",
            code="model_not_found",
        )
    target = call.overrides.target
    if target is not None and target not in {t.id for t in route.targets}:
        choices = ", ".join(t.id for t in route.targets)
        raise InvalidRequestError(
            f"X-Gateway-Target {target!r} is not a target of {model!r} ({choices})",
            param="X-Gateway-Target",
        )

    return route


def complete_chat(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> dict[str, Any]:
    """Serve a non-streamed chat completion; return the response body."""
    route = resolve_route(gateway, call, body["model"])
    admission = admit(gateway, call, route, body)
    exchange = runner.chat_exchange(gateway, call, body)
    try:
        completion = runner.run(
            gateway, call, admission.route, exchange, call.overrides
        )
    except ClientDisconnectedError:
        _account_abandoned(gateway, call, body)
        raise

    usage = completion.usage or _estimate_chat_usage(body, completion, call.target)
    account(gateway, call, usage, completion.body.get("model"))
    call.finish_reason = _finish_reason(completion)
    call.status = 200
    completion.body["x_gateway"] = gateway_facts(call)
    return completion.body


def create_embeddings(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> dict[str, Any]:
    route = resolve_route(gateway, call, body["model"])
    admission = admit(gateway, call, route, body)
    exchange = runner.embeddings_exchange(gateway, call, body)
    completion = runner.run(gateway, call, admission.route, exchange, call.overrides)

    usage = completion.usage
    if usage is None:
        assert call.target is not None
        prompt = count_embedding_input_tokens(body, call.target.model)
        usage = Usage(prompt_tokens=prompt, estimated=True)
    account(gateway, call, usage, completion.body.get("model"))
    call.status = 200
    completion.body["x_gateway"] = gateway_facts(call)
    return completion.body


def start_chat_stream(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> Iterator[bytes]:
    """Open the upstream stream (retrying until its first chunk) and return the SSE
    body. Raises before anything is sent, so errors up to here get a normal error
    response."""
    call.stream = True
    route = resolve_route(gateway, call, body["model"])
    admission = admit(gateway, call, route, body)
    exchange = runner.stream_exchange(gateway, call, body)
    upstream = runner.run(gateway, call, admission.route, exchange, call.overrides)
    include_usage = (body.get("stream_options") or {}).get("include_usage") is True
    return _relay_stream(gateway, call, body, upstream, include_usage)


def _relay_stream(
    gateway: Gateway,
    call: CallContext,
    body: dict[str, Any],
    upstream: runner.UpstreamStream,
    include_usage: bool,
) -> Iterator[bytes]:
    """Relay chunks; end with the usage chunk and [DONE], or with an error event.

    Whatever happens (a provider failure, the client leaving), the finally clause
    accounts the output seen so far and records the row exactly once.
    """
    output: list[str] = []
    last: dict[str, Any] = {}
    finished = False
    try:
        for chunk in upstream:
            _collect_output(chunk, output)
            last = chunk
            data = _sse(chunk)
            # The time until the server resumes us is spent writing to the client.
            sent = time.perf_counter()
            yield data
            call.downstream_seconds += time.perf_counter() - sent
        _account_stream(gateway, call, body, upstream, output, last)
        upstream.finish()
        call.status = 200
        finished = True
        tail = _sse(_usage_chunk(call, last)) if include_usage else b""
        yield tail + b"data: [DONE]\n\n"
    except ClientDisconnectedError:
        pass
    except ProviderError as error:
        runner.record_stream_failure(call, error)
        upstream.finish(error)
        if call.client_gone:
            # Nobody is left to tell: the client's hang-up is what the row records.
            return
        stream_error = (
            error if isinstance(error, ProviderStreamError) else _as_stream_error(error)
        )
        gateway.redactor.redact_error(stream_error)
        call.error = stream_error
        call.status = stream_error.status
        _account_stream(gateway, call, body, upstream, output, last)
        finished = True
        yield _sse(stream_error.to_body(call.request_id))
    finally:
        upstream.close()
        if call.watch is not None:
            call.watch.stop()
        if not finished:
            call.error = ClientDisconnectedError("the client disconnected mid-stream")
            call.status = ClientDisconnectedError.status
            _account_stream(gateway, call, body, upstream, output, last)
        record_call(gateway, call)


def _as_stream_error(error: ProviderError) -> ProviderStreamError:
    stream_error = ProviderStreamError(
        f"the stream failed after it started: {error.message}",
        provider=error.provider,
        upstream_status=error.upstream_status,
        details={"cause": error.type},
    )
    return stream_error


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _collect_output(chunk: dict[str, Any], output: list[str]) -> None:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            output.append(delta["content"])
        for tool_call in delta.get("tool_calls") or ():
            function = tool_call.get("function") or {}
            output.append(function.get("name") or "")
            output.append(function.get("arguments") or "")


def _account_stream(
    gateway: Gateway,
    call: CallContext,
    body: dict[str, Any],
    upstream: runner.UpstreamStream,
    output: list[str],
    last: dict[str, Any],
) -> None:
    if call.usage is not None:
        return

    usage = upstream.translator.usage
    if usage is None or not upstream.translator.finished:
        usage = _estimate_stream_usage(call, body, output, usage)
    account(gateway, call, usage, last.get("model"))


def _estimate_stream_usage(
    call: CallContext, body: dict[str, Any], output: list[str], reported: Usage | None
) -> Usage:
    """The usage of a stream that ended early (cut, abandoned): the provider's counts
    where it sent some (Anthropic reports the prompt up front), and at least the
    output relayed so far, counted with tiktoken."""
    model = call.target.model if call.target else body["model"]
    counted = count_text_tokens("".join(output), model)
    if reported is None:
        return Usage(
            prompt_tokens=count_prompt_tokens(body, model),
            completion_tokens=counted,
            estimated=True,
        )

    completion = max(reported.completion_tokens, counted)
    return dataclasses.replace(reported, completion_tokens=completion, estimated=True)


def _usage_chunk(call: CallContext, last: dict[str, Any]) -> dict[str, Any]:
    assert call.usage is not None
    return {
        "id": last.get("id"),
        "object": "chat.completion.chunk",
        "created": last.get("created"),
        "model": last.get("model"),
        "choices": [],
        "usage": usage_body(call.usage),
        "x_gateway": gateway_facts(call),
    }


def _account_abandoned(
    gateway: Gateway, call: CallContext, body: dict[str, Any]
) -> None:
    """A client that left while its call waited: the provider has likely billed the
    prompt already, so the row carries the prompt's estimated tokens and cost."""
    attempted = [a for a in call.attempts if a.outcome != "skipped"]
    if not attempted:
        return
    call.target = call.target or attempted[-1].target
    usage = Usage(
        prompt_tokens=count_prompt_tokens(body, call.target.model), estimated=True
    )
    account(gateway, call, usage)


def _estimate_chat_usage(
    body: dict[str, Any], completion: Completion, target: Target | None
) -> Usage:
    model = target.model if target else body["model"]
    output: list[str] = []
    for choice in completion.body.get("choices") or ():
        message = choice.get("message") or {}
        _collect_output({"choices": [{"delta": message}]}, output)

    return Usage(
        prompt_tokens=count_prompt_tokens(body, model),
        completion_tokens=count_text_tokens("".join(output), model),
        estimated=True,
    )


def _finish_reason(completion: Completion) -> str | None:
    choices = completion.body.get("choices") or [{}]
    return choices[0].get("finish_reason") if isinstance(choices[0], dict) else None


def account(
    gateway: Gateway, call: CallContext, usage: Usage, reported_model: Any = None
) -> None:
    """Set the call's usage, price and cost (USD)."""
    target = call.target
    call.usage = usage
    if target is None:
        return

    call.price = card_for_target(gateway, target)
    call.cost_usd = call.price.price(usage)
    call.model_used = (
        reported_model if isinstance(reported_model, str) else target.model
    )


def gateway_facts(call: CallContext) -> dict[str, Any]:
    """What the gateway tells the client about a call (body and headers)."""
    usage = call.usage or Usage()
    return {
        "request_id": call.request_id,
        "provider": call.provider,
        "model": call.model_used,
        "target": call.target.id if call.target else None,
        "attempts": len(call.attempts_made()),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "tokens_estimated": usage.estimated,
        "cost_usd": round(call.cost_usd, 10),
        "overhead_ms": round(call.overhead_ms(), 3),
    }


_TOKEN_FACTS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)


def gateway_headers(call: CallContext) -> dict[str, str]:
    """The ``x-gateway-*`` headers of a completed call."""
    facts = gateway_facts(call)
    headers: dict[str, str] = {}
    for name in ("provider", "model", "target", "attempts"):
        if facts[name] is not None:
            headers[f"x-gateway-{name}"] = str(facts[name])
    if call.usage is not None:
        for name in _TOKEN_FACTS:
            headers["x-gateway-" + name.replace("_", "-")] = str(facts[name])
        headers["x-gateway-tokens-estimated"] = (
            "true" if facts["tokens_estimated"] else "false"
        )
        headers["x-gateway-cost-usd"] = (
            f"{call.cost_usd:.10f}".rstrip("0").rstrip(".") or "0"
        )
    headers["x-gateway-overhead-ms"] = f"{facts['overhead_ms']:.3f}"
    headers.update(response_headers(call))
    return headers


def target_headers(call: CallContext) -> dict[str, str]:
    """Headers known before tokens and cost are (a stream's start, an error): once a
    provider was tried, the target tried last and the attempts made; once admitted,
    the rate-limit headers. A stream's tokens and cost come in its last chunk."""
    headers: dict[str, str] = {}
    made = call.attempts_made()
    target = call.target or (made[-1].target if made else None)
    if target is not None:
        headers["x-gateway-provider"] = target.provider
        headers["x-gateway-model"] = call.model_used or target.model
        headers["x-gateway-target"] = target.id
        headers["x-gateway-attempts"] = str(len(made))
    headers.update(response_headers(call))
    return headers


def record_call(gateway: Gateway, call: CallContext) -> None:
    """Hand the call's rows to the writer and log one line. Idempotent."""
    if call.recorded:
        return
    call.recorded = True
    settle(gateway, call)
    if call.error is not None:
        gateway.redactor.redact_error(call.error)

    row = request_row(call)
    rows: list[tuple[str, dict[str, Any]]] = [("requests", row)]
    rows.extend(
        ("request_tags", {"request_id": call.request_id, "tag": tag})
        for tag in call.caller.tags
    )
    rows.extend(("attempts", attempt_row(call, attempt)) for attempt in call.attempts)
    gateway.writer.submit_many(rows)
    logger.info(
        "request",
        extra={
            "fields": {
                "request_id": call.request_id,
                "key_id": row["key_id"],
                "route": call.model_requested,
                "provider": row["provider"],
                "model": row["model_used"],
                "status": row["status"],
                "latency_ms": row["latency_ms"],
                "overhead_ms": row["overhead_ms"],
                "prompt_tokens": row["prompt_tokens"],
                "completion_tokens": row["completion_tokens"],
                "cost_usd": row["cost_usd"],
                "attempts": row["attempts"],
                "error_type": row["error_type"],
            }
        },
    )


def request_row(call: CallContext) -> dict[str, Any]:
    usage = call.usage or Usage()
    error = call.error
    key = call.key
    # A call that failed on every target records the last one it tried.
    target = call.target or (call.attempts[-1].target if call.attempts else None)
    return {
        "id": call.request_id,
        "created_at": call.created_at or utc_now(),
        "endpoint": call.endpoint,
        "key_id": key.id if key else None,
        "team": key.team if key else None,
        "model_requested": call.model_requested,
        "model_used": call.model_used,
        "provider": target.provider if target else None,
        "target": target.id if target else None,
        "stream": int(call.stream),
        "status": call.status or (error.status if error else 500),
        "error_type": error.type if error else None,
        "error_message": error.message[:500] if error else None,
        "latency_ms": round(call.elapsed_ms(), 3),
        "overhead_ms": round(call.overhead_ms(), 3),
        "upstream_ms": round(call.upstream_seconds * 1000, 3),
        "first_byte_ms": None,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "tokens_estimated": int(usage.estimated),
        "cost_usd": call.cost_usd,
        "price_source": call.price.source if call.price else None,
        "price_input_mtok": call.price.input_per_mtok if call.price else None,
        "price_output_mtok": call.price.output_per_mtok if call.price else None,
        "workflow_id": call.caller.workflow_id,
        "workflow_name": call.caller.workflow_name,
        "execution_id": call.caller.execution_id,
        "node_name": call.caller.node_name,
        "user": call.caller.user,
        "tags": ",".join(call.caller.tags) or None,
        "attempts": len(call.attempts),
        "finish_reason": call.finish_reason,
        "downgraded_from": call.admission.downgraded_from if call.admission else None,
    }


def attempt_row(call: CallContext, attempt: Any) -> dict[str, Any]:
    return {
        "request_id": call.request_id,
        "number": attempt.number,
        "created_at": attempt.created_at,
        "target": attempt.target.id,
        "provider": attempt.target.provider,
        "model": attempt.target.model,
        "kind": attempt.kind,
        "wait_ms": round(attempt.wait_ms, 3),
        "latency_ms": round(attempt.latency_ms, 3),
        "status": attempt.status,
        "error_type": attempt.error_type,
        "outcome": attempt.outcome,
    }


def record_error(call: CallContext, error: GatewayError) -> None:
    call.error = error
    call.status = error.status
