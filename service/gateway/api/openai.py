"""The OpenAI-compatible surface: /v1/chat/completions, /v1/responses, /v1/embeddings,
/v1/models, /v1/spend (the calling key's own spend) and /v1/estimate (what a call
would cost on each candidate model)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, request

from .. import pipeline, responses_api
from ..attribution import read_caller, with_body_user
from ..context import CallContext
from ..control.estimate import estimate_models
from ..disconnect import ClientWatch
from ..errors import InvalidRequestError
from ..keys import authenticate, utc_now
from ..reports import REPORT_COLUMNS, spend_report
from ..routing.policy import Overrides
from . import current_gateway
from .bodies import load_args, read_json, validate_body
from .replies import csv_response, json_response
from .schemas import (
    ChatCompletionSchema,
    EmbeddingsSchema,
    EstimateSchema,
    ResponsesSchema,
    SpendQuerySchema,
)

blueprint = Blueprint("openai", __name__, url_prefix="/v1")

_CHAT = ChatCompletionSchema()
_EMBEDDINGS = EmbeddingsSchema()
_SPEND = SpendQuerySchema()
_ESTIMATE = EstimateSchema()
_RECORDED_ENDPOINTS = {
    "/v1/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
}


def presented_key() -> str | None:
    """The key from ``Authorization: Bearer`` or ``x-api-key``."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()

    return request.headers.get("x-api-key") or None


_TRUE = {"1", "true", "yes"}
_FALSE = {"0", "false", "no"}


def routing_overrides() -> Overrides:
    """Per-request routing control from ``X-Gateway-*`` headers (docs/api.md)."""
    headers = request.headers
    no_fallback = headers.get("X-Gateway-No-Fallback", "false").strip().lower()
    if no_fallback not in _TRUE | _FALSE:
        raise InvalidRequestError(
            "X-Gateway-No-Fallback must be true or false", param="X-Gateway-No-Fallback"
        )

    return Overrides(
        no_fallback=no_fallback in _TRUE,
        max_retries=_header_number("X-Gateway-Max-Retries", int, 0, 10),
        target=headers.get("X-Gateway-Target") or None,
        timeout=_header_number("X-Gateway-Timeout", float, 0.1, 3600),
    )


def _header_number(name: str, kind: type, low: float, high: float) -> Any:
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise InvalidRequestError(
            f"{name} must be a number from {low:g} to {high:g}", param=name
        )

    return value


@blueprint.before_request
def authenticate_call() -> None:
    endpoint = _RECORDED_ENDPOINTS.get(request.path)
    if endpoint is not None:
        call = CallContext(
            endpoint=endpoint, request_id=g.request_id, created_at=utc_now()
        )
        call.caller = read_caller(request.environ)
        call.watch = ClientWatch(request.environ, call)
        g.call = call
    key = authenticate(current_gateway().store, presented_key())
    g.key = key
    if endpoint is not None:
        g.call.key = key
        # Only after the key: a caller without one learns nothing but 401.
        g.call.overrides = routing_overrides()


@blueprint.teardown_request
def record_call(exc: BaseException | None) -> None:
    call = g.get("call")
    if call is not None and not g.get("stream_owns_call"):
        call.watch.stop()
        pipeline.record_call(current_gateway(), call)


@blueprint.post("/chat/completions")
def chat_completions() -> Response:
    body = read_json(request)
    g.call.model_requested = (
        body.get("model") if isinstance(body.get("model"), str) else None
    )
    validate_body(_CHAT, body)
    gateway = current_gateway()
    call = g.call
    call.caller = with_body_user(call.caller, body.get("user"))
    if body.get("stream") is True:
        stream = pipeline.start_chat_stream(gateway, call, body)
        g.stream_owns_call = True
        headers = {**pipeline.target_headers(call), "Cache-Control": "no-cache"}
        return Response(stream, mimetype="text/event-stream", headers=headers)

    result = pipeline.complete_chat(gateway, call, body)
    return json_response(result, headers=pipeline.gateway_headers(call))


@blueprint.post("/embeddings")
def embeddings() -> Response:
    body = read_json(request)
    g.call.model_requested = (
        body.get("model") if isinstance(body.get("model"), str) else None
    )
    validate_body(_EMBEDDINGS, body)
    call = g.call
    call.caller = with_body_user(call.caller, body.get("user"))
    result = pipeline.create_embeddings(current_gateway(), call, body)
    return json_response(result, headers=pipeline.gateway_headers(call))


@blueprint.get("/models")
def list_models() -> Response:
    gateway = current_gateway()
    models = [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": route.targets[0].provider,
        }
        for name, route in sorted(gateway.config.routes.items())
        if g.key.allows_model(name)
    ]
    return json_response({"object": "list", "data": models})


@blueprint.get("/spend")
def own_spend() -> Response:
    query = load_args(_SPEND, request.args)
    query["key_id"] = g.key.id
    gateway = current_gateway()
    gateway.writer.flush()
    report = spend_report(gateway.store, query, gateway.now())
    if query["format"] == "csv":
        rows = report["groups"] if report["group_by"] else [report["total"]]
        columns = [*report["group_by"], *REPORT_COLUMNS]
        return csv_response(rows, columns, "spend.csv")

    return json_response(report)


_RESPONSES = ResponsesSchema()


@blueprint.post("/responses")
def create_response() -> Response:
    """OpenAI's Responses API, translated to and from a chat completion."""
    body = read_json(request)
    model = body.get("model")
    g.call.model_requested = model if isinstance(model, str) else None
    validate_body(_RESPONSES, body)
    chat_body = responses_api.build_chat_body(body)
    gateway = current_gateway()
    call = g.call
    call.caller = with_body_user(call.caller, body.get("user"))
    response_id = responses_api.response_id_for(call.request_id)
    if chat_body.get("stream"):
        chat_stream = pipeline.start_chat_stream(gateway, call, chat_body)
        g.stream_owns_call = True
        state = responses_api.ResponseStream(body, response_id)
        events = responses_api.relay_stream(chat_stream, state)
        headers = {**pipeline.target_headers(call), "Cache-Control": "no-cache"}
        return Response(events, mimetype="text/event-stream", headers=headers)

    completion = pipeline.complete_chat(gateway, call, chat_body)
    result = responses_api.build_response(completion, body, response_id)
    return json_response(result, headers=pipeline.gateway_headers(call))


@blueprint.post("/estimate")
def estimate() -> Response:
    """Tokens and cost range of a chat body on each candidate model; no provider is
    called and nothing is recorded."""
    body = read_json(request)
    validate_body(_ESTIMATE, body)
    return json_response(estimate_models(current_gateway(), g.key, body))
