"""OpenAI's Responses API served on top of chat completions: pure translation.

A Responses request becomes a chat completions body (``build_chat_body``) that runs
through the same pipeline, routes and providers as ``/v1/chat/completions``; the chat
completion comes back as a ``response`` object (``build_response``) and a chat stream
as Responses streaming events (``ResponseStream``, driven by ``relay_stream``).
https://platform.openai.com/docs/api-reference/responses

What is honoured, and how:

- ``input``: a string (one user message) or a list of items. ``message`` items with
  the roles user, assistant, system and developer (developer is sent as system, which
  every provider understands); parts ``input_text``, ``output_text``, ``refusal``,
  ``input_image`` by URL or data URL, ``input_file`` with inline ``file_data``.
  ``function_call`` items become the assistant's ``tool_calls`` (merged into the
  assistant message before them) and ``function_call_output`` items ``tool``
  messages. ``reasoning`` items are dropped: the gateway never emits them, and their
  content only means something to the model that wrote it.
- ``instructions`` becomes a system message ahead of the input.
- ``tools`` (function tools only), ``tool_choice``, ``parallel_tool_calls`` (both sent
  only with tools, as chat requires), ``max_output_tokens`` (as
  ``max_completion_tokens``), ``temperature``, ``top_p``, ``text.format`` (as
  ``response_format``), ``text.verbosity``, ``reasoning.effort`` (as
  ``reasoning_effort``), ``user``, ``safety_identifier``, ``prompt_cache_key``,
  ``service_tier`` and ``stream``.
- ``metadata`` is echoed on the response object and not sent upstream: it describes
  the response object, which the gateway does not store.

The gateway keeps no response objects. ``store`` is accepted and ignored, so the
SDK's default does not break a call. Refused with a 400 naming the parameter (code
``unsupported_parameter``): what needs a stored response or server-side state
(``previous_response_id``, ``conversation``, ``background``, ``prompt``,
``truncation: "auto"``, ``item_reference`` items, files and images by ``file_id``)
and what chat completions cannot express (``max_tool_calls``, ``top_logprobs``, tool
types other than ``function``). ``include``, ``stream_options`` and
``reasoning.summary`` are accepted and ignored.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator
from typing import Any

import orjson

from .errors import InvalidRequestError

_ROLES = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_TEXT_PARTS = ("input_text", "output_text")
_PASSED_THROUGH = (
    "temperature",
    "top_p",
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "service_tier",
)
# Parameters the gateway cannot honour, refused when set, and why.
_REFUSED = {
    "previous_response_id": "the gateway keeps no response objects",
    "conversation": "the gateway keeps no conversations",
    "prompt": "stored prompts live with OpenAI",
    "max_tool_calls": "chat completions cannot limit tool calls",
    "top_logprobs": "log probabilities are not translated",
}
_INCOMPLETE_REASONS = {
    "length": "max_output_tokens",
    "content_filter": "content_filter",
}
_RATE_LIMITS = ("rate_limit_exceeded", "provider_rate_limited")


def build_chat_body(request: dict[str, Any]) -> dict[str, Any]:
    """The chat completions body for a validated Responses ``request``.

    Raises InvalidRequestError, naming the parameter (``input[2].content[0].type``),
    for anything the gateway cannot honour faithfully (see the module docstring).
    """
    refuse_unsupported(request)

    messages = []
    instructions = request.get("instructions")
    if instructions:
        messages.append({"role": "system", "content": instructions})
    messages.extend(translate_input(request["input"]))
    body: dict[str, Any] = {"model": request["model"], "messages": messages}

    for name in _PASSED_THROUGH:
        if request.get(name) is not None:
            body[name] = request[name]
    if request.get("max_output_tokens") is not None:
        body["max_completion_tokens"] = request["max_output_tokens"]
    body.update(_tool_fields(request))
    body.update(_text_fields(request.get("text")))
    effort = (request.get("reasoning") or {}).get("effort")
    if effort is not None:
        body["reasoning_effort"] = effort

    if request.get("stream"):
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def refuse_unsupported(request: dict[str, Any]) -> None:
    """Raise InvalidRequestError (code ``unsupported_parameter``) for a parameter the
    gateway cannot honour, most because they need server-side state."""
    for name, reason in _REFUSED.items():
        if request.get(name) is not None:
            raise _unsupported(f"{name} is not supported: {reason}", name)
    if request.get("background"):
        raise _unsupported(
            "background is not supported: the gateway keeps no response objects",
            "background",
        )
    if request.get("truncation") == "auto":
        raise _unsupported(
            "truncation 'auto' is not supported: the gateway keeps no context",
            "truncation",
        )


def translate_input(items: str | list[Any]) -> list[dict[str, Any]]:
    """Chat messages for the Responses ``input`` (a string or a list of items)."""
    if isinstance(items, str):
        return [{"role": "user", "content": items}]

    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        param = f"input[{index}]"
        if not isinstance(item, dict):
            raise _invalid("each input item must be an object", param)
        kind = item.get("type", "message")
        add = _ITEM_TRANSLATORS.get(kind) if isinstance(kind, str) else None
        if add is None:
            raise _unsupported(
                f"input items of type {kind!r} are not supported", f"{param}.type"
            )
        add(item, param, messages)

    if not messages:
        raise _invalid("input holds no message", "input")
    return messages


def _add_message(
    item: dict[str, Any], param: str, messages: list[dict[str, Any]]
) -> None:
    role = item.get("role")
    role = _ROLES.get(role) if isinstance(role, str) else None
    if role is None:
        raise _invalid(
            "role must be one of user, assistant, system, developer", f"{param}.role"
        )

    content = translate_content(item.get("content"), role, f"{param}.content")
    messages.append({"role": role, "content": content})


def translate_content(
    content: Any, role: str, param: str
) -> str | list[dict[str, Any]]:
    """Chat content for a message's content: a string stays one; a single text part
    becomes a string, which every chat provider accepts; other parts are translated."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _invalid("content must be a string or a list of parts", param)

    parts = [
        translate_part(part, role, f"{param}[{index}]")
        for index, part in enumerate(content)
    ]
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def translate_part(part: Any, role: str, param: str) -> dict[str, Any]:
    """One chat content part for one Responses content part."""
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": _string(part, "text", param)}
    if kind == "refusal" and role == "assistant":
        return {"type": "refusal", "refusal": _string(part, "refusal", param)}
    if kind == "input_image" and role == "user":
        return _image_part(part, param)
    if kind == "input_file" and role == "user":
        return _file_part(part, param)

    raise _unsupported(
        f"content parts of type {kind!r} are not supported in a {role} message",
        f"{param}.type",
    )


def _image_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    url = part.get("image_url")
    if not isinstance(url, str) or not url:
        raise _unsupported(
            "input_image needs an image_url (an http(s) or data URL); file_id is not "
            "supported",
            f"{param}.image_url",
        )

    image = {"url": url}
    if part.get("detail") is not None:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], param: str) -> dict[str, Any]:
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise _unsupported(
            "input_file needs inline file_data; file_id and file_url are not supported",
            f"{param}.file_data",
        )

    file = {"file_data": data}
    if isinstance(part.get("filename"), str):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _add_function_call(
    item: dict[str, Any], param: str, messages: list[dict[str, Any]]
) -> None:
    call = {
        "id": _string(item, "call_id", param),
        "type": "function",
        "function": {
            "name": _string(item, "name", param),
            "arguments": _string(item, "arguments", param),
        },
    }
    last = messages[-1] if messages else None
    if last is None or last["role"] != "assistant":
        last = {"role": "assistant", "content": None}
        messages.append(last)
    last.setdefault("tool_calls", []).append(call)


def _add_function_call_output(
    item: dict[str, Any], param: str, messages: list[dict[str, Any]]
) -> None:
    output = item.get("output")
    if isinstance(output, list):
        output = [
            _tool_output_part(part, f"{param}.output[{index}]")
            for index, part in enumerate(output)
        ]
    elif not isinstance(output, str):
        raise _invalid(
            "output must be a string or a list of text parts", f"{param}.output"
        )

    call_id = _string(item, "call_id", param)
    messages.append({"role": "tool", "tool_call_id": call_id, "content": output})


def _tool_output_part(part: Any, param: str) -> dict[str, Any]:
    if isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
        return {"type": "text", "text": _string(part, "text", param)}

    raise _unsupported("function_call_output may hold text parts only", f"{param}.type")


def _skip_item(
    item: dict[str, Any], param: str, messages: list[dict[str, Any]]
) -> None:
    return None


_ITEM_TRANSLATORS: dict[
    str, Callable[[dict[str, Any], str, list[dict[str, Any]]], None]
] = {
    "message": _add_message,
    "function_call": _add_function_call,
    "function_call_output": _add_function_call_output,
    "reasoning": _skip_item,
}


def _tool_fields(request: dict[str, Any]) -> dict[str, Any]:
    tools = translate_tools(request.get("tools") or [])
    if not tools:
        return {}

    fields: dict[str, Any] = {"tools": tools}
    if request.get("tool_choice") is not None:
        fields["tool_choice"] = translate_tool_choice(request["tool_choice"])
    if request.get("parallel_tool_calls") is not None:
        fields["parallel_tool_calls"] = request["parallel_tool_calls"]
    return fields


def translate_tools(tools: list[Any]) -> list[dict[str, Any]]:
    """Chat's nested function tools for Responses' flat ones; other types raise."""
    translated = []
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise _unsupported(
                f"tools of type {kind!r} are not supported by this gateway; only "
                "function tools are",
                f"{param}.type",
            )
        function = {"name": _string(tool, "name", param)}
        for name in ("description", "parameters", "strict"):
            if tool.get(name) is not None:
                function[name] = tool[name]
        translated.append({"type": "function", "function": function})

    return translated


def translate_tool_choice(choice: Any) -> Any:
    """Chat's ``tool_choice`` for a Responses one (a mode, or a named function)."""
    if choice in ("none", "auto", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {
            "type": "function",
            "function": {"name": _string(choice, "name", "tool_choice")},
        }

    raise _invalid(
        "tool_choice must be 'none', 'auto', 'required' or a function "
        "({'type': 'function', 'name': ...})",
        "tool_choice",
    )


def _text_fields(text: dict[str, Any] | None) -> dict[str, Any]:
    """``response_format`` (and ``verbosity``) for the validated ``text`` parameter."""
    text = text or {}
    fields: dict[str, Any] = {}
    if text.get("verbosity") is not None:
        fields["verbosity"] = text["verbosity"]

    wanted = text.get("format") or {"type": "text"}
    if wanted["type"] == "json_object":
        fields["response_format"] = {"type": "json_object"}
    elif wanted["type"] == "json_schema":
        spec = {"name": wanted["name"], "schema": wanted["schema"]}
        for name in ("description", "strict"):
            if wanted.get(name) is not None:
                spec[name] = wanted[name]
        fields["response_format"] = {"type": "json_schema", "json_schema": spec}
    return fields


def _string(data: dict[str, Any], name: str, param: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string", f"{param}.{name}")
    return value


def _invalid(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _unsupported(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param, code="unsupported_parameter")


def response_id_for(request_id: str) -> str:
    """The response id of a call: its request id under Responses' prefix, so a
    response can be found in the request log."""
    return "resp_" + request_id.removeprefix("req_")


def build_response(
    completion: dict[str, Any], request: dict[str, Any], response_id: str
) -> dict[str, Any]:
    """The ``response`` object for a chat ``completion`` of ``request``.

    ``status`` is ``completed``, or ``incomplete`` with ``incomplete_details.reason``
    ``max_output_tokens`` (finish reason ``length``) or ``content_filter``. The text
    comes first as one ``message`` item, then one ``function_call`` item per tool
    call. Usage is the gateway's accounted figures (``x_gateway``), which is carried
    over; ``output_text`` is left to the SDKs, which derive it.
    """
    choices = completion.get("choices") or [{}]
    message = choices[0].get("message") or {}
    finish_reason = choices[0].get("finish_reason")
    status = "incomplete" if finish_reason in _INCOMPLETE_REASONS else "completed"

    suffix = response_id.removeprefix("resp_")
    output = []
    parts = _message_parts(message)
    if parts:
        output.append(_message_item(f"msg_{suffix}_0", parts, status))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        item_id = f"fc_{suffix}_{len(output)}"
        output.append(
            _function_call_item(
                item_id,
                call.get("id") or item_id,
                function.get("name") or "",
                function.get("arguments") or "",
                "completed",
            )
        )

    response = response_shell(request, response_id, completion.get("created"), status)
    response["model"] = completion.get("model") or request["model"]
    response["output"] = output
    response["incomplete_details"] = _incomplete_details(finish_reason)
    response["usage"] = build_usage(
        completion.get("usage"), completion.get("x_gateway")
    )
    if "x_gateway" in completion:
        response["x_gateway"] = completion["x_gateway"]
    return response


def _message_parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    parts = []
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(
            part.get("text") or "" for part in content if isinstance(part, dict)
        )
    if content:
        parts.append(_output_text(content))
    if message.get("refusal"):
        parts.append({"type": "refusal", "refusal": message["refusal"]})
    return parts


def response_shell(
    request: dict[str, Any], response_id: str, created_at: Any, status: str
) -> dict[str, Any]:
    """The response object without output or usage, echoing the request's settings."""
    text = dict(request.get("text") or {})
    text.setdefault("format", {"type": "text"})
    reasoning = request.get("reasoning") or {}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if isinstance(created_at, int) else int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "model": request["model"],
        "output": [],
        "parallel_tool_calls": request.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": None},
        "temperature": request.get("temperature"),
        "text": text,
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
        "usage": None,
        "user": request.get("user"),
    }


def _incomplete_details(finish_reason: Any) -> dict[str, Any] | None:
    reason = _INCOMPLETE_REASONS.get(finish_reason)
    return {"reason": reason} if reason else None


def build_usage(
    usage: dict[str, Any] | None, facts: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Responses' usage (tokens) from the chat ``usage``, overridden by the gateway's
    accounted figures (``x_gateway``) wherever those carry a count."""
    if not usage and not facts:
        return None

    counts = _chat_usage_counts(usage or {})
    counts.update({name: facts[name] for name in counts if name in (facts or {})})
    return {
        "input_tokens": counts["prompt_tokens"],
        "input_tokens_details": {
            "cached_tokens": counts["cached_tokens"],
            "cache_write_tokens": counts["cache_write_tokens"],
        },
        "output_tokens": counts["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": counts["reasoning_tokens"]},
        "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"],
    }


def _chat_usage_counts(usage: dict[str, Any]) -> dict[str, int]:
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return {
        "prompt_tokens": usage.get("prompt_tokens") or 0,
        "completion_tokens": usage.get("completion_tokens") or 0,
        "cached_tokens": prompt_details.get("cached_tokens") or 0,
        "cache_write_tokens": prompt_details.get("cache_write_tokens") or 0,
        "reasoning_tokens": completion_details.get("reasoning_tokens") or 0,
    }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(
    item_id: str, parts: list[dict[str, Any]], status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": parts,
    }


def _function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def relay_stream(
    chat_stream: Iterator[bytes], state: ResponseStream
) -> Iterator[bytes]:
    """Translate the pipeline's chat SSE body into Responses' SSE body.

    The chat stream is started before anything is sent, and closed whatever happens
    (the client leaving closes this generator), so the pipeline's guarantees hold: it
    accounts the output and records the request row exactly once. A chat stream that
    ends without ``[DONE]`` ends the response as failed, never as completed.
    """
    try:
        for data in chat_stream:
            events = []
            for payload in read_sse_data(data):
                events.extend(state.handle(payload))
            if events:
                yield encode_events(events)
        if not state.ended:
            lost = {
                "message": "the stream ended without completing",
                "type": "provider_stream_error",
            }
            yield encode_events(state.handle({"error": lost}))
    finally:
        close = getattr(chat_stream, "close", None)
        if close is not None:
            close()


def read_sse_data(data: bytes) -> list[Any]:
    """The ``data:`` payloads of SSE ``data``: JSON objects, or ``"[DONE]"``."""
    payloads = []
    for line in data.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        value = line[5:].strip()
        payloads.append("[DONE]" if value == b"[DONE]" else orjson.loads(value))
    return payloads


def encode_events(events: list[dict[str, Any]]) -> bytes:
    """Events as SSE, each with its ``event:`` line, as OpenAI sends them."""
    return b"".join(
        b"event: "
        + event["type"].encode()
        + b"\ndata: "
        + orjson.dumps(event)
        + b"\n\n"
        for event in events
    )


class ResponseStream:
    """The Responses events of one chat stream, numbered from 0 in the order sent.

    ``handle`` takes each chat payload (a chunk, the usage chunk, ``"[DONE]"`` or the
    gateway's ``{"error": ...}`` event) and returns the events it produces. The first
    call opens with ``response.created`` and ``response.in_progress``. Text opens a
    ``message`` item, each tool call a ``function_call`` item; an item is closed (its
    ``done`` events) when the next opens or the stream ends. ``[DONE]`` ends with
    ``response.completed``, or ``response.incomplete`` when the output was cut; an
    error ends with an ``error`` event and ``response.failed``.
    """

    def __init__(self, request: dict[str, Any], response_id: str) -> None:
        self.request = request
        self.response_id = response_id
        self.model = request["model"]
        self.created_at: int | None = None
        self.sequence = 0
        self.started = False
        self.ended = False
        self.output: list[dict[str, Any]] = []
        self.positions: dict[str, int] = {}
        self.open: dict[str, Any] | None = None
        self.tool_items: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None
        self.facts: dict[str, Any] | None = None

    def handle(self, payload: Any) -> list[dict[str, Any]]:
        if self.ended:
            return []
        events = [] if self.started else self._start(payload)
        if payload == "[DONE]":
            return events + self._complete()
        if "error" in payload:
            return events + self._fail(payload["error"])

        self.model = payload.get("model") or self.model
        if payload.get("usage"):
            self.usage = payload["usage"]
            self.facts = payload.get("x_gateway")
        for choice in payload.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            events.extend(self._read_delta(choice.get("delta") or {}))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        return events

    def _start(self, payload: Any) -> list[dict[str, Any]]:
        self.started = True
        if isinstance(payload, dict):
            self.created_at = payload.get("created")
            self.model = payload.get("model") or self.model
        snapshot = self._response("in_progress")
        return [
            self._event("response.created", response=snapshot),
            self._event("response.in_progress", response=copy.deepcopy(snapshot)),
        ]

    def _read_delta(self, delta: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        if delta.get("content"):
            events.extend(self._add_text("output_text", delta["content"]))
        if delta.get("refusal"):
            events.extend(self._add_text("refusal", delta["refusal"]))
        for call in delta.get("tool_calls") or ():
            events.extend(self._add_tool_call(call))
        return events

    def _add_text(self, kind: str, text: str) -> list[dict[str, Any]]:
        events = []
        if self.open is None or self.open["type"] != "message":
            events.extend(self._close_open("completed"))
            item = _message_item(self._item_id("msg"), [], "in_progress")
            events.extend(self._open_item(item))
        item = self.open
        assert item is not None
        parts = item["content"]
        if not parts or parts[-1]["type"] != kind:
            if parts:
                events.extend(self._close_part(item, len(parts) - 1))
            part = (
                _output_text("")
                if kind == "output_text"
                else {"type": kind, "refusal": ""}
            )
            parts.append(part)
            events.append(
                self._event(
                    "response.content_part.added",
                    **self._where(item),
                    content_index=len(parts) - 1,
                    part=dict(part),
                )
            )

        parts[-1]["text" if kind == "output_text" else "refusal"] += text
        where = {**self._where(item), "content_index": len(parts) - 1}
        if kind == "output_text":
            events.append(
                self._event(
                    "response.output_text.delta", **where, delta=text, logprobs=[]
                )
            )
        else:
            events.append(self._event("response.refusal.delta", **where, delta=text))
        return events

    def _add_tool_call(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        events = []
        function = call.get("function") or {}
        index = call.get("index", 0)
        item = self.tool_items.get(index)
        if item is None:
            events.extend(self._close_open("completed"))
            item_id = self._item_id("fc")
            item = _function_call_item(
                item_id,
                call.get("id") or item_id,
                function.get("name") or "",
                "",
                "in_progress",
            )
            self.tool_items[index] = item
            events.extend(self._open_item(item))
        elif function.get("name") and not item["name"]:
            item["name"] = function["name"]

        arguments = function.get("arguments")
        if arguments:
            item["arguments"] += arguments
            events.append(
                self._event(
                    "response.function_call_arguments.delta",
                    **self._where(item),
                    delta=arguments,
                )
            )
        return events

    def _open_item(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        self.positions[item["id"]] = len(self.output)
        self.output.append(item)
        self.open = item
        return [
            self._event(
                "response.output_item.added",
                output_index=len(self.output) - 1,
                item=copy.deepcopy(item),
            )
        ]

    def _close_open(self, status: str) -> list[dict[str, Any]]:
        item, self.open = self.open, None
        if item is None:
            return []

        events = []
        if item["type"] == "message":
            events.extend(self._close_part(item, len(item["content"]) - 1))
        else:
            events.append(
                self._event(
                    "response.function_call_arguments.done",
                    **self._where(item),
                    arguments=item["arguments"],
                )
            )
        item["status"] = status
        events.append(
            self._event(
                "response.output_item.done",
                output_index=self.positions[item["id"]],
                item=copy.deepcopy(item),
            )
        )
        return events

    def _close_part(
        self, item: dict[str, Any], content_index: int
    ) -> list[dict[str, Any]]:
        part = item["content"][content_index]
        where = {**self._where(item), "content_index": content_index}
        if part["type"] == "output_text":
            done = self._event(
                "response.output_text.done", **where, text=part["text"], logprobs=[]
            )
        else:
            done = self._event(
                "response.refusal.done", **where, refusal=part["refusal"]
            )
        return [
            done,
            self._event("response.content_part.done", **where, part=dict(part)),
        ]

    def _complete(self) -> list[dict[str, Any]]:
        self.ended = True
        incomplete = self.finish_reason in _INCOMPLETE_REASONS
        events = self._close_open("incomplete" if incomplete else "completed")

        response = self._response("incomplete" if incomplete else "completed")
        response["incomplete_details"] = _incomplete_details(self.finish_reason)
        response["usage"] = build_usage(self.usage, self.facts)
        if self.facts is not None:
            response["x_gateway"] = self.facts
        kind = "response.incomplete" if incomplete else "response.completed"
        return events + [self._event(kind, response=response)]

    def _fail(self, error: dict[str, Any]) -> list[dict[str, Any]]:
        """``error`` is the gateway's error object; Responses' ``code`` is OpenAI's
        word for it, and the gateway's ``type`` and request id are kept."""
        self.ended = True
        for item in self.output:
            if item["status"] == "in_progress":
                item["status"] = "incomplete"

        code = (
            "rate_limit_exceeded"
            if error.get("type") in _RATE_LIMITS
            else "server_error"
        )
        message = error.get("message") or "the provider failed"
        failure = {
            "code": code,
            "message": message,
            "param": error.get("param"),
            "type": error.get("type"),
            "request_id": error.get("request_id"),
        }
        response = self._response("failed")
        response["error"] = failure
        return [
            self._event("error", code=code, message=message, param=error.get("param")),
            self._event("response.failed", response=response),
        ]

    def _response(self, status: str) -> dict[str, Any]:
        response = response_shell(
            self.request, self.response_id, self.created_at, status
        )
        response["model"] = self.model
        response["output"] = copy.deepcopy(self.output)
        return response

    def _where(self, item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": item["id"], "output_index": self.positions[item["id"]]}

    def _item_id(self, prefix: str) -> str:
        return f"{prefix}_{self.response_id.removeprefix('resp_')}_{len(self.output)}"

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event
