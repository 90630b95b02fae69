"""The built-in ``demo`` provider: a deterministic model that needs no network or key.

It is an in-process upstream mounted on the transport (``demo://``) that answers in
OpenAI's exact wire format, so demo calls go through the same parsing, streaming,
token counting, pricing and logging as real ones. Answers are derived from the
request: plain text echoes a condensed prompt; a JSON schema gets a schema-valid
instance (enum values are picked by what the text mentions); given tools, it calls
one, and answers from the tool's result on the next turn. Usage is counted with
tiktoken, so token and cost figures are realistic.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson

from .accounting.tokens import count_prompt_tokens, count_text_tokens, encoding_for
from .providers.types import ProviderCall
from .transport import LocalResponse

DEMO_MODEL = "demo"
_TOKEN_MODEL = "gpt-4o-mini"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{6,}\d")
_URL = re.compile(r"https?://\S+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
# How deep a schema's instance is built; below it, values are null. Real schemas are
# a few levels deep; this bounds the recursion whatever a client sends.
_MAX_SCHEMA_DEPTH = 16


def make_handler(latency_ms: int = 0) -> Any:
    """The transport handler for ``demo://`` calls."""

    def handle(call: ProviderCall) -> LocalResponse:
        if latency_ms:
            time.sleep(latency_ms / 1000)
        body = orjson.loads(call.body or b"{}")
        if call.url.endswith("/embeddings"):
            return _json_response(embed(body))
        if body.get("stream"):
            return LocalResponse(
                200, {"content-type": "text/event-stream"}, stream_chat(body)
            )

        return _json_response(complete_chat(body))

    return handle


def _json_response(data: dict[str, Any]) -> LocalResponse:
    return LocalResponse(
        200, {"content-type": "application/json"}, iter([orjson.dumps(data)])
    )


def complete_chat(body: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` for ``body``."""
    message, finish_reason = _answer(body)
    return {
        "id": _completion_id(body),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": DEMO_MODEL,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(body, message),
    }


def stream_chat(body: dict[str, Any]) -> Iterator[bytes]:
    """The same answer as ``complete_chat``, as OpenAI's SSE chunks."""
    message, finish_reason = _answer(body)
    base = {
        "id": _completion_id(body),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": DEMO_MODEL,
    }
    first = {"role": "assistant", "content": "" if message.get("content") else None}
    yield _sse(
        {**base, "choices": [{"index": 0, "delta": first, "finish_reason": None}]}
    )
    for delta in _deltas(message):
        yield _sse(
            {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
        )
    yield _sse(
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]}
    )
    if (body.get("stream_options") or {}).get("include_usage"):
        yield _sse({**base, "choices": [], "usage": _usage(body, message)})
    yield b"data: [DONE]\n\n"


def embed(body: dict[str, Any]) -> dict[str, Any]:
    """Deterministic unit vectors, one per input."""
    inputs = body.get("input")
    items = (
        inputs if isinstance(inputs, list) and not _is_token_list(inputs) else [inputs]
    )
    dimensions = body.get("dimensions") or 256
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _vector(str(item), dimensions),
        }
        for index, item in enumerate(items)
    ]
    tokens = sum(count_text_tokens(str(item), _TOKEN_MODEL) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": DEMO_MODEL,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _is_token_list(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(item, int) for item in value)


def _vector(text: str, dimensions: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((byte - 127.5) / 127.5 for byte in digest)
        counter += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return [round(value / norm, 6) for value in values]


def _answer(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    last = messages[-1] if messages else {}
    tool = _tool_to_call(body, last)
    if tool is not None:
        arguments = orjson.dumps(
            _instance(tool.get("parameters") or {}, "", _prompt_text(messages))
        ).decode()
        call = {
            "id": "call_" + hashlib.sha256(arguments.encode()).hexdigest()[:24],
            "type": "function",
            "function": {"name": tool["name"], "arguments": arguments},
        }
        return {
            "role": "assistant",
            "content": None,
            "tool_calls": [call],
        }, "tool_calls"

    text = _reply_text(body, messages, last)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and count_text_tokens(text, _TOKEN_MODEL) > limit:
        encoding = encoding_for(_TOKEN_MODEL)
        text = encoding.decode(encoding.encode_ordinary(text)[:limit])
        return {"role": "assistant", "content": text, "refusal": None}, "length"

    return {"role": "assistant", "content": text, "refusal": None}, "stop"


def _tool_to_call(body: dict[str, Any], last: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t.get("function") for t in body.get("tools") or () if isinstance(t, dict)]
    tools = [t for t in tools if isinstance(t, dict) and t.get("name")]
    choice = body.get("tool_choice")
    if not tools or choice == "none" or last.get("role") == "tool":
        return None
    if isinstance(choice, dict):
        function = choice.get("function")
        wanted = function.get("name") if isinstance(function, dict) else None
        return next((t for t in tools if t["name"] == wanted), tools[0])

    return tools[0]


def _reply_text(
    body: dict[str, Any], messages: list[dict[str, Any]], last: dict[str, Any]
) -> str:
    prompt = _prompt_text(messages)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        json_schema = response_format.get("json_schema")
        schema = json_schema.get("schema") if isinstance(json_schema, dict) else None
        return orjson.dumps(_instance(schema or {}, "", prompt)).decode()
    if response_format.get("type") == "json_object":
        return orjson.dumps({"answer": _condense(prompt, 30)}).decode()
    if last.get("role") == "tool":
        return f"Based on the tool's result: {_condense(_content_text(last), 60)}"

    return f"Demo answer: {_condense(prompt, 60)}"


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return _content_text(users[-1]) if users else ""


def _content_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )

    return ""


def _condense(text: str, words: int) -> str:
    tokens = text.split()
    short = " ".join(tokens[:words])
    return short + (" ..." if len(tokens) > words else "") if short else "(no input)"


def _instance(schema: Any, name: str, text: str, depth: int = 0) -> Any:
    """A value valid against ``schema``, filled from ``text`` where it can be.

    A malformed schema (a number where a schema belongs, ``items: "string"``) is the
    model's problem, as it would be a real one's: it gets a plausible value, never
    an error.
    """
    if depth > _MAX_SCHEMA_DEPTH:
        return None
    if not isinstance(schema, dict):
        return _string_for(name, text)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _pick_enum(enum, text)
    if "const" in schema:
        return schema["const"]
    for combinator in ("anyOf", "oneOf", "allOf"):
        options = schema.get(combinator)
        if isinstance(options, list) and options:
            return _instance(options[0], name, text, depth + 1)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties")
        if not isinstance(properties, dict):
            return {}
        return {
            key: _instance(sub, key, text, depth + 1) for key, sub in properties.items()
        }
    if kind == "array":
        return [_instance(schema.get("items") or {}, name, text, depth + 1)]
    if kind in ("number", "integer"):
        return _number_from(text, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None

    return _string_for(name, text)


def _pick_enum(values: list[Any], text: str) -> Any:
    lowered = text.lower()
    for value in values:
        if str(value).lower() in lowered:
            return value
    digest = hashlib.sha256(text.encode()).digest()
    return values[digest[0] % len(values)]


def _number_from(text: str, kind: str) -> int | float:
    match = _NUMBER.search(text)
    value = float(match.group()) if match else 0.0
    return int(value) if kind == "integer" else value


def _string_for(name: str, text: str) -> str:
    lowered = name.lower()
    patterns = {"email": _EMAIL, "phone": _PHONE, "url": _URL, "website": _URL}
    for hint, pattern in patterns.items():
        if hint in lowered:
            match = pattern.search(text)
            return match.group().strip() if match else ""
    if "name" in lowered or "company" in lowered:
        capitalised = re.findall(r"\b[A-Z][a-z]+(?:\s[A-Z][a-z]+)*", text)
        return capitalised[0] if capitalised else ""

    return _condense(text, 12)


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    prompt = count_prompt_tokens(body, _TOKEN_MODEL)
    output = message.get("content") or orjson.dumps(message.get("tool_calls")).decode()
    completion = count_text_tokens(output, _TOKEN_MODEL)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _deltas(message: dict[str, Any]) -> Iterator[dict[str, Any]]:
    content = message.get("content")
    if content:
        for piece in re.findall(r"\S+\s*|\s+", content):
            yield {"content": piece}
        return

    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call["function"]
        yield {
            "tool_calls": [
                {
                    "index": index,
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": function["name"], "arguments": ""},
                }
            ]
        }
        arguments = function["arguments"]
        for start in range(0, len(arguments), 16):
            piece = arguments[start : start + 16]
            yield {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _completion_id(body: dict[str, Any]) -> str:
    return "chatcmpl-demo" + uuid.uuid4().hex[:20]
