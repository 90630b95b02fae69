"""The fake model: a deterministic reply derived from the request.

Each dialect reads its request into a ``Prompt`` and renders the ``Reply`` built here,
so both dialects answer alike and a reply is built once per request whether it is
then sent whole or streamed: the usage a request reports cannot depend on streaming.

Tokens are counted as whitespace-separated words, so a test can predict them: the
default reply to "hello there" is "echo: hello there", 3 output tokens.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from .behaviours import Behaviour, ToolCall, Usage

MAX_TEXT_PIECES = 64

ARGUMENT_PIECE_CHARS = 8


@dataclass(frozen=True)
class Prompt:
    """What the fake model needs from a chat request, whatever the dialect.

    ``input_text`` is all the text the request sends (system, messages, tool
    results). ``forced_tool`` names the tool the request obliges the model to call.
    ``tool_schemas`` maps each offered tool's name to its arguments' JSON schema.
    """

    model: str
    input_text: str
    last_user_text: str
    max_tokens: int | None = None
    tool_schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    forced_tool: str | None = None
    wants_json: bool = False
    json_schema: dict[str, Any] | None = None
    stop_sequences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reply:
    """The fake model's answer; ``finish`` uses the neutral words of ``Behaviour``."""

    text: str | None
    tool_calls: tuple[ToolCall, ...]
    usage: Usage
    finish: str
    stop_sequence: str | None


def count_tokens(text: str) -> int:
    """Return the fake's token count of ``text``: its whitespace-separated words."""
    return len(text.split())


def build_reply(prompt: Prompt, behaviour: Behaviour) -> Reply:
    """Build the reply to ``prompt``; what ``behaviour`` sets wins over what the
    request implies. A derived text longer than ``max_tokens`` is cut to it and
    finishes with ``length``."""
    if behaviour.tool_calls is not None:
        tool_calls = behaviour.tool_calls
    else:
        tool_calls = derive_tool_calls(prompt)

    finish = "tool_calls" if tool_calls else "stop"
    if behaviour.content is not None:
        text = behaviour.content
    elif tool_calls:
        text = None
    else:
        text = derive_text(prompt)
        if prompt.max_tokens is not None and count_tokens(text) > prompt.max_tokens:
            text = " ".join(text.split()[: prompt.max_tokens])
            finish = "length"

    finish = behaviour.finish or finish
    stop_sequence = None
    if finish == "stop_sequence" and prompt.stop_sequences:
        stop_sequence = prompt.stop_sequences[0]

    usage = behaviour.usage or Usage(
        input_tokens=count_tokens(prompt.input_text),
        output_tokens=count_output_tokens(text, tool_calls),
    )
    return Reply(text, tuple(tool_calls), usage, finish, stop_sequence)


def derive_text(prompt: Prompt) -> str:
    if prompt.json_schema is not None:
        return json.dumps(build_instance(prompt.json_schema))
    if prompt.wants_json:
        return json.dumps({"echo": prompt.last_user_text})
    return f"echo: {prompt.last_user_text}"


def derive_tool_calls(prompt: Prompt) -> tuple[ToolCall, ...]:
    """Call the forced tool, with arguments that satisfy its schema; otherwise none."""
    if prompt.forced_tool is None:
        return ()

    schema = prompt.tool_schemas.get(prompt.forced_tool, {})
    return (ToolCall(prompt.forced_tool, build_instance(schema) or {}),)


def count_output_tokens(text: str | None, tool_calls: tuple[ToolCall, ...]) -> int:
    tokens = count_tokens(text or "")
    for call in tool_calls:
        tokens += count_tokens(call.name) + count_tokens(json.dumps(call.arguments))
    return tokens


def build_instance(schema: dict[str, Any]) -> Any:
    """Return a small value that satisfies a plain JSON schema (type, properties,
    items, enum, const, anyOf/oneOf, minimum, minItems); ``$ref`` is not followed."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return build_instance(schema[key][0])

    kind = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(kind, list):
        kind = next((name for name in kind if name != "null"), "null")

    if kind == "object":
        properties = schema.get("properties", {})
        return {name: build_instance(sub) for name, sub in properties.items()}
    if kind == "array":
        count = max(1, schema.get("minItems", 1))
        return [build_instance(schema.get("items", {})) for _ in range(count)]
    if kind == "string":
        return "fake"
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None


def split_text(text: str) -> list[str]:
    """Split ``text`` into word-sized pieces that join back to it exactly; a long
    text gets at most ``MAX_TEXT_PIECES`` larger pieces."""
    pieces = [piece for piece in re.findall(r"\s*\S*\s*", text) if piece]
    if len(pieces) <= MAX_TEXT_PIECES:
        return pieces

    size = -(-len(text) // MAX_TEXT_PIECES)
    return [text[start : start + size] for start in range(0, len(text), size)]


def split_arguments(arguments: str) -> list[str]:
    """Split a tool call's JSON arguments into fragments, as providers stream them."""
    step = ARGUMENT_PIECE_CHARS
    return [arguments[start : start + step] for start in range(0, len(arguments), step)]


def embed(text: str, dimensions: int) -> list[float]:
    """Return a unit vector determined by ``text``, its values exact float32s so that
    the float and base64 encodings carry the same numbers."""
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    generator = random.Random(seed)
    values = [generator.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(value * value for value in values) ** 0.5 or 1.0
    packed = struct.pack(f"<{dimensions}f", *(value / norm for value in values))
    return list(struct.unpack(f"<{dimensions}f", packed))
