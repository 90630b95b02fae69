"""Anthropic's wire format: the Messages API, whole and streamed.

Shapes follow the official SDK's types (``anthropic.types.Message``, the
``Raw*Event`` stream events, ``ErrorResponse``) and
https://docs.anthropic.com/en/api/messages,
https://docs.anthropic.com/en/docs/build-with-claude/streaming and
https://docs.anthropic.com/en/api/errors. Rate-limit headers follow
https://docs.anthropic.com/en/api/rate-limits (RFC 3339 reset times).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from .behaviours import Behaviour, Usage
from .replies import Prompt, Reply, build_reply, split_arguments, split_text
from .wire import (
    RecordedRequest,
    Response,
    json_response,
    retry_headers,
    sse_event,
    sse_response,
)

ERRORS = {
    400: ("invalid_request_error", "The fake provider rejected this request."),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low."),
    403: ("permission_error", "Your API key does not have permission to do this."),
    404: ("not_found_error", "The requested resource could not be found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}

MALFORMED_EVENT = (
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,\n\n'
)

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "stop_sequence": "stop_sequence",
}


def create_message(request: RecordedRequest, behaviour: Behaviour) -> Response:
    """Answer ``POST /v1/messages``: a ``message`` object, or with ``stream`` the
    events ``message_start``, per content block ``content_block_start`` /
    ``content_block_delta`` / ``content_block_stop`` (a ``ping`` after the first
    start), ``message_delta`` with the stop reason and cumulative output tokens, and
    ``message_stop``."""
    refusal = check_request(request)
    if refusal is not None:
        return refusal

    body = request.json
    reply = build_reply(read_prompt(body), behaviour)
    message_id = f"msg_fake{request.index:08d}"
    message = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": render_blocks(message_id, reply),
        "stop_reason": STOP_REASONS.get(reply.finish, reply.finish),
        "stop_sequence": reply.stop_sequence,
        "usage": render_usage(reply.usage),
    }
    headers = success_headers(request)

    if body.get("stream"):
        return sse_response(headers, render_events(message, reply))
    return json_response(200, message, headers)


ROUTES = {("POST", "/v1/messages"): create_message}


def check_request(request: RecordedRequest) -> Response | None:
    """Refuse as Anthropic does a request without ``x-api-key`` (401), without
    ``anthropic-version`` (400) or without a required body field (400)."""
    if "x-api-key" not in request.headers and "authorization" not in request.headers:
        behaviour = Behaviour(status=401, message="x-api-key header is required")
        return render_error(request, behaviour, 401)

    if "anthropic-version" not in request.headers:
        message = "anthropic-version: header is required"
        return render_error(request, Behaviour(status=400, message=message), 400)

    body = request.json if isinstance(request.json, dict) else {}
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            message = f"{name}: Field required"
            return render_error(request, Behaviour(status=400, message=message), 400)
    return None


def read_prompt(body: dict[str, Any]) -> Prompt:
    messages = body["messages"]
    texts = [block_text(body.get("system"))]
    texts += [block_text(message.get("content")) for message in messages]
    last_user_text = next(
        (
            block_text(message.get("content"))
            for message in reversed(messages)
            if message.get("role") == "user"
        ),
        "",
    )

    tools = {
        tool["name"]: tool.get("input_schema", {})
        for tool in body.get("tools") or []
        if "name" in tool
    }
    choice = body.get("tool_choice") or {}
    forced_tool = None
    if choice.get("type") == "any" and tools:
        forced_tool = next(iter(tools))
    elif choice.get("type") == "tool":
        forced_tool = choice["name"]

    output_format = (body.get("output_config") or {}).get("format") or {}
    json_schema = None
    if output_format.get("type") == "json_schema":
        json_schema = output_format.get("schema", {})

    return Prompt(
        model=body["model"],
        input_text=" ".join(text for text in texts if text),
        last_user_text=last_user_text,
        max_tokens=body["max_tokens"],
        tool_schemas=tools,
        forced_tool=forced_tool,
        json_schema=json_schema,
        stop_sequences=tuple(body.get("stop_sequences") or ()),
    )


def block_text(content: Any) -> str:
    """Return the text of a string or of content blocks, tool results included."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content

    texts = []
    for block in content:
        if block.get("type") == "text":
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.append(block_text(block.get("content")))
    return " ".join(texts)


def render_blocks(message_id: str, reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    for index, call in enumerate(reply.tool_calls):
        blocks.append(
            {
                "type": "tool_use",
                "id": call.id or f"toolu_{message_id.removeprefix('msg_')}_{index}",
                "name": call.name,
                "input": call.arguments,
            }
        )
    return blocks


def render_events(message: dict[str, Any], reply: Reply) -> list[bytes]:
    """Encode ``message`` as Anthropic streams it (see ``create_message``).

    ``message_start`` reports 1 output token, as Anthropic's does; the real total
    comes in ``message_delta``, which replaces it."""
    start_usage = dict(message["usage"], output_tokens=1)
    start = dict(message, content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = start_usage
    events = [sse_event({"type": "message_start", "message": start}, "message_start")]

    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            opening = {"type": "text", "text": ""}
            deltas = [
                {"type": "text_delta", "text": piece}
                for piece in split_text(block["text"])
            ]
        else:
            opening = dict(block, input={})
            fragments = ["", *split_arguments(json.dumps(block["input"]))]
            deltas = [
                {"type": "input_json_delta", "partial_json": fragment}
                for fragment in fragments
            ]

        events.append(
            sse_event(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": opening,
                },
                "content_block_start",
            )
        )
        if index == 0:
            events.append(sse_event({"type": "ping"}, "ping"))
        for delta in deltas:
            payload = {"type": "content_block_delta", "index": index, "delta": delta}
            events.append(sse_event(payload, "content_block_delta"))
        events.append(
            sse_event(
                {"type": "content_block_stop", "index": index}, "content_block_stop"
            )
        )

    closing = {
        "type": "message_delta",
        "delta": {
            "stop_reason": message["stop_reason"],
            "stop_sequence": message["stop_sequence"],
        },
        "usage": {"output_tokens": reply.usage.output_tokens},
    }
    events.append(sse_event(closing, "message_delta"))
    events.append(sse_event({"type": "message_stop"}, "message_stop"))
    return events


def render_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_write_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": usage.output_tokens,
        "service_tier": "standard",
    }


def error_object(behaviour: Behaviour) -> dict[str, Any]:
    """Anthropic's ``error`` object for ``behaviour.status``, with its overrides."""
    fallback = "api_error" if behaviour.status >= 500 else "invalid_request_error"
    error_type, message = ERRORS.get(behaviour.status, (fallback, "The fake failed."))
    return {
        "type": behaviour.error_type or error_type,
        "message": behaviour.message or message,
    }


def render_error(
    request: RecordedRequest, behaviour: Behaviour, status: int
) -> Response:
    """An error response with HTTP ``status`` whose body describes
    ``behaviour.status`` (they differ only for an error inside a 200)."""
    request_id = f"req_fake{request.index:08d}"
    payload = {
        "type": "error",
        "error": error_object(behaviour),
        "request_id": request_id,
    }
    headers = [
        ("request-id", request_id),
        *rate_limit_headers(behaviour.limit_reset_s),
        *retry_headers(behaviour),
    ]
    return json_response(status, payload, headers)


def render_error_event(request: RecordedRequest, behaviour: Behaviour) -> bytes:
    """The ``error`` event Anthropic sends when a stream fails after it started."""
    return sse_event({"type": "error", "error": error_object(behaviour)}, "error")


def success_headers(request: RecordedRequest) -> list[tuple[str, str]]:
    return [("request-id", f"req_fake{request.index:08d}"), *rate_limit_headers(None)]


def rate_limit_headers(reset_s: float | None) -> list[tuple[str, str]]:
    """Anthropic's ``anthropic-ratelimit-*`` headers; ``reset_s`` reports the
    request limit exhausted and resetting that many seconds from now, None a limit
    with room left that resets in a second."""
    moment = datetime.now(UTC) + timedelta(seconds=1.0 if reset_s is None else reset_s)
    if moment.microsecond:
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    reset = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    remaining = "0" if reset_s is not None else "3999"
    headers = [
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", remaining),
        ("anthropic-ratelimit-requests-reset", reset),
    ]
    for name in ("tokens", "input-tokens", "output-tokens"):
        headers += [
            (f"anthropic-ratelimit-{name}-limit", "400000"),
            (f"anthropic-ratelimit-{name}-remaining", "399000"),
            (f"anthropic-ratelimit-{name}-reset", reset),
        ]
    return headers
