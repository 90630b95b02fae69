"""The Anthropic Messages dialect: requests, answers, streams and errors, offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from gateway.errors import (
    ContextWindowExceededError,
    ProviderAuthError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderQuotaError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from gateway.providers import anthropic
from gateway.providers.sse import iter_events
from gateway.providers.types import Endpoint, SSEEvent, Usage

FIXTURES = Path(__file__).parent.parent / "fixtures" / "providers" / "anthropic"
ENDPOINT = Endpoint(
    name="anthropic",
    type="anthropic",
    base_url="https://api.anthropic.com/v1",
    api_key="sk-ant-api03-test-key",
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    },
}
HELLO = {"role": "user", "content": "Hello"}


def load_fixture(name: str) -> Any:
    return orjson.loads((FIXTURES / name).read_bytes())


def build_payload(
    body: dict[str, Any],
    model: str = "claude-sonnet-4-5",
    endpoint: Endpoint = ENDPOINT,
    stream: bool = False,
) -> dict[str, Any]:
    call = anthropic.build_chat_call(endpoint, model, body, stream)
    return orjson.loads(call.body)


def rejected_param(body: dict[str, Any]) -> str | None:
    with pytest.raises(ProviderRejectedError) as caught:
        anthropic.build_chat_call(ENDPOINT, "claude-sonnet-4-5", body, False)

    return caught.value.param


def stream_events(name: str) -> list[SSEEvent]:
    """The fixture's events as they come off the wire, through the real SSE decoder."""
    wire = b"".join(_wire_event(item) for item in load_fixture(name))
    return list(iter_events([wire]))


def _wire_event(item: dict[str, Any]) -> bytes:
    data = orjson.dumps(item["data"]).decode()
    return f"event: {item['event']}\ndata: {data}\n\n".encode()


def run_stream(name: str) -> tuple[anthropic.AnthropicStream, list[dict[str, Any]]]:
    translator = anthropic.open_stream("claude-sonnet-4-5")
    chunks = [
        chunk for event in stream_events(name) for chunk in translator.feed(event)
    ]
    return translator, chunks


def event(data: dict[str, Any]) -> SSEEvent:
    return SSEEvent(event=data.get("type"), data=orjson.dumps(data).decode())


def deltas(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk["choices"][0]["delta"] for chunk in chunks]


def streamed_text(chunks: list[dict[str, Any]]) -> str:
    return "".join(delta.get("content") or "" for delta in deltas(chunks))


def finish_reasons(chunks: list[dict[str, Any]]) -> list[str]:
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in chunks]
    return [reason for reason in reasons if reason is not None]


def error_body(kind: str, message: str = "something went wrong") -> bytes:
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        }
    )


def test_anthropic_module_offers_every_provider_function():
    names = (
        "build_chat_call",
        "parse_chat_response",
        "parse_error",
        "open_stream",
        "build_embeddings_call",
        "parse_embeddings_response",
    )

    assert all(callable(getattr(anthropic, name, None)) for name in names)


def test_anthropic_call_posts_to_messages_with_version_and_key_headers():
    endpoint = Endpoint(
        name="anthropic",
        type="anthropic",
        base_url="https://api.anthropic.com/v1/",
        api_key="sk-ant-api03-test-key",
        headers={"anthropic-beta": "context-1m-2025-08-07"},
    )

    call = anthropic.build_chat_call(
        endpoint, "claude-sonnet-4-5", {"messages": [HELLO]}, False
    )

    assert (call.method, call.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert call.headers["x-api-key"] == "sk-ant-api03-test-key"
    assert call.headers["anthropic-version"] == "2023-06-01"
    assert call.headers["Content-Type"] == "application/json"
    assert call.headers["anthropic-beta"] == "context-1m-2025-08-07"
    assert "Authorization" not in call.headers


def test_anthropic_call_without_a_key_sends_no_key_header():
    endpoint = Endpoint(
        name="local", type="anthropic", base_url="http://127.0.0.1:8080/v1"
    )

    call = anthropic.build_chat_call(
        endpoint, "claude-sonnet-4-5", {"messages": [HELLO]}, False
    )

    assert "x-api-key" not in call.headers


@pytest.mark.parametrize(
    ("stream", "expected"),
    [(True, True), (False, None)],
)
def test_anthropic_call_asks_for_a_stream_only_when_streaming(stream, expected):
    payload = build_payload({"messages": [HELLO], "stream": True}, stream=stream)

    assert payload.get("stream") is expected
    assert payload["model"] == "claude-sonnet-4-5"


@pytest.mark.parametrize(
    ("messages", "system"),
    [
        ([{"role": "system", "content": "Be brief."}, HELLO], "Be brief."),
        (
            [{"role": "developer", "content": "Answer in French."}, HELLO],
            "Answer in French.",
        ),
        (
            [
                {"role": "system", "content": "Be brief."},
                HELLO,
                {
                    "role": "developer",
                    "content": [{"type": "text", "text": "No emoji."}],
                },
            ],
            "Be brief.\n\nNo emoji.",
        ),
        (
            [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "Rule one."},
                        {"type": "text", "text": "Rule two."},
                    ],
                },
                HELLO,
            ],
            "Rule one.\nRule two.",
        ),
        ([HELLO], None),
    ],
)
def test_anthropic_joins_system_and_developer_messages_into_system(messages, system):
    payload = build_payload({"messages": messages})

    assert payload.get("system") == system
    assert [turn["role"] for turn in payload["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("content", "blocks"),
    [
        ("Hello", [{"type": "text", "text": "Hello"}]),
        (
            [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}],
            [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}],
        ),
        (
            [{"type": "text", "text": ""}, {"type": "text", "text": "kept"}],
            [{"type": "text", "text": "kept"}],
        ),
        (
            [
                {
                    "type": "text",
                    "text": "Long context",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
            [
                {
                    "type": "text",
                    "text": "Long context",
                    "cache_control": {"type": "ephemeral"},
                }
            ],
        ),
    ],
)
def test_anthropic_translates_user_text_content(content, blocks):
    payload = build_payload({"messages": [{"role": "user", "content": content}]})

    assert payload["messages"] == [{"role": "user", "content": blocks}]


@pytest.mark.parametrize(
    ("url", "source"),
    [
        (
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg==",
            {
                "type": "base64",
                "media_type": "image/png",
                "data": "iVBORw0KGgoAAAANSUhEUg==",
            },
        ),
        (
            "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ==",
            {
                "type": "base64",
                "media_type": "image/jpeg",
                "data": "/9j/4AAQSkZJRgABAQ==",
            },
        ),
        (
            "https://images.example/photos/ant.jpg?size=large",
            {"type": "url", "url": "https://images.example/photos/ant.jpg?size=large"},
        ),
        (
            "http://images.example/cat.webp",
            {"type": "url", "url": "http://images.example/cat.webp"},
        ),
    ],
)
def test_anthropic_translates_image_parts_to_image_sources(url, source):
    content = [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]

    payload = build_payload({"messages": [{"role": "user", "content": content}]})

    assert payload["messages"][0]["content"] == [
        {"type": "text", "text": "What is in this image?"},
        {"type": "image", "source": source},
    ]


@pytest.mark.parametrize(
    "image_url",
    [
        {"url": "data:image/png,rawbytes"},
        {"url": "data:;base64,iVBORw0KGgo="},
        {"url": "data:image/png;base64"},
        {"url": "ftp://images.example/cat.png"},
        {"detail": "low"},
    ],
)
def test_anthropic_rejects_unusable_image_urls(image_url):
    content = [{"type": "image_url", "image_url": image_url}]

    param = rejected_param({"messages": [{"role": "user", "content": content}]})

    assert param == "messages[0].content[0].image_url"


def test_anthropic_maps_assistant_tool_calls_to_tool_use_blocks():
    assistant = {
        "role": "assistant",
        "content": "Let me check.",
        "tool_calls": [
            {
                "id": "call_weather",
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "arguments": '{"location": "Paris"}',
                },
            },
            {
                "id": "call_clock",
                "type": "function",
                "function": {"name": "get_time", "arguments": ""},
            },
        ],
    }

    payload = build_payload({"messages": [HELLO, assistant]})

    assert payload["messages"][1] == {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Let me check."},
            {
                "type": "tool_use",
                "id": "call_weather",
                "name": "get_weather",
                "input": {"location": "Paris"},
            },
            {"type": "tool_use", "id": "call_clock", "name": "get_time", "input": {}},
        ],
    }


@pytest.mark.parametrize("arguments", ['{"location": "Par', "[1, 2]", "42", '"Paris"'])
def test_anthropic_rejects_tool_call_arguments_that_are_not_a_json_object(arguments):
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": arguments},
    }
    assistant = {"role": "assistant", "content": None, "tool_calls": [call]}

    param = rejected_param({"messages": [HELLO, assistant]})

    assert param == "messages[1].tool_calls[0].function.arguments"


def test_anthropic_merges_tool_results_into_one_user_turn():
    calls = [
        {
            "id": f"call_{n}",
            "type": "function",
            "function": {"name": "f", "arguments": "{}"},
        }
        for n in (1, 2)
    ]
    messages = [
        HELLO,
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "15 degrees"},
        {
            "role": "tool",
            "tool_call_id": "call_2",
            "content": [{"type": "text", "text": "14:05"}],
        },
        {"role": "user", "content": "Thanks, and tomorrow?"},
    ]

    payload = build_payload({"messages": messages})

    assert [turn["role"] for turn in payload["messages"]] == [
        "user",
        "assistant",
        "user",
    ]
    assert payload["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "15 degrees"},
        {
            "type": "tool_result",
            "tool_use_id": "call_2",
            "content": [{"type": "text", "text": "14:05"}],
        },
        {"type": "text", "text": "Thanks, and tomorrow?"},
    ]


def test_anthropic_puts_tool_results_first_in_a_merged_user_turn():
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "f", "arguments": "{}"},
    }
    messages = [
        HELLO,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "user", "content": "Here is the result."},
        {"role": "tool", "tool_call_id": "call_1", "content": ""},
    ]

    payload = build_payload({"messages": messages})

    assert payload["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1"},
        {"type": "text", "text": "Here is the result."},
    ]


def test_anthropic_merges_consecutive_messages_of_one_role():
    messages = [
        {"role": "user", "content": "First."},
        {"role": "user", "content": "Second."},
        {"role": "assistant", "content": "One."},
        {"role": "assistant", "content": "Two."},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "Third."},
    ]

    payload = build_payload({"messages": messages})

    assert payload["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "First."},
                {"type": "text", "text": "Second."},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "One."},
                {"type": "text", "text": "Two."},
            ],
        },
        {"role": "user", "content": [{"type": "text", "text": "Third."}]},
    ]


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([], "messages"),
        ([{"role": "function", "name": "f", "content": "x"}], "messages[0].role"),
        (["Hello"], "messages[0].role"),
        (
            [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}],
            "messages[0].content[0].type",
        ),
        ([{"role": "user", "content": 42}], "messages[0].content"),
        (
            [HELLO, {"role": "tool", "content": "15 degrees"}],
            "messages[1].tool_call_id",
        ),
        (
            [
                {
                    "role": "system",
                    "content": [
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://x.test/a.png"},
                        }
                    ],
                },
                HELLO,
            ],
            "messages[0].content",
        ),
    ],
)
def test_anthropic_rejects_messages_it_cannot_express(messages, param):
    assert rejected_param({"messages": messages}) == param


@pytest.mark.parametrize(
    "body",
    [
        {"messages": "Hello"},
        {"messages": [{"role": ["user"], "content": "Hello"}]},
        {"messages": [{"role": "user", "content": [None]}]},
        {"messages": [{"role": "user", "content": [{"type": ["text"], "text": "x"}]}]},
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        {"messages": [HELLO, {"role": "assistant", "tool_calls": "call_1"}]},
        {"messages": [HELLO, {"role": "assistant", "tool_calls": [{"function": "f"}]}]},
        {"messages": [HELLO], "tools": "get_weather"},
        {"messages": [HELLO], "tools": [WEATHER_TOOL], "tool_choice": ["auto"]},
        {"messages": [HELLO], "response_format": "json"},
    ],
)
def test_anthropic_request_garbage_raises_only_a_rejection(body):
    with pytest.raises(ProviderRejectedError) as caught:
        anthropic.build_chat_call(ENDPOINT, "claude-sonnet-4-5", body, False)

    assert caught.value.param


def test_anthropic_translates_function_tools():
    bare = {"type": "function", "function": {"name": "get_time"}}

    payload = build_payload({"messages": [HELLO], "tools": [WEATHER_TOOL, bare]})

    assert payload["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather for a city.",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert "tool_choice" not in payload


@pytest.mark.parametrize(
    ("tool", "param"),
    [
        ({"type": "custom", "custom": {"name": "grammar"}}, "tools[0]"),
        (
            {"type": "function", "function": {"description": "no name"}},
            "tools[0].function.name",
        ),
        (
            {"type": "function", "function": {"name": "gateway_json_response"}},
            "tools[0].function.name",
        ),
    ],
)
def test_anthropic_rejects_tools_it_cannot_express(tool, param):
    assert rejected_param({"messages": [HELLO], "tools": [tool]}) == param


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_anthropic_maps_tool_choice(tool_choice, expected):
    body = {"messages": [HELLO], "tools": [WEATHER_TOOL], "tool_choice": tool_choice}

    assert build_payload(body)["tool_choice"] == expected


def test_anthropic_rejects_an_unknown_tool_choice():
    body = {"messages": [HELLO], "tools": [WEATHER_TOOL], "tool_choice": "sometimes"}

    assert rejected_param(body) == "tool_choice"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"tools": [WEATHER_TOOL]},
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
        (
            {"tools": [WEATHER_TOOL], "tool_choice": "required"},
            {"type": "any", "disable_parallel_tool_use": True},
        ),
        (
            {
                "tools": [WEATHER_TOOL],
                "tool_choice": {
                    "type": "function",
                    "function": {"name": "get_weather"},
                },
            },
            {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        ),
        ({"tools": [WEATHER_TOOL], "tool_choice": "none"}, {"type": "none"}),
        ({}, None),
    ],
)
def test_anthropic_maps_parallel_tool_calls_false_to_disable_parallel_tool_use(
    fields, expected
):
    body = {"messages": [HELLO], "parallel_tool_calls": False, **fields}

    assert build_payload(body).get("tool_choice") == expected


@pytest.mark.parametrize(
    ("model", "fields", "options", "expected"),
    [
        ("claude-sonnet-4-5", {"max_tokens": 300}, {}, 300),
        (
            "claude-sonnet-4-5",
            {"max_completion_tokens": 500, "max_tokens": 300},
            {},
            500,
        ),
        ("claude-sonnet-4-5", {}, {"default_max_tokens": 2048}, 2048),
        ("claude-sonnet-4-5", {"max_tokens": 100}, {"default_max_tokens": 2048}, 100),
        ("claude-3-haiku-20240307", {}, {}, 4096),
        ("claude-3-opus-20240229", {}, {}, 4096),
        ("claude-3-5-haiku-20241022", {}, {}, 8192),
        ("claude-3-7-sonnet-20250219", {}, {}, 32000),
        ("claude-opus-4-1-20250805", {}, {}, 32000),
        ("claude-haiku-4-5", {}, {}, 32000),
        ("claude-sonnet-4-5-20250929", {}, {}, 32000),
        ("deepseek-chat", {}, {}, 4096),
    ],
)
def test_anthropic_sends_max_tokens_from_the_client_or_a_model_family_default(
    model, fields, options, expected
):
    endpoint = Endpoint(
        name="anthropic",
        type="anthropic",
        base_url="https://api.anthropic.com/v1",
        options=options,
    )

    payload = build_payload(
        {"messages": [HELLO], **fields}, model=model, endpoint=endpoint
    )

    assert payload["max_tokens"] == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "100"}, "max_tokens"),
        ({"max_completion_tokens": True}, "max_completion_tokens"),
        ({"max_completion_tokens": -5}, "max_completion_tokens"),
    ],
)
def test_anthropic_rejects_a_max_tokens_that_is_not_a_positive_integer(fields, param):
    assert rejected_param({"messages": [HELLO], **fields}) == param


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"temperature": 0.2}, {"temperature": 0.2}),
        ({"temperature": 1.7}, {"temperature": 1.0}),
        ({"top_p": 0.9}, {"top_p": 0.9}),
        ({"stop": "\n\nHuman:"}, {"stop_sequences": ["\n\nHuman:"]}),
        ({"stop": ["END", "STOP"]}, {"stop_sequences": ["END", "STOP"]}),
        ({"user": "user-7f3a"}, {"metadata": {"user_id": "user-7f3a"}}),
        ({"n": 1}, {}),
    ],
)
def test_anthropic_maps_sampling_stop_and_user_fields(fields, expected):
    payload = build_payload({"messages": [HELLO], **fields})
    sent = {
        name: payload[name]
        for name in ("temperature", "top_p", "stop_sequences", "metadata")
        if name in payload
    }

    assert sent == expected


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"n": 2}, "n"), ({"temperature": "warm"}, "temperature")],
)
def test_anthropic_rejects_sampling_fields_it_cannot_express(fields, param):
    assert rejected_param({"messages": [HELLO], **fields}) == param


@pytest.mark.parametrize(
    ("response_format", "schema", "description_part"),
    [
        ({"type": "json_object"}, {"type": "object"}, "the answer as a JSON object"),
        (
            {
                "type": "json_schema",
                "json_schema": {
                    "name": "city_facts",
                    "description": "Facts about one city",
                    "strict": True,
                    "schema": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                        "additionalProperties": False,
                    },
                },
            },
            {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
            "'city_facts' (Facts about one city)",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "anything"}},
            {"type": "object"},
            "'anything'",
        ),
    ],
)
def test_anthropic_json_mode_forces_the_json_tool(
    response_format, schema, description_part
):
    payload = build_payload({"messages": [HELLO], "response_format": response_format})

    (tool,) = payload["tools"]
    assert tool["name"] == anthropic.JSON_TOOL_NAME
    assert tool["input_schema"] == schema
    assert description_part in tool["description"]
    assert payload["tool_choice"] == {"type": "tool", "name": anthropic.JSON_TOOL_NAME}


@pytest.mark.parametrize(
    ("tool_choice", "expected_choice"),
    [
        (None, {"type": "any"}),
        ("auto", {"type": "any"}),
        ("none", {"type": "tool", "name": "gateway_json_response"}),
    ],
)
def test_anthropic_json_mode_with_optional_client_tools_offers_both(
    tool_choice, expected_choice
):
    body = {
        "messages": [HELLO],
        "tools": [WEATHER_TOOL],
        "response_format": {"type": "json_object"},
    }
    if tool_choice is not None:
        body["tool_choice"] = tool_choice

    payload = build_payload(body)

    assert [tool["name"] for tool in payload["tools"]] == [
        "get_weather",
        "gateway_json_response",
    ]
    assert payload["tool_choice"] == expected_choice


@pytest.mark.parametrize(
    "tool_choice",
    ["required", {"type": "function", "function": {"name": "get_weather"}}],
)
def test_anthropic_json_mode_yields_to_a_forced_client_tool(tool_choice):
    body = {
        "messages": [HELLO],
        "tools": [WEATHER_TOOL],
        "tool_choice": tool_choice,
        "response_format": {"type": "json_object"},
    }

    payload = build_payload(body)

    assert [tool["name"] for tool in payload["tools"]] == ["get_weather"]


def test_anthropic_response_format_text_adds_no_tool():
    payload = build_payload({"messages": [HELLO], "response_format": {"type": "text"}})

    assert "tools" not in payload
    assert "tool_choice" not in payload


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "list", "schema": {"type": "array"}},
            },
            "response_format.json_schema.schema",
        ),
        ({"type": "json_schema"}, "response_format.json_schema"),
        ({"type": "grammar", "grammar": "root ::= x"}, "response_format.type"),
    ],
)
def test_anthropic_json_mode_rejects_formats_it_cannot_express(response_format, param):
    assert (
        rejected_param({"messages": [HELLO], "response_format": response_format})
        == param
    )


def test_anthropic_response_maps_a_text_message_to_a_chat_completion():
    raw = (FIXTURES / "message_text.json").read_bytes()

    completion = anthropic.parse_chat_response("claude-sonnet-4-5", raw)

    body = completion.body
    assert body["id"] == "msg_01XFDUDYJgAACzvnptvVoYEL"
    assert body["object"] == "chat.completion"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert isinstance(body["created"], int) and body["created"] > 1_700_000_000
    assert body["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "The capital of France is Paris. "
                "It is also its largest city.",
                "refusal": None,
            },
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    assert completion.usage == Usage(
        prompt_tokens=21 + 3400 + 1200,
        completion_tokens=14,
        cached_tokens=3400,
        cache_write_tokens=1200,
    )
    assert body["usage"] == {
        "prompt_tokens": 4621,
        "completion_tokens": 14,
        "total_tokens": 4635,
        "prompt_tokens_details": {"cached_tokens": 3400, "cache_write_tokens": 1200},
        # The same usage shape as every other surface answers.
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def test_anthropic_response_maps_tool_use_to_tool_calls():
    raw = (FIXTURES / "message_tool_use.json").read_bytes()

    body = anthropic.parse_chat_response("claude-sonnet-4-5", raw).body

    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == (
        "I'll check the weather and the time in San Francisco."
    )
    calls = choice["message"]["tool_calls"]
    assert [(call["id"], call["type"], call["function"]["name"]) for call in calls] == [
        ("toolu_01A09q90qw90lq917835lq9", "function", "get_weather"),
        ("toolu_01B18r81rx81mr826724mr8", "function", "get_time"),
    ]
    assert [orjson.loads(call["function"]["arguments"]) for call in calls] == [
        {"location": "San Francisco, CA", "unit": "celsius"},
        {"timezone": "America/Los_Angeles"},
    ]


def test_anthropic_response_with_only_tool_calls_has_null_content():
    data = load_fixture("message_tool_use.json")
    data["content"] = data["content"][1:]

    body = anthropic.parse_chat_response("claude-sonnet-4-5", orjson.dumps(data)).body

    assert body["choices"][0]["message"]["content"] is None


def test_anthropic_response_maps_the_json_answer_to_content():
    raw = (FIXTURES / "message_json_answer.json").read_bytes()

    body = anthropic.parse_chat_response("claude-haiku-4-5", raw).body

    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop"
    assert "tool_calls" not in choice["message"]
    assert orjson.loads(choice["message"]["content"]) == {
        "city": "Paris",
        "country": "France",
        "population_millions": 2.1,
    }


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
        ("a_reason_added_later", "stop"),
    ],
)
def test_anthropic_response_maps_every_stop_reason(stop_reason, finish_reason):
    data = load_fixture("message_tool_use.json")
    data["stop_reason"] = stop_reason

    body = anthropic.parse_chat_response("claude-sonnet-4-5", orjson.dumps(data)).body

    assert body["choices"][0]["finish_reason"] == finish_reason


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"input_tokens": 10, "output_tokens": 5}, Usage(10, 5)),
        (
            {
                "input_tokens": 10,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 90,
                "output_tokens": 5,
            },
            Usage(prompt_tokens=100, completion_tokens=5, cached_tokens=90),
        ),
        (
            {
                "input_tokens": 3,
                "cache_creation_input_tokens": 2000,
                "cache_read_input_tokens": None,
                "output_tokens": 7,
            },
            Usage(prompt_tokens=2003, completion_tokens=7, cache_write_tokens=2000),
        ),
        (None, None),
        ({}, None),
    ],
)
def test_anthropic_usage_counts_cache_reads_and_writes_in_prompt_tokens(
    usage, expected
):
    assert anthropic.parse_usage(usage) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"<html>502 Bad Gateway</html>",
        b"[]",
        b'{"type": "message", "content": "not a list"}',
        b'{"id": "msg_1", "content": []}',
    ],
)
def test_anthropic_response_rejects_bodies_that_are_not_messages(raw):
    with pytest.raises(ProviderInvalidResponseError):
        anthropic.parse_chat_response("claude-sonnet-4-5", raw)


def test_anthropic_response_reads_around_blocks_and_fields_it_does_not_know():
    data = load_fixture("message_text.json")
    data["content"] = [
        1,
        {"type": "text", "text": 5},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"},
        {"type": "text", "text": "Still here."},
    ]
    data["stop_reason"] = ["end_turn"]
    data["usage"] = "lots"

    completion = anthropic.parse_chat_response("claude-sonnet-4-5", orjson.dumps(data))

    choice = completion.body["choices"][0]
    assert choice["message"]["content"] == "Still here."
    assert choice["finish_reason"] == "stop"
    assert completion.usage is None
    assert "usage" not in completion.body


def test_anthropic_response_raises_the_error_an_error_body_names():
    with pytest.raises(ProviderUnavailableError) as caught:
        anthropic.parse_chat_response(
            "claude-sonnet-4-5", error_body("overloaded_error")
        )

    assert caught.value.details == {"provider_code": "overloaded_error"}


def test_anthropic_stream_maps_text_events_to_content_chunks():
    translator, chunks = run_stream("stream_text.json")

    assert deltas(chunks)[0] == {"role": "assistant", "content": ""}
    assert streamed_text(chunks) == "Hello! How can I help you today?"
    assert finish_reasons(chunks) == ["stop"]
    assert chunks[-1]["choices"][0]["delta"] == {}
    assert {chunk["id"] for chunk in chunks} == {
        "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY"
    }
    assert {chunk["model"] for chunk in chunks} == {"claude-sonnet-4-5-20250929"}
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    assert translator.finished is True
    assert translator.usage == Usage(
        prompt_tokens=25 + 2048 + 300,
        completion_tokens=15,
        cached_tokens=2048,
        cache_write_tokens=300,
    )


def test_anthropic_stream_maps_tool_use_to_tool_call_deltas():
    translator, chunks = run_stream("stream_tool_calls.json")

    calls = [call for delta in deltas(chunks) for call in delta.get("tool_calls", [])]
    starts = [call for call in calls if "id" in call]
    assert starts == [
        {
            "index": 0,
            "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        },
        {
            "index": 1,
            "id": "toolu_01Vq8mLhXw2cR5nTs9bKp4Ye",
            "type": "function",
            "function": {"name": "get_time", "arguments": ""},
        },
    ]
    arguments = ["", ""]
    for call in calls:
        arguments[call["index"]] += call["function"]["arguments"]
    assert [orjson.loads(text) for text in arguments] == [
        {"location": "San Francisco, CA", "unit": "fahrenheit"},
        {"timezone": "America/Los_Angeles"},
    ]
    assert streamed_text(chunks) == "Let me look up the weather and the time."
    assert finish_reasons(chunks) == ["tool_calls"]
    assert translator.finished is True
    assert translator.usage == Usage(prompt_tokens=472, completion_tokens=89)


def test_anthropic_stream_maps_the_json_answer_to_content_deltas():
    translator, chunks = run_stream("stream_json_answer.json")

    assert not any("tool_calls" in delta for delta in deltas(chunks))
    assert orjson.loads(streamed_text(chunks)) == {"city": "Paris", "country": "France"}
    assert finish_reasons(chunks) == ["stop"]
    assert translator.finished is True


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", ["stop"]),
        ("max_tokens", ["length"]),
        ("stop_sequence", ["stop"]),
        ("refusal", ["content_filter"]),
        ("model_context_window_exceeded", ["length"]),
        (None, []),
    ],
)
def test_anthropic_stream_maps_stop_reasons_to_a_finish_chunk(stop_reason, expected):
    translator = anthropic.open_stream("claude-sonnet-4-5")
    translator.feed(event(load_fixture("stream_text.json")[0]["data"]))

    chunks = translator.feed(
        event({"type": "message_delta", "delta": {"stop_reason": stop_reason}})
    )

    assert finish_reasons(chunks) == expected


def test_anthropic_stream_usage_takes_the_cumulative_message_delta_counts():
    translator = anthropic.open_stream("claude-sonnet-4-5")
    translator.feed(event(load_fixture("stream_text.json")[0]["data"]))
    assert translator.usage is not None and translator.usage.completion_tokens == 1

    for output_tokens in (40, 95):
        translator.feed(
            event(
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": None},
                    "usage": {
                        "output_tokens": output_tokens,
                        "cache_read_input_tokens": 4096,
                    },
                }
            )
        )

    assert translator.usage == Usage(
        prompt_tokens=25 + 4096 + 300,
        completion_tokens=95,
        cached_tokens=4096,
        cache_write_tokens=300,
    )


def test_anthropic_stream_without_message_stop_is_not_finished():
    translator = anthropic.open_stream("claude-sonnet-4-5")

    for item in load_fixture("stream_text.json")[:-1]:
        translator.feed(event(item["data"]))

    assert translator.finished is False


@pytest.mark.parametrize(
    "data",
    [
        {"type": "ping"},
        {"type": "content_block_stop", "index": 0},
        {"type": "a_event_added_later", "detail": {}},
    ],
)
def test_anthropic_stream_ignores_events_with_nothing_to_translate(data):
    translator = anthropic.open_stream("claude-sonnet-4-5")

    assert translator.feed(event(data)) == []
    assert translator.feed(SSEEvent(event=None, data="")) == []


def test_anthropic_stream_leaves_out_thinking_blocks():
    translator = anthropic.open_stream("claude-sonnet-4-5")
    translator.feed(event(load_fixture("stream_text.json")[0]["data"]))
    start = {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": ""},
    }
    thought = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "Let me think."},
    }

    assert translator.feed(event(start)) + translator.feed(event(thought)) == []


@pytest.mark.parametrize(
    ("kind", "error_class"),
    [
        ("overloaded_error", ProviderUnavailableError),
        ("api_error", ProviderUnavailableError),
        ("rate_limit_error", ProviderRateLimitError),
        ("invalid_request_error", ProviderRejectedError),
        ("timeout_error", ProviderTimeoutError),
        ("an_error_added_later", ProviderUnavailableError),
    ],
)
def test_anthropic_stream_raises_the_mapped_error_for_error_events(kind, error_class):
    translator = anthropic.open_stream("claude-sonnet-4-5")
    data = {"type": "error", "error": {"type": kind, "message": "Overloaded"}}

    with pytest.raises(error_class) as caught:
        translator.feed(SSEEvent(event="error", data=orjson.dumps(data).decode()))

    assert type(caught.value) is error_class
    assert caught.value.message == "Overloaded"


@pytest.mark.parametrize(
    "data",
    [
        '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_del',
        '["message_start"]',
        '{"type": "content_block_delta", "index": 7, '
        '"delta": {"type": "text_delta", "text": "hi"}}',
        '{"type": "content_block_start", '
        '"content_block": {"type": "text", "text": ""}}',
        '{"type": "message_start"}',
    ],
)
def test_anthropic_stream_rejects_malformed_events(data):
    translator = anthropic.open_stream("claude-sonnet-4-5")

    with pytest.raises(ProviderInvalidResponseError):
        translator.feed(SSEEvent(event="content_block_delta", data=data))


@pytest.mark.parametrize(
    ("data", "error_class"),
    [
        (
            {"type": "content_block_delta", "index": True, "delta": {}},
            ProviderInvalidResponseError,
        ),
        (
            {"type": "error", "error": {"type": ["overloaded_error"]}},
            ProviderUnavailableError,
        ),
        ({"type": "error", "error": "Overloaded"}, ProviderUnavailableError),
    ],
)
def test_anthropic_stream_garbage_raises_only_provider_errors(data, error_class):
    translator = anthropic.open_stream("claude-sonnet-4-5")

    with pytest.raises(error_class):
        translator.feed(SSEEvent(event=None, data=orjson.dumps(data).decode()))


@pytest.mark.parametrize(
    ("data", "reasons"),
    [
        ({"type": ["message_start"]}, []),
        ({"type": "content_block_start", "index": 0, "content_block": "text"}, []),
        ({"type": "message_delta", "delta": {"stop_reason": ["end_turn"]}}, ["stop"]),
        ({"type": "message_delta", "delta": "done", "usage": "many"}, []),
    ],
)
def test_anthropic_stream_tolerates_odd_fields_it_can_read_around(data, reasons):
    translator = anthropic.open_stream("claude-sonnet-4-5")

    chunks = translator.feed(SSEEvent(event=None, data=orjson.dumps(data).decode()))

    assert finish_reasons(chunks) == reasons
    assert translator.usage is None


def test_anthropic_stream_usage_counts_never_go_backwards():
    translator = anthropic.open_stream("claude-sonnet-4-5")
    translator.feed(event(load_fixture("stream_text.json")[0]["data"]))

    translator.feed(
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"input_tokens": 0, "output_tokens": 15},
            }
        )
    )

    assert translator.usage is not None
    assert translator.usage.prompt_tokens == 25 + 2048 + 300


@pytest.mark.parametrize(
    ("status", "kind", "error_class"),
    [
        (400, "invalid_request_error", ProviderRejectedError),
        (401, "authentication_error", ProviderAuthError),
        (402, "billing_error", ProviderQuotaError),
        (403, "permission_error", ProviderAuthError),
        (404, "not_found_error", ProviderError),
        (409, "conflict_error", ProviderUnavailableError),
        (413, "request_too_large", ProviderRejectedError),
        (429, "rate_limit_error", ProviderRateLimitError),
        (500, "api_error", ProviderUnavailableError),
        (504, "timeout_error", ProviderTimeoutError),
        (529, "overloaded_error", ProviderUnavailableError),
        (422, "invalid_request_error", ProviderRejectedError),
    ],
)
def test_anthropic_maps_error_status_and_type(status, kind, error_class):
    error = anthropic.parse_error(status, {}, error_body(kind, "the provider said no"))

    assert type(error) is error_class
    assert error.upstream_status == status
    assert error.message == "the provider said no"
    assert error.details == {"provider_code": kind}
    assert error.retry_after is None


def test_anthropic_maps_the_monthly_spend_cap_429_to_a_quota_error():
    raw = orjson.dumps(
        {
            "type": "error",
            "error": {
                "type": "rate_limit_error",
                "message": "This organization has reached its monthly spend cap.",
                "details": {"error_code": "enforced_spend_limit_reached"},
            },
        }
    )

    error = anthropic.parse_error(429, {}, raw)

    assert type(error) is ProviderQuotaError
    assert error.retryable is False
    assert error.details == {"provider_code": "enforced_spend_limit_reached"}


def test_anthropic_prompt_too_long_stays_a_rejection_without_a_structured_signal():
    raw = error_body(
        "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"
    )

    error = anthropic.parse_error(400, {}, raw)

    assert type(error) is ProviderRejectedError
    assert not isinstance(error, ContextWindowExceededError)


@pytest.mark.parametrize(
    ("status", "raw", "error_class", "message"),
    [
        (
            502,
            b"<html>Bad Gateway</html>",
            ProviderUnavailableError,
            "<html>Bad Gateway</html>",
        ),
        (529, b"", ProviderUnavailableError, "HTTP 529"),
        (401, b'"unauthorized"', ProviderAuthError, '"unauthorized"'),
    ],
)
def test_anthropic_error_without_an_error_body_is_decided_by_status(
    status, raw, error_class, message
):
    error = anthropic.parse_error(status, {}, raw)

    assert type(error) is error_class
    assert error.message == message


def test_anthropic_error_message_is_redacted():
    raw = error_body(
        "authentication_error", "invalid x-api-key: sk-ant-api03-AbCdEfGh123456"
    )

    error = anthropic.parse_error(401, {}, raw)

    assert "sk-ant-api03" not in error.message
    assert "[redacted]" in error.message


def _reset_in(seconds: int) -> str:
    return (
        (datetime.now(UTC) + timedelta(seconds=seconds))
        .isoformat()
        .replace("+00:00", "Z")
    )


@pytest.mark.parametrize(
    ("headers", "low", "high"),
    [
        (lambda: {"retry-after": "17"}, 17.0, 17.0),
        (
            # Built when the test runs: reset times are relative to now.
            lambda: {
                "anthropic-ratelimit-tokens-remaining": "0",
                "anthropic-ratelimit-tokens-reset": _reset_in(30),
                "anthropic-ratelimit-requests-remaining": "40",
                "anthropic-ratelimit-requests-reset": _reset_in(5),
            },
            20.0,
            30.0,
        ),
    ],
    ids=["retry-after", "exhausted-limit-reset"],
)
def test_anthropic_error_reads_retry_after_from_headers(headers, low, high):
    error = anthropic.parse_error(429, headers(), error_body("rate_limit_error"))

    assert error.retry_after is not None
    assert low <= error.retry_after <= high


def test_anthropic_embeddings_are_rejected_with_a_clear_error():
    with pytest.raises(ProviderRejectedError) as caught:
        anthropic.build_embeddings_call(ENDPOINT, "claude-sonnet-4-5", {"input": "hi"})
    with pytest.raises(ProviderRejectedError):
        anthropic.parse_embeddings_response("claude-sonnet-4-5", b"{}")

    assert "no embeddings API" in caught.value.message
    assert caught.value.param == "model"
