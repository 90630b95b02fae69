"""The fake providers are faithful: the official SDKs, pointed straight at them, parse
what they send, and raise the SDK's own errors for every scripted fault."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import anthropic
import httpx2
import openai
import pytest

from tests.fakes import (
    Behaviour,
    FakeServer,
    RemoteFake,
    ToolCall,
    Usage,
    cut,
    delay,
    error,
    error_in_body,
    malformed_event,
    malformed_json,
    oversized,
    raw,
    reply,
    reset,
    stall,
    wrong_content_type,
)

pytest_plugins = ["tests.fakes.plugin"]

GPT = "gpt-4o-mini"

CLAUDE = "claude-sonnet-4-5"

HELLO = [{"role": "user", "content": "hello there"}]

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer", "minimum": 3},
        "units": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "days"],
}

OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA},
    }
]

ANTHROPIC_TOOLS = [{"name": "get_weather", "input_schema": WEATHER_SCHEMA}]

WEATHER_ARGUMENTS = {"city": "fake", "days": 3, "units": "celsius"}

CACHED_USAGE = Usage(
    input_tokens=11,
    output_tokens=7,
    cache_read_tokens=5,
    cache_write_tokens=3,
    reasoning_tokens=2,
)


@pytest.fixture
def openai_client(fake_provider: FakeServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake_provider.url + "/v1", api_key="x", max_retries=0)


@pytest.fixture
def anthropic_client(fake_provider: FakeServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake_provider.url, api_key="x", max_retries=0)


def post(
    url: str, path: str, payload: Any, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """POST JSON with http.client, which adds no headers of its own beyond Host."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    try:
        body = json.dumps(payload)
        connection.request(
            "POST", path, body, {"Content-Type": "application/json", **headers}
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_openai_chat_completion_echoes_the_last_user_message(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)

    assert completion.object == "chat.completion"
    assert completion.model == GPT
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == 2
    assert completion.usage.completion_tokens == 3
    assert completion.usage.total_tokens == 5
    assert completion.usage.prompt_tokens_details.cached_tokens == 0
    assert completion.usage.completion_tokens_details.reasoning_tokens == 0

    (request,) = fake_provider.requests()
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == "Bearer x"
    assert request.json == {"model": GPT, "messages": HELLO}


def test_openai_stream_sends_role_content_finish_usage_then_done(
    openai_client: openai.OpenAI,
) -> None:
    stream = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks[:-1])
    assert text == "echo: hello there"
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (
        2,
        3,
    )
    assert all(chunk.usage is None for chunk in chunks[:-1])

    with openai_client.chat.completions.with_streaming_response.create(
        model=GPT, messages=HELLO, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]
    assert response.headers["content-type"].startswith("text/event-stream")
    assert lines[-1] == "data: [DONE]"
    assert all(line.startswith("data: ") for line in lines)


@pytest.mark.parametrize(
    "behaviour",
    [reply(), reply(usage=CACHED_USAGE), reply(tool_calls=[ToolCall("f", {"a": 1})])],
    ids=["derived", "scripted", "tool-call"],
)
def test_openai_stream_reports_the_same_usage_as_the_whole_reply(
    fake_provider: FakeServer, openai_client: openai.OpenAI, behaviour: Behaviour
) -> None:
    fake_provider.queue(behaviour, behaviour)

    whole = openai_client.chat.completions.create(model=GPT, messages=HELLO)
    chunks = list(
        openai_client.chat.completions.create(
            model=GPT,
            messages=HELLO,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    assert chunks[-1].usage == whole.usage


def test_openai_scripted_usage_counts_cache_reads_writes_and_reasoning(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(reply("exact words", usage=CACHED_USAGE, finish="length"))

    completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)

    assert completion.choices[0].message.content == "exact words"
    assert completion.choices[0].finish_reason == "length"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (19, 7)
    assert usage.total_tokens == 26
    assert usage.prompt_tokens_details.cached_tokens == 5
    assert usage.prompt_tokens_details.cache_write_tokens == 3
    assert usage.completion_tokens_details.reasoning_tokens == 2


def test_openai_forced_tool_call_has_arguments_that_satisfy_its_schema(
    openai_client: openai.OpenAI,
) -> None:
    completion = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, tools=OPENAI_TOOLS, tool_choice="required"
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGUMENTS


def test_openai_stream_sends_tool_call_head_then_argument_fragments(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    calls = [ToolCall("get_weather", {"city": "Oslo"}), ToolCall("get_time", {})]
    fake_provider.queue(reply(tool_calls=calls), reply(tool_calls=calls))

    whole = openai_client.chat.completions.create(model=GPT, messages=HELLO)
    stream = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True
    )
    deltas = [
        delta for chunk in stream for delta in chunk.choices[0].delta.tool_calls or []
    ]

    heads = [delta for delta in deltas if delta.id is not None]
    assert [(head.index, head.type, head.function.name) for head in heads] == [
        (0, "function", "get_weather"),
        (1, "function", "get_time"),
    ]
    assert all(head.function.arguments == "" for head in heads)
    fragments = [delta for delta in deltas if delta.id is None]
    assert all(delta.function.name is None for delta in fragments)
    assert len([delta for delta in fragments if delta.index == 0]) > 1
    for index, call in enumerate(whole.choices[0].message.tool_calls):
        streamed = "".join(d.function.arguments for d in deltas if d.index == index)
        assert streamed == call.function.arguments
        assert heads[index].id.startswith("call_")


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, {"echo": "hello there"}),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA},
            },
            WEATHER_ARGUMENTS,
        ),
    ],
    ids=["json_object", "json_schema"],
)
def test_openai_response_format_is_answered_with_json_content(
    openai_client: openai.OpenAI, response_format: Any, expected: Any
) -> None:
    completion = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, response_format=response_format
    )

    assert json.loads(completion.choices[0].message.content) == expected


def test_openai_max_tokens_cuts_the_reply_and_finishes_with_length(
    openai_client: openai.OpenAI,
) -> None:
    completion = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, max_completion_tokens=2
    )

    assert completion.choices[0].message.content == "echo: hello"
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 2


def test_openai_embeddings_carry_the_same_vectors_as_floats_and_base64(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    inputs = ["the cat sat", "a dog"]

    as_base64 = openai_client.embeddings.create(
        model="text-embedding-3-small", input=inputs
    )
    as_floats = openai_client.embeddings.create(
        model="text-embedding-3-small",
        input=inputs,
        encoding_format="float",
        dimensions=64,
    )

    assert [item.index for item in as_base64.data] == [0, 1]
    assert len(as_base64.data[0].embedding) == 1536
    assert len(as_floats.data[0].embedding) == 64
    assert as_base64.data[0].embedding != as_base64.data[1].embedding
    norm = sum(value * value for value in as_base64.data[0].embedding) ** 0.5
    assert norm == pytest.approx(1.0, abs=1e-4)
    assert (as_base64.usage.prompt_tokens, as_base64.usage.total_tokens) == (5, 5)
    first, second = fake_provider.requests()
    assert first.json["encoding_format"] == "base64"
    assert second.json["encoding_format"] == "float"

    again = openai_client.embeddings.create(
        model="text-embedding-3-small", input=inputs, dimensions=64
    )
    assert again.data[0].embedding == as_floats.data[0].embedding


def test_openai_models_lists_the_fake_models(openai_client: openai.OpenAI) -> None:
    models = list(openai_client.models.list())

    assert GPT in [model.id for model in models]
    assert all(model.object == "model" and model.owned_by for model in models)


@pytest.mark.parametrize(
    ("status", "exception", "error_type", "code"),
    [
        (400, openai.BadRequestError, "invalid_request_error", None),
        (401, openai.AuthenticationError, "invalid_request_error", "invalid_api_key"),
        (403, openai.PermissionDeniedError, "invalid_request_error", None),
        (404, openai.NotFoundError, "invalid_request_error", "model_not_found"),
        (429, openai.RateLimitError, "requests", "rate_limit_exceeded"),
        (500, openai.InternalServerError, "server_error", None),
        (502, openai.InternalServerError, "server_error", None),
        (503, openai.InternalServerError, "server_error", None),
    ],
)
def test_openai_error_status_raises_the_sdk_class_with_the_fake_message(
    fake_provider: FakeServer,
    openai_client: openai.OpenAI,
    status: int,
    exception: type[openai.APIStatusError],
    error_type: str,
    code: str | None,
) -> None:
    fake_provider.queue(error(status, f"scripted {status}"))

    with pytest.raises(exception) as raised:
        openai_client.chat.completions.create(model=GPT, messages=HELLO, stream=True)

    assert raised.value.status_code == status
    assert raised.value.body["message"] == f"scripted {status}"
    assert raised.value.type == error_type
    if code is not None:
        assert raised.value.code == code
    assert raised.value.request_id == "req_fake00000000"


def test_openai_rate_limit_sends_retry_headers_only_when_scripted(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(
        error(429, retry_after=2, retry_after_ms=1500, limit_reset_s=3),
        error(429),
    )

    with pytest.raises(openai.RateLimitError) as hinted:
        openai_client.chat.completions.create(model=GPT, messages=HELLO)
    with pytest.raises(openai.RateLimitError) as plain:
        openai_client.chat.completions.create(model=GPT, messages=HELLO)

    headers = hinted.value.response.headers
    assert headers["retry-after"] == "2"
    assert headers["retry-after-ms"] == "1500"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert headers["x-ratelimit-reset-requests"] == "3s"
    headers = plain.value.response.headers
    assert "retry-after" not in headers
    assert "retry-after-ms" not in headers
    assert headers["x-ratelimit-remaining-requests"] != "0"


def test_openai_request_without_bearer_key_is_refused_with_401(
    fake_provider: FakeServer,
) -> None:
    status, _, body = post(
        fake_provider.url, "/v1/chat/completions", {"model": GPT, "messages": HELLO}, {}
    )

    assert status == 401
    assert json.loads(body)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    "behaviour",
    [reset(), reset(after_bytes=0), reset(before_headers=True), cut(), stall(0.0)],
    ids=["reset", "reset-after-head", "reset-before-head", "cut", "stall-then-close"],
)
def test_openai_broken_connection_raises_connection_error(
    fake_provider: FakeServer, openai_client: openai.OpenAI, behaviour: Behaviour
) -> None:
    fake_provider.queue(behaviour)

    with pytest.raises(openai.APIConnectionError) as raised:
        openai_client.chat.completions.create(model=GPT, messages=HELLO)

    assert not isinstance(raised.value, openai.APITimeoutError)
    completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)
    assert completion.choices[0].message.content == "echo: hello there"


@pytest.mark.parametrize("behaviour", [reset(), cut()], ids=["reset", "cut"])
def test_openai_stream_broken_mid_body_raises_after_the_first_chunks(
    fake_provider: FakeServer, openai_client: openai.OpenAI, behaviour: Behaviour
) -> None:
    fake_provider.queue(behaviour)
    received = []

    stream = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)

    assert len(received) == 2
    assert received[1].choices[0].delta.content == "echo: "


def test_openai_stream_cut_with_complete_http_body_lacks_only_done(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(cut(after_events=3, http_complete=True))

    with openai_client.chat.completions.with_streaming_response.create(
        model=GPT, messages=HELLO, stream=True
    ) as response:
        lines = [line for line in response.iter_lines() if line]

    assert len(lines) == 3
    assert "data: [DONE]" not in lines
    assert fake_provider.requests()[0].connection == 1
    openai_client.chat.completions.create(model=GPT, messages=HELLO)
    assert fake_provider.requests()[1].connection == 1


@pytest.mark.parametrize(
    ("behaviour", "timeout"),
    [(stall(5.0), 0.3), (delay(5.0), 0.3)],
    ids=["stall-mid-stream", "slow-first-byte"],
)
def test_openai_silence_past_the_read_timeout_raises_timeout_error(
    fake_provider: FakeServer, behaviour: Behaviour, timeout: float
) -> None:
    client = openai.OpenAI(
        base_url=fake_provider.url + "/v1", api_key="x", max_retries=0, timeout=timeout
    )
    fake_provider.queue(behaviour)

    with pytest.raises(openai.APITimeoutError):
        list(client.chat.completions.create(model=GPT, messages=HELLO, stream=True))


def test_openai_delay_holds_back_a_normal_answer(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(delay(0.3))

    started = time.monotonic()
    completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)

    assert time.monotonic() - started >= 0.3
    assert completion.choices[0].message.content == "echo: hello there"


def test_openai_refused_port_raises_connection_error(refused_url: str) -> None:
    client = openai.OpenAI(base_url=refused_url + "/v1", api_key="x", max_retries=0)

    with pytest.raises(openai.APIConnectionError) as raised:
        client.chat.completions.create(model=GPT, messages=HELLO)

    assert not isinstance(raised.value, openai.APITimeoutError)


def test_openai_unaccepting_port_raises_timeout_error(unaccepting_url: str) -> None:
    client = openai.OpenAI(
        base_url=unaccepting_url + "/v1", api_key="x", max_retries=0, timeout=0.3
    )

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model=GPT, messages=HELLO)

    assert time.monotonic() - started >= 0.3


def test_openai_malformed_json_body_fails_to_parse(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(malformed_json(), malformed_event())

    with pytest.raises(json.JSONDecodeError):
        openai_client.chat.completions.create(model=GPT, messages=HELLO)
    with pytest.raises(json.JSONDecodeError):
        openai_client.chat.completions.create(model=GPT, messages=HELLO)


def test_openai_malformed_stream_event_fails_to_parse_after_good_chunks(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(malformed_event(after_events=2))
    received = []

    stream = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True
    )
    with pytest.raises(json.JSONDecodeError):
        for chunk in stream:
            received.append(chunk)

    assert len(received) == 2


def test_openai_html_answer_is_not_a_completion(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(wrong_content_type())

    answer = openai_client.chat.completions.create(model=GPT, messages=HELLO)

    assert isinstance(answer, str)
    assert answer.startswith("<html>")


def test_openai_error_inside_a_200_is_the_error_object(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(error_in_body("it broke"), error_in_body("broke mid-stream"))

    response = openai_client.chat.completions.with_raw_response.create(
        model=GPT, messages=HELLO
    )
    assert response.status_code == 200
    assert json.loads(response.content)["error"]["message"] == "it broke"

    stream = openai_client.chat.completions.create(
        model=GPT, messages=HELLO, stream=True
    )
    with pytest.raises(openai.APIError) as raised:
        list(stream)
    assert raised.value.message == "broke mid-stream"
    assert raised.value.body["type"] == "server_error"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_openai_oversized_reply_carries_the_whole_text(
    fake_provider: FakeServer, openai_client: openai.OpenAI, stream: bool
) -> None:
    fake_provider.queue(oversized(2))

    if stream:
        chunks = openai_client.chat.completions.create(
            model=GPT, messages=HELLO, stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    else:
        completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)
        text = completion.choices[0].message.content

    assert len(text) == 2 * 1024 * 1024


def test_anthropic_message_echoes_and_the_key_and_version_were_sent(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    message = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, system="be brief", messages=HELLO
    )

    assert message.type == "message"
    assert message.role == "assistant"
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: hello there"
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)
    assert (message.usage.input_tokens, message.usage.output_tokens) == (4, 3)
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0

    (request,) = fake_provider.requests()
    assert request.path == "/v1/messages"
    # This SDK sends its API key as a bearer token; the fake takes that or x-api-key.
    assert request.headers["authorization"] == "Bearer x"
    assert request.headers["anthropic-version"]
    assert request.json["max_tokens"] == 64


def test_anthropic_stream_sends_events_in_anthropic_order(
    anthropic_client: anthropic.Anthropic,
) -> None:
    with anthropic_client.messages.with_streaming_response.create(
        model=CLAUDE, max_tokens=64, messages=HELLO, stream=True
    ) as response:
        lines = list(response.iter_lines())

    names = [
        line.removeprefix("event: ") for line in lines if line.startswith("event:")
    ]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: ")]
    assert [event["type"] for event in data] == names
    assert data[0]["message"]["usage"]["output_tokens"] == 1
    assert data[-2]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert data[-2]["usage"] == {"output_tokens": 3}


@pytest.mark.parametrize(
    "behaviour",
    [
        reply(),
        reply("cached answer", usage=CACHED_USAGE),
        reply(
            "let me look", tool_calls=[ToolCall("get_weather", {"city": "Oslo"}, "t1")]
        ),
    ],
    ids=["derived", "scripted-usage", "text-and-tool"],
)
def test_anthropic_stream_builds_the_same_message_as_the_whole_reply(
    fake_provider: FakeServer,
    anthropic_client: anthropic.Anthropic,
    behaviour: Behaviour,
) -> None:
    fake_provider.queue(behaviour, behaviour)

    whole = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=HELLO
    )
    with anthropic_client.messages.stream(
        model=CLAUDE, max_tokens=64, messages=HELLO
    ) as stream:
        streamed = stream.get_final_message()

    assert streamed.usage == whole.usage
    assert streamed.stop_reason == whole.stop_reason
    assert [block.model_dump() for block in streamed.content] == [
        block.model_dump() for block in whole.content
    ]


def test_anthropic_scripted_usage_reports_cache_fields(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    fake_provider.queue(reply(usage=CACHED_USAGE))

    usage = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=HELLO
    ).usage

    assert (usage.input_tokens, usage.output_tokens) == (11, 7)
    assert usage.cache_read_input_tokens == 5
    assert usage.cache_creation_input_tokens == 3


def test_anthropic_forced_tool_streams_input_json_deltas(
    anthropic_client: anthropic.Anthropic,
) -> None:
    stream = anthropic_client.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=HELLO,
        tools=ANTHROPIC_TOOLS,
        tool_choice={"type": "any"},
        stream=True,
    )
    events = list(stream)

    start = next(event for event in events if event.type == "content_block_start")
    assert start.content_block.type == "tool_use"
    assert start.content_block.name == "get_weather"
    assert start.content_block.input == {}
    fragments = [
        event.delta.partial_json
        for event in events
        if event.type == "content_block_delta"
    ]
    assert fragments[0] == ""
    assert len(fragments) > 2
    assert json.loads("".join(fragments)) == WEATHER_ARGUMENTS
    closing = next(event for event in events if event.type == "message_delta")
    assert closing.delta.stop_reason == "tool_use"


def test_anthropic_max_tokens_stops_with_max_tokens(
    anthropic_client: anthropic.Anthropic,
) -> None:
    message = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=1, messages=HELLO
    )

    assert message.content[0].text == "echo:"
    assert message.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (403, anthropic.PermissionDeniedError, "permission_error"),
        (404, anthropic.NotFoundError, "not_found_error"),
        (413, anthropic.ContentTooLargeError, "request_too_large"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_error_status_raises_the_sdk_class_with_the_fake_message(
    fake_provider: FakeServer,
    anthropic_client: anthropic.Anthropic,
    status: int,
    exception: type[anthropic.APIStatusError],
    error_type: str,
) -> None:
    fake_provider.queue(error(status, f"scripted {status}"))

    with pytest.raises(exception) as raised:
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)

    assert raised.value.status_code == status
    assert raised.value.type == error_type
    assert raised.value.api_message == f"scripted {status}"
    assert raised.value.request_id == "req_fake00000000"
    if status >= 500:
        assert isinstance(raised.value, anthropic.InternalServerError)


def test_anthropic_rate_limit_sends_retry_after_and_exhausted_limit(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    fake_provider.queue(error(429, retry_after=7, limit_reset_s=7))

    with pytest.raises(anthropic.RateLimitError) as raised:
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)

    headers = raised.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-requests-reset"].endswith("Z")


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "x"}, 400, "invalid_request_error"),
    ],
    ids=["no-key", "no-version"],
)
def test_anthropic_request_without_key_or_version_is_refused(
    fake_provider: FakeServer, headers: dict[str, str], status: int, error_type: str
) -> None:
    payload = {"model": CLAUDE, "max_tokens": 8, "messages": HELLO}

    answer_status, _, body = post(fake_provider.url, "/v1/messages", payload, headers)

    assert answer_status == status
    answer = json.loads(body)
    assert answer["type"] == "error"
    assert answer["error"]["type"] == error_type


@pytest.mark.parametrize(
    "behaviour",
    [reset(), reset(before_headers=True), cut(), stall(0.0)],
    ids=["reset", "reset-before-head", "cut", "stall-then-close"],
)
def test_anthropic_broken_connection_raises_connection_error(
    fake_provider: FakeServer,
    anthropic_client: anthropic.Anthropic,
    behaviour: Behaviour,
) -> None:
    fake_provider.queue(behaviour)

    with pytest.raises(anthropic.APIConnectionError) as raised:
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)

    assert not isinstance(raised.value, anthropic.APITimeoutError)


def test_anthropic_refused_port_raises_connection_error(refused_url: str) -> None:
    client = anthropic.Anthropic(base_url=refused_url, api_key="x", max_retries=0)

    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)


@pytest.mark.parametrize(
    ("behaviour", "exception"),
    [(reset(), httpx2.ReadError), (cut(), httpx2.RemoteProtocolError)],
    ids=["reset", "cut"],
)
def test_anthropic_stream_broken_mid_body_raises_after_the_first_events(
    fake_provider: FakeServer,
    anthropic_client: anthropic.Anthropic,
    behaviour: Behaviour,
    exception: type[Exception],
) -> None:
    fake_provider.queue(behaviour)
    received = []

    stream = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=HELLO, stream=True
    )
    # Unlike openai's, this SDK lets a transport error after the head pass unwrapped.
    with pytest.raises(exception):
        for event in stream:
            received.append(event.type)

    assert received == ["message_start", "content_block_start"]


def test_anthropic_overloaded_event_mid_stream_raises_with_its_type(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    fake_provider.queue(error_in_body(status=529, after_events=4))
    received = []

    stream = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=HELLO, stream=True
    )
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in stream:
            received.append(event.type)

    assert raised.value.type == "overloaded_error"
    assert raised.value.api_message == "Overloaded"
    assert received == ["message_start", "content_block_start", "content_block_delta"]


def test_anthropic_malformed_stream_event_fails_to_parse(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    fake_provider.queue(malformed_event(after_events=1))

    stream = anthropic_client.messages.create(
        model=CLAUDE, max_tokens=64, messages=HELLO, stream=True
    )
    with pytest.raises(json.JSONDecodeError):
        list(stream)


@pytest.mark.parametrize(
    "behaviour", [stall(5.0), delay(5.0)], ids=["stall-mid-body", "slow-first-byte"]
)
def test_anthropic_silence_past_the_read_timeout_raises_timeout_error(
    fake_provider: FakeServer, behaviour: Behaviour
) -> None:
    client = anthropic.Anthropic(
        base_url=fake_provider.url, api_key="x", max_retries=0, timeout=0.3
    )
    fake_provider.queue(behaviour)

    with pytest.raises(anthropic.APITimeoutError):
        client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)


def test_anthropic_unparseable_answers_are_not_messages(
    fake_provider: FakeServer, anthropic_client: anthropic.Anthropic
) -> None:
    fake_provider.queue(
        malformed_json(), wrong_content_type(), error_in_body(status=529)
    )

    with pytest.raises(json.JSONDecodeError):
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    page = anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    response = anthropic_client.messages.with_raw_response.create(
        model=CLAUDE, max_tokens=64, messages=HELLO
    )

    assert isinstance(page, str)
    assert page.startswith("<html>")
    assert response.status_code == 200
    assert (
        json.loads(response.http_response.content)["error"]["type"]
        == "overloaded_error"
    )


def test_one_connection_carries_whole_streamed_error_and_cut_answers(
    fake_provider: FakeServer,
) -> None:
    fake_provider.queue(
        reply(),
        reply(),
        error(429),
        cut(http_complete=True),
        raw(200, "{}"),
    )
    parts = urlsplit(fake_provider.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    whole = json.dumps({"model": GPT, "messages": HELLO})
    streamed = json.dumps({"model": GPT, "messages": HELLO, "stream": True})

    statuses = []
    for body in (whole, streamed, whole, streamed, whole):
        connection.request("POST", "/v1/chat/completions", body, headers)
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()

    assert statuses == [200, 200, 429, 200, 200]
    assert {request.connection for request in fake_provider.requests()} == {1}


def test_http_1_0_stream_is_sent_unchunked_and_closed(
    fake_provider: FakeServer,
) -> None:
    body = json.dumps({"model": GPT, "messages": HELLO, "stream": True}).encode()
    head = (
        "POST /v1/chat/completions HTTP/1.0\r\n"
        "Authorization: Bearer x\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    parts = urlsplit(fake_provider.url)

    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(head.encode() + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk

    head_bytes, _, events = answer.partition(b"\r\n\r\n")
    assert head_bytes.startswith(b"HTTP/1.1 200 ")
    assert b"chunked" not in head_bytes.lower()
    assert events.startswith(b"data: {")
    assert events.endswith(b"data: [DONE]\n\n")


def test_chunked_request_body_is_read_whole_and_the_connection_reused(
    fake_provider: FakeServer,
) -> None:
    payload = json.dumps({"model": GPT, "messages": HELLO}).encode()
    pieces = [payload[:10], payload[10:]]
    parts = urlsplit(fake_provider.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}

    statuses = []
    for _ in range(2):
        connection.request(
            "POST", "/v1/chat/completions", iter(pieces), headers, encode_chunked=True
        )
        response = connection.getresponse()
        response.read()
        statuses.append(response.status)
    connection.close()

    assert statuses == [200, 200]
    first, second = fake_provider.requests()
    assert first.headers["transfer-encoding"] == "chunked"
    assert first.body == payload
    assert first.json == {"model": GPT, "messages": HELLO}
    assert second.connection == first.connection


def test_fake_serves_hundreds_of_connections_at_once(fake_provider: FakeServer) -> None:
    parts = urlsplit(fake_provider.url)
    body = json.dumps({"model": GPT, "messages": HELLO})
    headers = {"Authorization": "Bearer x", "Content-Type": "application/json"}
    connections = [
        http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        for _ in range(300)
    ]

    for connection in connections:
        connection.request("POST", "/v1/chat/completions", body, headers)
    answers = []
    for connection in connections:
        response = connection.getresponse()
        answers.append((response.status, json.loads(response.read())["object"]))
        connection.close()

    assert answers == [(200, "chat.completion")] * 300
    assert len({request.connection for request in fake_provider.requests()}) == 300


def test_fake_serves_slow_requests_in_parallel(fake_provider: FakeServer) -> None:
    fake_provider.set_default(delay(0.5))
    client = openai.OpenAI(
        base_url=fake_provider.url + "/v1", api_key="x", max_retries=0
    )
    contents = []

    def ask() -> None:
        completion = client.chat.completions.create(model=GPT, messages=HELLO)
        contents.append(completion.choices[0].message.content)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert contents == ["echo: hello there"] * 20
    assert time.monotonic() - started < 5.0


def test_queued_behaviours_apply_in_order_then_the_default(
    fake_provider: FakeServer, openai_client: openai.OpenAI
) -> None:
    fake_provider.queue(reply("first"), reply("second"))

    answers = [
        openai_client.chat.completions.create(model=GPT, messages=HELLO)
        .choices[0]
        .message.content
        for _ in range(3)
    ]

    assert answers == ["first", "second", "echo: hello there"]
    assert fake_provider.pending() == 0


def test_behaviour_for_a_path_waits_for_a_request_to_that_path(
    fake_provider: FakeServer,
    openai_client: openai.OpenAI,
    anthropic_client: anthropic.Anthropic,
) -> None:
    fake_provider.queue(error(529, path="/v1/messages"))

    completion = openai_client.chat.completions.create(model=GPT, messages=HELLO)
    assert completion.choices[0].message.content == "echo: hello there"
    assert fake_provider.pending() == 1
    with pytest.raises(anthropic.OverloadedError):
        anthropic_client.messages.create(model=CLAUDE, max_tokens=64, messages=HELLO)
    assert fake_provider.pending() == 0


def test_unknown_route_answers_404_and_is_recorded(fake_provider: FakeServer) -> None:
    status, _, _ = post(fake_provider.url, "/v1/nowhere?x=1", {}, {})

    assert status == 404
    (request,) = fake_provider.requests()
    assert (request.path, request.query) == ("/v1/nowhere", "x=1")


@pytest.mark.parametrize(
    "behaviour",
    [
        reply(
            "text", tool_calls=[ToolCall("f", {"a": [1]}, id="c1")], usage=CACHED_USAGE
        ),
        error(429, "slow down", retry_after=1, retry_after_ms=900, limit_reset_s=2.5),
        error_in_body(status=529, after_events=3),
        reset(before_headers=True),
        cut(after_bytes=10, http_complete=True),
        stall(1.5, after_events=4),
        malformed_event(),
        malformed_json(path="/v1/messages"),
        wrong_content_type(),
        delay(0.25, headers={"x-extra": "1"}),
    ],
)
def test_behaviour_survives_a_json_round_trip(behaviour: Behaviour) -> None:
    encoded = json.loads(json.dumps(behaviour.to_json()))

    assert Behaviour.from_json(encoded) == behaviour


def test_standalone_process_is_scripted_through_the_control_api(
    remote_fake_provider: RemoteFake,
) -> None:
    client = openai.OpenAI(
        base_url=remote_fake_provider.url + "/v1", api_key="x", max_retries=0
    )
    remote_fake_provider.queue(error(429, "from afar", retry_after=1))
    remote_fake_provider.set_default(reply("default answer"))
    assert remote_fake_provider.pending() == 1

    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=GPT, messages=HELLO)
    completion = client.chat.completions.create(model=GPT, messages=HELLO)

    assert raised.value.body["message"] == "from afar"
    assert completion.choices[0].message.content == "default answer"
    recorded = remote_fake_provider.requests()
    assert [request.json for request in recorded] == [
        {"model": GPT, "messages": HELLO}
    ] * 2
    assert (
        recorded[0].body
        == json.dumps({"model": GPT, "messages": HELLO}, separators=(",", ":")).encode()
    )

    remote_fake_provider.reset()
    assert remote_fake_provider.requests() == []
    completion = client.chat.completions.create(model=GPT, messages=HELLO)
    assert completion.choices[0].message.content == "echo: hello there"


def test_control_api_rejects_an_unknown_behaviour_field(
    remote_fake_provider: RemoteFake,
) -> None:
    payload = {"behaviours": [{"colour": "red"}]}

    status, _, body = post(remote_fake_provider.url, "/__fake__/queue", payload, {})

    assert status == 400
    assert "colour" in json.loads(body)["error"]["message"]
