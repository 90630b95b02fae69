"""Anthropic's Messages API: pure translation to and from OpenAI's chat shape.

Requests become ``POST {base_url}/messages``; answers and stream events become
OpenAI ``chat.completion`` bodies and ``chat.completion.chunk`` dicts.
https://platform.claude.com/docs/en/api/messages

Choices a reader should know:

- ``system`` and ``developer`` messages, wherever they stand, are joined into the
  top-level ``system`` text: Anthropic has no system role inside ``messages``.
- Messages of one role in a row are merged into one turn, and ``tool`` messages become
  ``tool_result`` blocks of a user turn, because Anthropic wants the roles to alternate.
- ``max_tokens`` is required by Anthropic. Without one from the client the default is
  ``default_max_tokens(model)``, or the endpoint's ``options["default_max_tokens"]``.
- JSON mode. ``response_format`` ``json_object`` or ``json_schema`` is served by a tool
  named ``gateway_json_response`` whose input schema is the requested schema
  (``{"type": "object"}`` for ``json_object``). The model is made to call it, and its
  input becomes the message content as a JSON string, with finish reason ``stop``. This
  works on every Claude model. Limits: the schema guides the model but does not
  constrain decoding; its root must be an object, as a tool input is; when the client
  forces one of its own tools (``required`` or a named function) that wins and no JSON
  answer is asked for; when the client's tools are optional the model must call one of
  them or answer through the JSON tool; text written beside a JSON answer is dropped
  from non-streamed bodies so the content stays JSON; a client tool cannot take the
  reserved name. Anthropic's native structured outputs (``output_config.format``) exist
  only for some models and are not used.
- ``temperature`` is capped at 1.0, Anthropic's maximum; ``n`` above 1 is refused.
  Penalties, ``seed``, ``logit_bias`` and ``logprobs`` have no Anthropic equivalent
  and are dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..errors import (
    ProviderAuthError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderQuotaError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    redact_secrets,
)
from .retry_after import parse_retry_after
from .types import Completion, Endpoint, ProviderCall, SSEEvent, Usage
from .wire import load_json_object, usage_body

# https://platform.claude.com/docs/en/api/versioning
ANTHROPIC_VERSION = "2023-06-01"

JSON_TOOL_NAME = "gateway_json_response"

# The smallest "max output" Anthropic documents for each model generation, so the
# default is accepted by every model of it: Claude 3 Haiku and Opus 4,096; Claude 3.5
# 8,192; Claude 3.7 and later at least 32,000 (Opus 4 and 4.1). A name that is not a
# Claude model is some other server speaking this API; it gets the cautious 4,096.
# https://platform.claude.com/docs/en/about-claude/models/overview
_DEFAULT_MAX_TOKENS = (
    ("claude-3-5-", 8192),
    ("claude-3-7-", 32000),
    ("claude-3-", 4096),
    ("claude-", 32000),
)
_OTHER_MODEL_MAX_TOKENS = 4096

# https://platform.claude.com/docs/en/api/messages (temperature: 0.0 to 1.0)
_MAX_TEMPERATURE = 1.0

_TOOL_CHOICES = {"auto": "auto", "none": "none", "required": "any"}

# https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons
# pause_turn ends a server-tool loop; the gateway sends no server tools.
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# The HTTP status each error type comes with, used for errors that arrive after a 200
# (stream ``error`` events). https://platform.claude.com/docs/en/api/errors
_ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

# A 429 for the usage tier's monthly spend cap carries this code and no retry-after;
# retrying fails until the month ends. https://platform.claude.com/docs/en/api/errors
_SPEND_LIMIT_CODE = "enforced_spend_limit_reached"

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def build_chat_call(
    endpoint: Endpoint, model: str, body: dict[str, Any], stream: bool
) -> ProviderCall:
    """Build the Messages call for an OpenAI chat body.

    Raises ``ProviderRejectedError`` naming the param when the body holds something
    Anthropic cannot express.
    """
    payload = build_messages_body(model, body, endpoint.options)
    if stream:
        payload["stream"] = True

    return ProviderCall(
        "POST",
        endpoint.base_url.rstrip("/") + "/messages",
        build_headers(endpoint),
        orjson.dumps(payload),
    )


def build_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "anthropic-version": ANTHROPIC_VERSION,
    }
    if endpoint.api_key:
        headers["x-api-key"] = endpoint.api_key
    headers.update(endpoint.headers)
    return headers


def build_messages_body(
    model: str, body: dict[str, Any], options: Mapping[str, Any]
) -> dict[str, Any]:
    """Translate an OpenAI chat body into a Messages API body (without ``stream``)."""
    system, messages = translate_messages(body.get("messages"))
    payload: dict[str, Any] = {
        "model": model,
        "max_tokens": choose_max_tokens(model, body, options),
        "messages": messages,
    }
    if system:
        payload["system"] = system

    payload.update(_sampling_fields(body))
    payload.update(_tool_fields(body))
    user = body.get("user")
    if isinstance(user, str) and user:
        payload["metadata"] = {"user_id": user}

    return payload


def choose_max_tokens(
    model: str, body: dict[str, Any], options: Mapping[str, Any]
) -> int:
    """The client's limit (``max_completion_tokens`` first), else the default."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_count(value) or value < 1:
            raise _rejected(f"{name} must be a positive integer", name)
        return value

    configured = options.get("default_max_tokens")
    if _is_count(configured) and configured > 0:
        return configured

    return default_max_tokens(model)


def default_max_tokens(model: str) -> int:
    """The ``max_tokens`` sent when neither the client nor the endpoint sets one."""
    for prefix, tokens in _DEFAULT_MAX_TOKENS:
        if model.startswith(prefix):
            return tokens

    return _OTHER_MODEL_MAX_TOKENS


def _sampling_fields(body: dict[str, Any]) -> dict[str, Any]:
    n = body.get("n")
    if n is not None and n != 1:
        raise _rejected("Anthropic returns one choice per request; n must be 1", "n")

    fields: dict[str, Any] = {}
    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature):
            raise _rejected("temperature must be a number", "temperature")
        fields["temperature"] = min(temperature, _MAX_TEMPERATURE)
    if body.get("top_p") is not None:
        fields["top_p"] = body["top_p"]

    stop = body.get("stop")
    if isinstance(stop, str):
        fields["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        fields["stop_sequences"] = stop

    return fields


def translate_messages(messages: Any) -> tuple[str, list[dict[str, Any]]]:
    """Split OpenAI messages into Anthropic's ``system`` text and alternating turns.

    In a user turn the ``tool_result`` blocks come first, as Anthropic requires.
    https://platform.claude.com/docs/en/agents-and-tools/tool-use/handle-tool-calls
    Raises ``ProviderRejectedError`` naming the message it cannot express.
    """
    if not isinstance(messages, list) or not messages:
        raise _rejected("messages must be a non-empty list", "messages")

    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        role = message.get("role") if isinstance(message, dict) else None
        role = role if isinstance(role, str) else None
        if role in ("system", "developer"):
            system.append(_system_text(message.get("content"), f"{param}.content"))
            continue
        if role not in _TURN_BUILDERS:
            raise _rejected(f"unsupported message role {role!r}", f"{param}.role")
        turn_role, build_blocks = _TURN_BUILDERS[role]
        _append_turn(turns, turn_role, build_blocks(message, param))

    for turn in turns:
        if turn["role"] == "user":
            turn["content"].sort(key=_is_not_tool_result)

    return "\n\n".join(text for text in system if text), turns


def _append_turn(
    turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]
) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _is_not_tool_result(block: dict[str, Any]) -> bool:
    return block.get("type") != "tool_result"


def _system_text(content: Any, param: str) -> str:
    blocks = _content_blocks(content, param)
    if any(block["type"] != "text" for block in blocks):
        raise _rejected("system messages may hold text only", param)

    return "\n".join(block["text"] for block in blocks)


def _user_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    return _content_blocks(message.get("content"), f"{param}.content")


def _assistant_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    blocks = _content_blocks(message.get("content"), f"{param}.content")
    calls = message.get("tool_calls") or []
    if not isinstance(calls, list):
        raise _rejected("tool_calls must be a list", f"{param}.tool_calls")

    for position, call in enumerate(calls):
        blocks.append(_tool_use_block(call, f"{param}.tool_calls[{position}]"))

    return blocks


def _tool_result_blocks(message: dict[str, Any], param: str) -> list[dict[str, Any]]:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _rejected("tool messages need a tool_call_id", f"{param}.tool_call_id")

    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif content is not None:
        block["content"] = _content_blocks(content, f"{param}.content")

    return [block]


_TURN_BUILDERS: dict[str, tuple[str, Callable[..., list[dict[str, Any]]]]] = {
    "user": ("user", _user_blocks),
    "assistant": ("assistant", _assistant_blocks),
    "tool": ("user", _tool_result_blocks),
}


def _content_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    """Text and image blocks for OpenAI message content; empty text is left out."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise _rejected("content must be a string or a list of parts", param)

    blocks = []
    for position, part in enumerate(content):
        block = _part_block(part, f"{param}[{position}]")
        if block is not None:
            blocks.append(block)

    return blocks


def _part_block(part: Any, param: str) -> dict[str, Any] | None:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind == "image_url":
        block = _image_block(part.get("image_url"), f"{param}.image_url")
    elif kind in ("text", "refusal"):
        text = part.get(kind)
        if not isinstance(text, str):
            raise _rejected(f"{kind} parts need a string {kind}", f"{param}.{kind}")
        if not text:
            return None
        block = {"type": "text", "text": text}
    else:
        raise _rejected(f"unsupported content part type {kind!r}", f"{param}.type")

    # OpenRouter's convention for prompt caching through an OpenAI-shaped body.
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]

    return block


def _image_block(image_url: Any, param: str) -> dict[str, Any]:
    """An image block from a ``data:`` URL (base64) or an http(s) URL.

    https://platform.claude.com/docs/en/build-with-claude/vision
    """
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str):
        raise _rejected("image_url needs a url", param)

    if url.startswith("data:"):
        header, comma, data = url[len("data:") :].partition(",")
        media_type, *flags = header.split(";")
        if not comma or not media_type or "base64" not in flags:
            raise _rejected("image data URLs must be base64 with a media type", param)
        source = {"type": "base64", "media_type": media_type, "data": data}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise _rejected("image URLs must be data: or http(s) URLs", param)

    return {"type": "image", "source": source}


def _tool_use_block(call: Any, param: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise _rejected("tool calls need a function name", param)

    return {
        "type": "tool_use",
        "id": call.get("id"),
        "name": function["name"],
        "input": _tool_input(function.get("arguments"), f"{param}.function.arguments"),
    }


def _tool_input(arguments: Any, param: str) -> dict[str, Any]:
    """Parse a tool call's JSON arguments into the object Anthropic takes as input."""
    if arguments is None or arguments == "":
        return {}
    try:
        value = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise _rejected("tool call arguments must be a JSON object", param) from exc
    if not isinstance(value, dict):
        raise _rejected("tool call arguments must be a JSON object", param)

    return value


def _tool_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's ``tools`` and ``tool_choice``, JSON mode and parallelism included.

    https://platform.claude.com/docs/en/agents-and-tools/tool-use/implement-tool-use
    """
    tools = translate_tools(body.get("tools"))
    choice = translate_tool_choice(body.get("tool_choice")) if tools else None
    mode = choice["type"] if choice else "auto"
    json_tool = build_json_tool(body.get("response_format"))
    # A tool call the client forces wins over a JSON answer; otherwise, with tools of
    # its own, the model must call one of them or answer through the JSON tool.
    if json_tool is not None and mode in ("auto", "none"):
        json_choice = {"type": "tool", "name": JSON_TOOL_NAME}
        choice = {"type": "any"} if tools and mode == "auto" else json_choice
        tools = [*tools, json_tool]

    if body.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True

    fields: dict[str, Any] = {}
    if tools:
        fields["tools"] = tools
    if choice is not None:
        fields["tool_choice"] = choice

    return fields


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    """OpenAI function tools as Anthropic tools (name, description, input_schema)."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise _rejected("tools must be a list", "tools")

    return [
        _tool_definition(tool, f"tools[{index}]") for index, tool in enumerate(tools)
    ]


def _tool_definition(tool: Any, param: str) -> dict[str, Any]:
    is_function = isinstance(tool, dict) and tool.get("type") == "function"
    function = tool.get("function") if is_function else None
    if not isinstance(function, dict):
        raise _rejected("only function tools are supported", param)

    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise _rejected("function tools need a name", f"{param}.function.name")
    if name == JSON_TOOL_NAME:
        raise _rejected(f"the tool name {name} is reserved", f"{param}.function.name")

    schema = function.get("parameters") or {"type": "object", "properties": {}}
    definition = {"name": name, "input_schema": schema}
    if function.get("description"):
        definition["description"] = function["description"]

    return definition


def translate_tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return {"type": _TOOL_CHOICES[choice]}

    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return {"type": "tool", "name": function["name"]}

    raise _rejected("unsupported tool_choice", "tool_choice")


def build_json_tool(response_format: Any) -> dict[str, Any] | None:
    """The tool that carries a JSON answer, or None when no JSON is asked for."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if response_format is None or kind == "text":
        return None

    if kind == "json_object":
        schema: Any = {"type": "object"}
        purpose = "the answer as a JSON object"
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict):
            raise _rejected(
                "json_schema must be an object", "response_format.json_schema"
            )
        schema = spec.get("schema") or {"type": "object"}
        purpose = _schema_purpose(spec)
    else:
        raise _rejected(f"unsupported response_format {kind!r}", "response_format.type")

    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        raise _rejected(
            "the JSON schema's root must be an object",
            "response_format.json_schema.schema",
        )

    description = f"Give your final answer by calling this tool with {purpose}."
    return {
        "name": JSON_TOOL_NAME,
        "description": description,
        "input_schema": {**schema, "type": "object"},
    }


def _schema_purpose(spec: dict[str, Any]) -> str:
    purpose = "the answer as a JSON object following the input schema"
    if isinstance(spec.get("name"), str):
        purpose += f" {spec['name']!r}"
    if isinstance(spec.get("description"), str):
        purpose += f" ({spec['description']})"

    return purpose


def parse_chat_response(model: str, raw: bytes) -> Completion:
    """Parse a Message into a chat.completion; an error body in a 200 raises."""
    data = load_json_object(raw)
    if data.get("type") == "error":
        raise error_from_event(data)
    content = data.get("content")
    if data.get("type") != "message" or not isinstance(content, list):
        raise ProviderInvalidResponseError(
            "the provider answered something not a message"
        )

    usage = parse_usage(data.get("usage"))
    message = _assistant_message(content)
    has_tool_calls = "tool_calls" in message
    body: dict[str, Any] = {
        "id": data.get("id"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": data.get("model") or model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason(data.get("stop_reason"), has_tool_calls),
                "logprobs": None,
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage_body(usage)

    return Completion(body=body, usage=usage)


def _assistant_message(content: list[Any]) -> dict[str, Any]:
    """Text blocks joined, tool_use blocks as tool calls, a JSON answer as content."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answer: str | None = None
    for block in content:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use" and block.get("name") == JSON_TOOL_NAME:
            answer = orjson.dumps(block.get("input") or {}).decode()
        elif kind == "tool_use":
            calls.append(_tool_call(block))

    text = answer if answer is not None else "".join(texts)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or (None if calls else ""),
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls

    return message


def _tool_call(block: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": block.get("id"),
        "type": "function",
        "function": {
            "name": block.get("name"),
            "arguments": orjson.dumps(block.get("input") or {}).decode(),
        },
    }


def finish_reason(stop_reason: Any, has_tool_calls: bool) -> str:
    """OpenAI's finish reason for a stop reason; a JSON answer stops with ``stop``."""
    if stop_reason == "tool_use" and not has_tool_calls:
        return "stop"
    if not isinstance(stop_reason, str):
        return "stop"

    return _FINISH_REASONS.get(stop_reason, "stop")


def parse_usage(usage: Any) -> Usage | None:
    """Read Anthropic's usage, whose ``input_tokens`` excludes cache reads and writes.

    Our ``prompt_tokens`` adds them back (OpenAI's convention). None when absent.
    https://platform.claude.com/docs/en/build-with-claude/prompt-caching
    """
    if not isinstance(usage, dict):
        return None
    if not any(_is_count(usage.get(name)) for name in _USAGE_FIELDS):
        return None

    read = _count(usage, "cache_read_input_tokens")
    written = _count(usage, "cache_creation_input_tokens")
    return Usage(
        prompt_tokens=_count(usage, "input_tokens") + read + written,
        completion_tokens=_count(usage, "output_tokens"),
        cached_tokens=read,
        cache_write_tokens=written,
    )


def _count(usage: dict[str, Any], name: str) -> int:
    value = usage.get(name)
    return value if _is_count(value) else 0


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_error(status: int, headers: Mapping[str, str], raw: bytes) -> ProviderError:
    """Map an HTTP error status and Anthropic error body to our error class."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        data = {"error": {"message": raw[:200].decode("utf-8", "replace").strip()}}

    error = error_from_body(data, status)
    error.retry_after = parse_retry_after(headers)
    return error


def error_from_event(data: dict[str, Any]) -> ProviderError:
    """Build the error of an ``error`` event, which arrives after a 200.

    The class follows the status Anthropic pairs with the error type, e.g. 529 for
    ``overloaded_error``.
    https://platform.claude.com/docs/en/build-with-claude/streaming
    """
    detail = data.get("error")
    kind = detail.get("type") if isinstance(detail, dict) else None
    status = _ERROR_TYPE_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    return error_from_body(data, status)


def error_from_body(data: dict[str, Any], status: int) -> ProviderError:
    """Build the error an Anthropic error body describes.

    Decided by status, the error ``type`` and ``details.error_code``, never by message
    text. So a prompt longer than the context window, which Anthropic reports only as
    an ``invalid_request_error`` whose message reads "prompt is too long", stays a
    ``ProviderRejectedError`` and is not a ``ContextWindowExceededError``.
    https://platform.claude.com/docs/en/api/errors
    """
    detail = data.get("error")
    if not isinstance(detail, dict):
        detail = {"message": detail if isinstance(detail, str) else None}
    kind = str(detail.get("type") or "")
    extra = detail.get("details")
    code = extra.get("error_code") if isinstance(extra, dict) else None
    code = code if isinstance(code, str) else None
    message = redact_secrets(str(detail.get("message") or f"HTTP {status}"))

    cls = _error_class(status, kind, code)
    return cls(
        message,
        upstream_status=status,
        details={"provider_code": code or kind or None},
    )


def _error_class(status: int, kind: str, code: str | None) -> type[ProviderError]:
    if code == _SPEND_LIMIT_CODE or kind == "billing_error" or status == 402:
        return ProviderQuotaError
    if status == 429:
        return ProviderRateLimitError
    if status in (401, 403):
        return ProviderAuthError
    if status in (408, 504):
        return ProviderTimeoutError
    if status == 404:
        return ProviderError
    if status == 409 or status >= 500:
        return ProviderUnavailableError
    if status >= 400:
        return ProviderRejectedError

    return ProviderInvalidResponseError


def build_embeddings_call(
    endpoint: Endpoint, model: str, body: dict[str, Any]
) -> ProviderCall:
    """Always raises ``ProviderRejectedError``: Anthropic has no embeddings API.

    https://platform.claude.com/docs/en/build-with-claude/embeddings
    """
    raise _no_embeddings()


def parse_embeddings_response(model: str, raw: bytes) -> Completion:
    """Always raises ``ProviderRejectedError``: Anthropic has no embeddings API."""
    raise _no_embeddings()


def _no_embeddings() -> ProviderRejectedError:
    return ProviderRejectedError(
        "Anthropic offers no embeddings API; route embedding models elsewhere",
        param="model",
    )


def _rejected(message: str, param: str) -> ProviderRejectedError:
    return ProviderRejectedError(message, param=param)


class AnthropicStream:
    """Turns Messages stream events into OpenAI ``chat.completion.chunk`` dicts.

    Tool calls are numbered among tool calls only (0, 1, ...), whatever their content
    block index; thinking and server-tool blocks are left out. Usage comes from
    ``message_start`` and the cumulative counts of ``message_delta``.
    https://platform.claude.com/docs/en/build-with-claude/streaming
    """

    __slots__ = ("finished", "usage", "_blocks", "_counts", "_created", "_id", "_model")

    def __init__(self, model: str) -> None:
        self.finished = False
        self.usage: Usage | None = None
        self._model = model
        self._id: str | None = None
        self._created = int(time.time())
        self._blocks: dict[int, tuple[str, int]] = {}
        self._counts: dict[str, int] = {}

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        """Chunks for one event. Raises ``ProviderError`` for error or bad events."""
        if not event.data.strip():
            return []

        payload = _load_event(event.data)
        kind = payload.get("type") or event.event
        # ping, and event types Anthropic may add later, carry nothing to translate.
        handler = _EVENT_HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            return []

        return handler(self, payload)

    def _start_message(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message")
        if not isinstance(message, dict):
            raise ProviderInvalidResponseError("message_start carried no message")

        self._id = message.get("id")
        self._model = message.get("model") or self._model
        self._record_usage(message.get("usage"))
        return [self._chunk({"role": "assistant", "content": ""})]

    def _start_block(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        index = _block_index(payload)
        block = payload.get("content_block")
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            self._blocks[index] = ("text", 0)
            return self._text_chunks(block.get("text"))
        if kind != "tool_use":
            self._blocks[index] = ("skipped", 0)
            return []
        if block.get("name") == JSON_TOOL_NAME:
            self._blocks[index] = ("json", 0)
            return []

        position = self._tool_call_count()
        self._blocks[index] = ("tool", position)
        call = {
            "index": position,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _continue_block(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        index = _block_index(payload)
        if index not in self._blocks:
            raise ProviderInvalidResponseError("a stream delta named no started block")

        kind, position = self._blocks[index]
        delta = payload.get("delta")
        delta_type = delta.get("type") if isinstance(delta, dict) else None
        if kind == "text" and delta_type == "text_delta":
            return self._text_chunks(delta.get("text"))
        if delta_type != "input_json_delta" or kind not in ("tool", "json"):
            return []

        fragment = delta.get("partial_json")
        if not isinstance(fragment, str) or not fragment:
            return []
        if kind == "json":
            return [self._chunk({"content": fragment})]

        call = {"index": position, "function": {"arguments": fragment}}
        return [self._chunk({"tool_calls": [call]})]

    def _finish_message(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self._record_usage(payload.get("usage"))
        delta = payload.get("delta")
        stop_reason = delta.get("stop_reason") if isinstance(delta, dict) else None
        if stop_reason is None:
            return []

        reason = finish_reason(stop_reason, self._tool_call_count() > 0)
        return [self._chunk({}, reason)]

    def _stop_message(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        self.finished = True
        return []

    def _raise_error(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        raise error_from_event(payload)

    def _record_usage(self, usage: Any) -> None:
        # The counts are running totals, so the larger one is the newer; a server that
        # sends 0 for a count it does not repeat cannot erase it.
        if not isinstance(usage, dict):
            return
        for name in _USAGE_FIELDS:
            if _is_count(usage.get(name)):
                self._counts[name] = max(usage[name], self._counts.get(name, 0))

        self.usage = parse_usage(self._counts)

    def _tool_call_count(self) -> int:
        return sum(1 for kind, _ in self._blocks.values() if kind == "tool")

    def _text_chunks(self, text: Any) -> list[dict[str, Any]]:
        if not isinstance(text, str) or not text:
            return []

        return [self._chunk({"content": text})]

    def _chunk(
        self, delta: dict[str, Any], reason: str | None = None
    ) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": reason, "logprobs": None}
            ],
        }


_EVENT_HANDLERS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "message_start": AnthropicStream._start_message,
    "content_block_start": AnthropicStream._start_block,
    "content_block_delta": AnthropicStream._continue_block,
    "message_delta": AnthropicStream._finish_message,
    "message_stop": AnthropicStream._stop_message,
    "error": AnthropicStream._raise_error,
}


def _load_event(data: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProviderInvalidResponseError(
            "the provider sent a malformed event"
        ) from exc
    if not isinstance(payload, dict):
        raise ProviderInvalidResponseError("the provider sent a malformed event")

    return payload


def _block_index(payload: dict[str, Any]) -> int:
    index = payload.get("index")
    if not _is_count(index):
        raise ProviderInvalidResponseError("a stream block event carried no index")

    return index


def open_stream(model: str) -> AnthropicStream:
    return AnthropicStream(model)
