"""OpenAI's wire format: chat completions (whole and streamed), embeddings, models.

Shapes follow the official SDK's types (``openai.types.chat.ChatCompletion``,
``ChatCompletionChunk``, ``CreateEmbeddingResponse``, ``Model``) and
https://platform.openai.com/docs/api-reference/chat. Error bodies and headers follow
https://platform.openai.com/docs/guides/error-codes and
https://platform.openai.com/docs/guides/rate-limits (``x-ratelimit-*``).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from typing import Any

from .behaviours import Behaviour, Usage
from .replies import (
    Prompt,
    Reply,
    build_reply,
    count_tokens,
    embed,
    split_arguments,
    split_text,
)
from .wire import (
    RecordedRequest,
    Response,
    json_response,
    retry_headers,
    sse_event,
    sse_response,
)

MODELS = (
    "gpt-4o",
    "gpt-4o-mini",
    "o3-mini",
    "text-embedding-3-small",
    "text-embedding-3-large",
)

MODEL_CREATED = 1_715_367_049

FINGERPRINT = "fp_fake0001"

EMBEDDING_DIMENSIONS = 1536

ERRORS = {
    400: ("invalid_request_error", None, "The fake provider rejected this request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported.",
    ),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests."),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway."),
    503: (
        "server_error",
        None,
        "The engine is currently overloaded, please try again later.",
    ),
}

MALFORMED_EVENT = b'data: {"id":"chatcmpl-broken","object":"chat.completion.chunk",\n\n'

FINISH_REASONS = {"stop_sequence": "stop"}


def complete_chat(request: RecordedRequest, behaviour: Behaviour) -> Response:
    """Answer ``POST /v1/chat/completions``: a ``chat.completion`` object, or with
    ``stream`` its ``chat.completion.chunk`` events and ``[DONE]``."""
    refusal = check_request(request, required=("model", "messages"))
    if refusal is not None:
        return refusal

    body = request.json
    reply = build_reply(read_prompt(body), behaviour)
    chat_id = f"chatcmpl-fake{request.index:08d}"
    model = body["model"]
    created = int(time.time())
    headers = success_headers(request)

    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        events = render_chunks(chat_id, created, model, reply, include_usage)
        return sse_response(headers, events)

    completion = {
        "id": chat_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": render_message(chat_id, reply),
                "logprobs": None,
                "finish_reason": FINISH_REASONS.get(reply.finish, reply.finish),
            }
        ],
        "usage": render_usage(reply.usage),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    return json_response(200, completion, headers)


def create_embeddings(request: RecordedRequest, behaviour: Behaviour) -> Response:
    """Answer ``POST /v1/embeddings`` with one unit vector per input, as float lists
    or, with ``encoding_format: base64`` (the SDK's default), little-endian float32."""
    refusal = check_request(request, required=("model", "input"))
    if refusal is not None:
        return refusal

    body = request.json
    inputs = body["input"]
    if not isinstance(inputs, list) or (inputs and isinstance(inputs[0], int)):
        inputs = [inputs]
    texts = [item if isinstance(item, str) else json.dumps(item) for item in inputs]
    dimensions = body.get("dimensions") or EMBEDDING_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"

    data = []
    for index, text in enumerate(texts):
        vector: Any = embed(text, dimensions)
        if as_base64:
            packed = struct.pack(f"<{dimensions}f", *vector)
            vector = base64.b64encode(packed).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": vector})

    tokens = sum(count_tokens(text) for text in texts)
    if behaviour.usage is not None:
        tokens = behaviour.usage.input_tokens
    payload = {
        "object": "list",
        "data": data,
        "model": body["model"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return json_response(200, payload, success_headers(request))


def list_models(request: RecordedRequest, behaviour: Behaviour) -> Response:
    """Answer ``GET /v1/models`` with ``MODELS``."""
    refusal = check_request(request, required=())
    if refusal is not None:
        return refusal

    data = [
        {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "system"}
        for name in MODELS
    ]
    return json_response(
        200, {"object": "list", "data": data}, success_headers(request)
    )


ROUTES = {
    ("POST", "/v1/chat/completions"): complete_chat,
    ("POST", "/v1/embeddings"): create_embeddings,
    ("GET", "/v1/models"): list_models,
}


def check_request(
    request: RecordedRequest, required: tuple[str, ...]
) -> Response | None:
    """Refuse as OpenAI does a request without a bearer key (401) or without a
    required body field (400); return None for a request that may proceed."""
    if not request.headers.get("authorization", "").startswith("Bearer "):
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth "
            "(i.e. Authorization: Bearer YOUR_KEY)."
        )
        return render_error(request, Behaviour(status=401, message=message), 401)

    body = request.json if isinstance(request.json, dict) else {}
    for name in required:
        if name not in body:
            behaviour = Behaviour(
                status=400,
                message=f"Missing required parameter: '{name}'.",
                code="missing_required_parameter",
            )
            return render_error(request, behaviour, 400, param=name)
    return None


def read_prompt(body: dict[str, Any]) -> Prompt:
    messages = body.get("messages") or []
    texts = [message_text(message) for message in messages]
    last_user_text = next(
        (
            message_text(message)
            for message in reversed(messages)
            if message.get("role") in ("user", "tool")
        ),
        "",
    )

    tools = {
        tool["function"]["name"]: tool["function"].get("parameters", {})
        for tool in body.get("tools") or []
        if tool.get("type") == "function"
    }
    choice = body.get("tool_choice")
    forced_tool = None
    if choice == "required" and tools:
        forced_tool = next(iter(tools))
    elif isinstance(choice, dict) and choice.get("type") == "function":
        forced_tool = choice["function"]["name"]

    response_format = body.get("response_format") or {}
    json_schema = None
    if response_format.get("type") == "json_schema":
        json_schema = response_format["json_schema"].get("schema", {})
    stop = body.get("stop") or ()

    return Prompt(
        model=body["model"],
        input_text=" ".join(texts),
        last_user_text=last_user_text,
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        tool_schemas=tools,
        forced_tool=forced_tool,
        wants_json=response_format.get("type") == "json_object",
        json_schema=json_schema,
        stop_sequences=(stop,) if isinstance(stop, str) else tuple(stop),
    )


def message_text(message: dict[str, Any]) -> str:
    """Return a message's text: its string content or the text of its parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    parts = content or []
    return " ".join(
        part.get("text", "") for part in parts if part.get("type") == "text"
    )


def render_message(chat_id: str, reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id(chat_id, index, call.id),
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": json.dumps(call.arguments),
                },
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    return message


def render_chunks(
    chat_id: str, created: int, model: str, reply: Reply, include_usage: bool
) -> list[bytes]:
    """Encode ``reply`` as OpenAI streams it: a role delta, content deltas, per tool
    call a delta with its id, type and name then argument fragments, a finish delta,
    with ``include_usage`` a chunk with no choices and the usage, then ``[DONE]``.
    With ``include_usage`` every other chunk has ``"usage": null``, as OpenAI sends."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload: dict[str, Any] = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return sse_event(payload)

    first = "" if reply.text is not None else None
    events = [chunk({"role": "assistant", "content": first, "refusal": None})]
    events += [chunk({"content": piece}) for piece in split_text(reply.text or "")]

    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call_id(chat_id, index, call.id),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        for fragment in split_arguments(json.dumps(call.arguments)):
            tail = {"index": index, "function": {"arguments": fragment}}
            events.append(chunk({"tool_calls": [tail]}))

    events.append(chunk({}, FINISH_REASONS.get(reply.finish, reply.finish)))
    if include_usage:
        last = {
            "id": chat_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": [],
            "usage": render_usage(reply.usage),
        }
        events.append(sse_event(last))
    events.append(sse_event("[DONE]"))
    return events


def call_id(chat_id: str, index: int, given: str | None) -> str:
    return given or f"call_{chat_id.removeprefix('chatcmpl-')}_{index}"


def render_usage(usage: Usage) -> dict[str, Any]:
    prompt_tokens = (
        usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    )
    prompt_details = {"cached_tokens": usage.cache_read_tokens, "audio_tokens": 0}
    if usage.cache_write_tokens:
        prompt_details["cache_write_tokens"] = usage.cache_write_tokens
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {
            "reasoning_tokens": usage.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def error_object(behaviour: Behaviour, param: str | None = None) -> dict[str, Any]:
    """OpenAI's ``error`` object for ``behaviour.status``, with its overrides."""
    fallback = "server_error" if behaviour.status >= 500 else "invalid_request_error"
    error_type, code, message = ERRORS.get(
        behaviour.status, (fallback, None, "The fake provider failed.")
    )
    return {
        "message": behaviour.message or message,
        "type": behaviour.error_type or error_type,
        "param": param,
        "code": behaviour.code or code,
    }


def render_error(
    request: RecordedRequest,
    behaviour: Behaviour,
    status: int,
    param: str | None = None,
) -> Response:
    """An error response with HTTP ``status`` whose body describes
    ``behaviour.status`` (they differ only for an error inside a 200)."""
    headers = [
        *request_headers(request),
        *rate_limit_headers(behaviour.limit_reset_s),
        *retry_headers(behaviour),
    ]
    return json_response(status, {"error": error_object(behaviour, param)}, headers)


def render_error_event(request: RecordedRequest, behaviour: Behaviour) -> bytes:
    """The event OpenAI sends when a stream fails after it started."""
    return sse_event({"error": error_object(behaviour)})


def success_headers(request: RecordedRequest) -> list[tuple[str, str]]:
    return [*request_headers(request), *rate_limit_headers(None)]


def request_headers(request: RecordedRequest) -> list[tuple[str, str]]:
    return [
        ("x-request-id", f"req_fake{request.index:08d}"),
        ("openai-processing-ms", "1"),
        ("openai-version", "2020-10-01"),
    ]


def rate_limit_headers(reset_s: float | None) -> list[tuple[str, str]]:
    """OpenAI's ``x-ratelimit-*`` headers; ``reset_s`` reports the request limit
    exhausted and resetting in that many seconds, None a limit with room left."""
    remaining = "0" if reset_s is not None else "9999"
    reset = format_duration(reset_s) if reset_s is not None else "6ms"
    return [
        ("x-ratelimit-limit-requests", "10000"),
        ("x-ratelimit-remaining-requests", remaining),
        ("x-ratelimit-reset-requests", reset),
        ("x-ratelimit-limit-tokens", "30000000"),
        ("x-ratelimit-remaining-tokens", "29999000"),
        ("x-ratelimit-reset-tokens", "0s"),
    ]


def format_duration(seconds: float) -> str:
    """Write a duration as OpenAI does: ``20ms``, ``1s``, ``6m0s``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    rest_text = f"{rest:g}s"
    return f"{int(minutes)}m{rest_text}" if minutes else rest_text
