"""POST /v1/responses: OpenAI's Responses API on top of the chat pipeline.

Tables pin the pure translation (request to chat body, completion to response, chat
chunks to stream events); the official openai SDK, against real gunicorn, is the
judge of the wire for the built-in demo model and for an Anthropic route served by
the fake provider. Every streamed event is also validated against the SDK's types.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import pydantic
import pytest
import requests
from openai.types.responses import ResponseStreamEvent

from gateway import responses_api
from gateway.errors import InvalidRequestError
from gateway.responses_api import ResponseStream, build_chat_body, build_response
from tests.conftest import GatewayServer, bearer
from tests.fakes import FakeServer, cut, error, error_in_body, stall

pytest_plugins = ["tests.fakes.plugin"]

e2e = pytest.mark.e2e

CONFIG = """
providers:
  claude:
    type: anthropic
    base_url: {url}/v1
    api_key_env: FAKE_ANTHROPIC_KEY
models:
  sonnet:
    provider: claude
    model: claude-sonnet-4-5
"""

MODELS = ["demo", "sonnet"]

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
    "strict": True,
}

EVENTS = pydantic.TypeAdapter(ResponseStreamEvent)


class Weather(pydantic.BaseModel):
    city: str
    days: int


# The pure translation: requests.


def chat_body(**request: Any) -> dict[str, Any]:
    return build_chat_body({"model": "m", **request})


@pytest.mark.parametrize(
    ("request_fields", "expected"),
    [
        pytest.param(
            {"input": "hi"},
            {"messages": [{"role": "user", "content": "hi"}]},
            id="string-input",
        ),
        pytest.param(
            {"input": "hi", "instructions": "be brief"},
            {
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                ]
            },
            id="instructions-first",
        ),
        pytest.param(
            {
                "input": [
                    {"role": "developer", "content": "rules"},
                    {"type": "message", "role": "user", "content": "q1"},
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [
                            {"type": "output_text", "text": "a1", "annotations": []}
                        ],
                    },
                ]
            },
            {
                "messages": [
                    {"role": "system", "content": "rules"},
                    {"role": "user", "content": "q1"},
                    {"role": "assistant", "content": "a1"},
                ]
            },
            id="items-roles-and-single-text-part",
        ),
        pytest.param(
            {
                "input": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "input_text", "text": "what is this?"},
                            {
                                "type": "input_image",
                                "image_url": "data:image/png;base64,iVBORw0KGgo=",
                                "detail": "low",
                            },
                        ],
                    }
                ]
            },
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {
                                "type": "image_url",
                                "image_url": {
                                    "url": "data:image/png;base64,iVBORw0KGgo=",
                                    "detail": "low",
                                },
                            },
                        ],
                    }
                ]
            },
            id="text-and-image-parts",
        ),
        pytest.param(
            {
                "input": [
                    {"role": "user", "content": "weather?"},
                    {"role": "assistant", "content": "Let me look."},
                    {
                        "type": "function_call",
                        "id": "fc_1",
                        "call_id": "call_1",
                        "name": "get_weather",
                        "arguments": '{"city":"Oslo"}',
                    },
                    {
                        "type": "function_call",
                        "call_id": "call_2",
                        "name": "get_weather",
                        "arguments": '{"city":"Rome"}',
                    },
                    {
                        "type": "function_call_output",
                        "call_id": "call_1",
                        "output": "4C",
                    },
                    {
                        "type": "function_call_output",
                        "call_id": "call_2",
                        "output": [{"type": "input_text", "text": "21C"}],
                    },
                    {"type": "reasoning", "id": "rs_1", "summary": []},
                    {
                        "type": "function_call",
                        "call_id": "call_3",
                        "name": "get_weather",
                        "arguments": "{}",
                    },
                ]
            },
            {
                "messages": [
                    {"role": "user", "content": "weather?"},
                    {
                        "role": "assistant",
                        "content": "Let me look.",
                        "tool_calls": [
                            {
                                "id": "call_1",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city":"Oslo"}',
                                },
                            },
                            {
                                "id": "call_2",
                                "type": "function",
                                "function": {
                                    "name": "get_weather",
                                    "arguments": '{"city":"Rome"}',
                                },
                            },
                        ],
                    },
                    {"role": "tool", "tool_call_id": "call_1", "content": "4C"},
                    {
                        "role": "tool",
                        "tool_call_id": "call_2",
                        "content": [{"type": "text", "text": "21C"}],
                    },
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "call_3",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": "{}"},
                            }
                        ],
                    },
                ]
            },
            id="function-calls-merge-outputs-become-tool-messages-reasoning-dropped",
        ),
        pytest.param(
            {
                "input": "hi",
                "tools": [WEATHER_TOOL],
                "tool_choice": {"type": "function", "name": "get_weather"},
                "parallel_tool_calls": False,
            },
            {
                "messages": [{"role": "user", "content": "hi"}],
                "tools": [
                    {
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "description": "The weather in a city.",
                            "parameters": WEATHER_TOOL["parameters"],
                            "strict": True,
                        },
                    }
                ],
                "tool_choice": {
                    "type": "function",
                    "function": {"name": "get_weather"},
                },
                "parallel_tool_calls": False,
            },
            id="flat-function-tools-become-nested",
        ),
        pytest.param(
            {
                "input": "hi",
                "tools": [],
                "tool_choice": "auto",
                "parallel_tool_calls": True,
            },
            {"messages": [{"role": "user", "content": "hi"}]},
            id="tool-settings-dropped-without-tools",
        ),
        pytest.param(
            {
                "input": "hi",
                "max_output_tokens": 50,
                "temperature": 0.2,
                "top_p": 0.9,
                "user": "u-1",
                "metadata": {"k": "v"},
                "store": True,
                "include": ["reasoning.encrypted_content"],
                "reasoning": {"effort": "low", "summary": "auto"},
                "text": {"format": {"type": "text"}, "verbosity": "low"},
            },
            {
                "messages": [{"role": "user", "content": "hi"}],
                "max_completion_tokens": 50,
                "temperature": 0.2,
                "top_p": 0.9,
                "user": "u-1",
                "reasoning_effort": "low",
                "verbosity": "low",
            },
            id="settings-store-and-metadata-not-forwarded",
        ),
        pytest.param(
            {"input": "hi", "text": {"format": {"type": "json_object"}}},
            {
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {"type": "json_object"},
            },
            id="json-object",
        ),
        pytest.param(
            {
                "input": "hi",
                "text": {
                    "format": {
                        "type": "json_schema",
                        "name": "weather",
                        "schema": {"type": "object"},
                        "strict": True,
                    }
                },
            },
            {
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "weather",
                        "schema": {"type": "object"},
                        "strict": True,
                    },
                },
            },
            id="json-schema",
        ),
        pytest.param(
            {"input": "hi", "stream": True},
            {
                "messages": [{"role": "user", "content": "hi"}],
                "stream": True,
                "stream_options": {"include_usage": True},
            },
            id="stream-asks-for-usage",
        ),
    ],
)
def test_build_chat_body_translates_each_feature(
    request_fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert chat_body(**request_fields) == {"model": "m", **expected}


IMAGE_BY_FILE = {"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}
FILE_BY_ID = {"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}
IMAGE_OUTPUT = {
    "type": "function_call_output",
    "call_id": "c",
    "output": [{"type": "input_image", "image_url": "https://x/y.png"}],
}


@pytest.mark.parametrize(
    ("request_fields", "param", "code"),
    [
        (
            {"previous_response_id": "resp_1"},
            "previous_response_id",
            "unsupported_parameter",
        ),
        ({"conversation": "conv_1"}, "conversation", "unsupported_parameter"),
        ({"background": True}, "background", "unsupported_parameter"),
        ({"prompt": {"id": "pmpt_1"}}, "prompt", "unsupported_parameter"),
        ({"truncation": "auto"}, "truncation", "unsupported_parameter"),
        ({"max_tool_calls": 2}, "max_tool_calls", "unsupported_parameter"),
        ({"top_logprobs": 3}, "top_logprobs", "unsupported_parameter"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type", "unsupported_parameter"),
        (
            {"tools": [WEATHER_TOOL], "tool_choice": {"type": "file_search"}},
            "tool_choice",
            None,
        ),
        (
            {"input": [{"type": "item_reference", "id": "msg_1"}]},
            "input[0].type",
            "unsupported_parameter",
        ),
        (
            {"input": [IMAGE_BY_FILE]},
            "input[0].content[0].image_url",
            "unsupported_parameter",
        ),
        (
            {"input": [FILE_BY_ID]},
            "input[0].content[0].file_data",
            "unsupported_parameter",
        ),
        ({"input": [IMAGE_OUTPUT]}, "input[0].output[0].type", "unsupported_parameter"),
        ({"input": [{"role": "wizard", "content": "x"}]}, "input[0].role", None),
        (
            {"input": [{"role": "assistant", "content": [{"type": "input_image"}]}]},
            "input[0].content[0].type",
            "unsupported_parameter",
        ),
        ({"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id", None),
        ({"input": [{"type": "reasoning", "summary": []}]}, "input", None),
    ],
)
def test_build_chat_body_refuses_what_it_cannot_honour_naming_the_param(
    request_fields: dict[str, Any], param: str, code: str | None
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        chat_body(**{"input": "hi", **request_fields})

    assert caught.value.param == param
    assert caught.value.code == code
    assert caught.value.status == 400


# The pure translation: answers.

FACTS = {
    "request_id": "req_1",
    "prompt_tokens": 11,
    "completion_tokens": 7,
    "cached_tokens": 3,
    "reasoning_tokens": 2,
    "cost_usd": 0.001,
}


def completion(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-sonnet-4-5",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "x_gateway": FACTS,
    }


CALL = {
    "id": "call_9",
    "type": "function",
    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
}


@pytest.mark.parametrize(
    ("message", "finish_reason", "status", "reason", "output"),
    [
        (
            {"role": "assistant", "content": "hello"},
            "stop",
            "completed",
            None,
            [("message", "completed", [("output_text", "hello")])],
        ),
        (
            {"role": "assistant", "content": "hel"},
            "length",
            "incomplete",
            "max_output_tokens",
            [("message", "incomplete", [("output_text", "hel")])],
        ),
        (
            {"role": "assistant", "content": None, "refusal": "no"},
            "content_filter",
            "incomplete",
            "content_filter",
            [("message", "incomplete", [("refusal", "no")])],
        ),
        (
            {"role": "assistant", "content": "Looking.", "tool_calls": [CALL]},
            "tool_calls",
            "completed",
            None,
            [
                ("message", "completed", [("output_text", "Looking.")]),
                ("function_call", "completed", None),
            ],
        ),
    ],
)
def test_build_response_maps_status_output_and_usage(
    message: dict[str, Any],
    finish_reason: str,
    status: str,
    reason: str | None,
    output: list[tuple[Any, ...]],
) -> None:
    request = {"model": "sonnet", "input": "hi", "metadata": {"k": "v"}}

    response = build_response(completion(message, finish_reason), request, "resp_1")

    assert response["id"] == "resp_1"
    assert response["object"] == "response"
    assert response["created_at"] == 1700000000
    assert response["model"] == "claude-sonnet-4-5"
    assert response["status"] == status
    assert response["incomplete_details"] == ({"reason": reason} if reason else None)
    assert response["metadata"] == {"k": "v"}
    assert "output_text" not in response
    shapes = [
        (
            item["type"],
            item["status"],
            [(p["type"], p.get("text", p.get("refusal"))) for p in item["content"]]
            if item["type"] == "message"
            else None,
        )
        for item in response["output"]
    ]
    assert shapes == output
    calls = [item for item in response["output"] if item["type"] == "function_call"]
    for item in calls:
        assert (item["call_id"], item["name"]) == ("call_9", "get_weather")
        assert item["arguments"] == '{"city":"Oslo"}'
    assert response["usage"] == {
        "input_tokens": 11,
        "input_tokens_details": {"cached_tokens": 3, "cache_write_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 18,
    }
    assert response["x_gateway"] == FACTS
    openai.types.responses.Response.model_validate(response)


def test_response_id_is_the_request_id_under_the_responses_prefix() -> None:
    assert responses_api.response_id_for("req_abc123") == "resp_abc123"


# The pure translation: streams.


def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "demo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def tool_delta(index: int, **function: str) -> dict[str, Any]:
    head = {"index": index, "function": function}
    if "name" in function:
        head.update(id=f"call_{index}", type="function")
    return {"tool_calls": [head]}


USAGE_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "created": 1700000000,
    "model": "demo",
    "choices": [],
    "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    "x_gateway": FACTS,
}

TEXT_THEN_TOOLS = [
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me "}),
    chunk({"content": "check."}),
    chunk(tool_delta(0, name="get_weather", arguments="")),
    chunk(tool_delta(0, arguments='{"city":')),
    chunk(tool_delta(0, arguments='"Oslo"}')),
    chunk(tool_delta(1, name="get_time", arguments="{}")),
    chunk({}, "tool_calls"),
    USAGE_CHUNK,
    "[DONE]",
]


def run_stream(payloads: list[Any]) -> list[dict[str, Any]]:
    state = ResponseStream({"model": "demo", "input": "hi"}, "resp_1")
    events = [event for payload in payloads for event in state.handle(payload)]
    for event in events:
        EVENTS.validate_python(event)
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    return events


def test_stream_turns_text_and_tool_call_chunks_into_item_events() -> None:
    events = run_stream(TEXT_THEN_TOOLS)

    assert [event["type"] for event in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[6]["text"] == "Let me check."
    assert events[9]["item"] == {
        "id": "fc_1_1",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_0",
        "name": "get_weather",
        "arguments": "",
    }
    assert events[12]["arguments"] == '{"city":"Oslo"}'
    assert [e["output_index"] for e in events if "output_index" in e] == [
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        1,
        1,
        1,
        1,
        2,
        2,
        2,
        2,
    ]
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [item["type"] for item in final["output"]] == [
        "message",
        "function_call",
        "function_call",
    ]
    assert final["output"][0]["content"][0]["text"] == "Let me check."
    assert final["usage"]["input_tokens"] == 11
    assert final["usage"]["total_tokens"] == 18
    assert final["x_gateway"] == FACTS


def test_stream_cut_by_the_token_limit_ends_incomplete() -> None:
    events = run_stream(
        [chunk({"content": "Once upon"}), chunk({}, "length"), USAGE_CHUNK, "[DONE]"]
    )

    assert events[-1]["type"] == "response.incomplete"
    final = events[-1]["response"]
    assert final["status"] == "incomplete"
    assert final["incomplete_details"] == {"reason": "max_output_tokens"}
    assert final["output"][0]["status"] == "incomplete"


def test_stream_error_event_ends_failed_never_completed() -> None:
    gateway_error = {
        "error": {
            "message": "the stream failed after it started: cut",
            "type": "provider_stream_error",
            "param": None,
            "code": None,
            "request_id": "req_1",
            "provider": "claude",
        }
    }

    events = run_stream([chunk({"content": "Once"}), gateway_error, "[DONE]"])

    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds
    assert "response.output_item.done" not in kinds
    assert events[-2]["code"] == "server_error"
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["type"] == "provider_stream_error"
    assert failed["error"]["request_id"] == "req_1"
    assert failed["output"][0]["status"] == "incomplete"


def sse(payload: Any) -> bytes:
    data = payload.encode() if isinstance(payload, str) else orjson.dumps(payload)
    return b"data: " + data + b"\n\n"


def test_relay_ends_failed_when_the_chat_stream_stops_without_done() -> None:
    state = ResponseStream({"model": "demo", "input": "hi"}, "resp_1")

    body = b"".join(
        responses_api.relay_stream(iter([sse(chunk({"content": "a"}))]), state)
    )

    assert body.rstrip().split(b"\n")[-2] == b"event: response.failed"
    assert b"response.completed" not in body


def test_relay_starts_the_chat_stream_first_and_closes_it_when_the_client_leaves() -> (
    None
):
    steps: list[str] = []

    def chat_stream() -> Iterator[bytes]:
        steps.append("started")
        try:
            yield sse(chunk({"content": "a"}))
            yield sse(chunk({"content": "b"}))
            yield sse(USAGE_CHUNK) + sse("[DONE]")
        finally:
            steps.append("closed")

    state = ResponseStream({"model": "demo", "input": "hi"}, "resp_1")
    # Held here, so only an explicit close (not its collection) can finish it.
    chat = chat_stream()
    relay = responses_api.relay_stream(chat, state)

    first = next(relay)
    assert steps == ["started"]
    assert first.startswith(b"event: response.created\n")
    relay.close()
    assert steps == ["started", "closed"]


# The endpoint in-process: validation.


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": "hi"}, 400, "model"),
        ({"model": "demo"}, 400, "input"),
        ({"model": "demo", "input": []}, 400, "input"),
        (
            {"model": "demo", "input": "hi", "max_output_tokens": 0},
            400,
            "max_output_tokens",
        ),
        (
            {
                "model": "demo",
                "input": "hi",
                "text": {"format": {"type": "json_schema"}},
            },
            400,
            "text.format.name",
        ),
        (
            {"model": "demo", "input": "hi", "previous_response_id": "r"},
            400,
            "previous_response_id",
        ),
        (
            {"model": "demo", "input": "hi", "tools": [{"type": "web_search"}]},
            400,
            "tools[0].type",
        ),
        ({"model": "no-such-model", "input": "hi"}, 404, "model"),
    ],
)
def test_invalid_requests_answer_the_one_error_shape_naming_the_param(
    client: Any, key: str, body: dict[str, Any], status: int, param: str
) -> None:
    response = client.post("/v1/responses", json=body, headers=bearer(key))

    assert response.status_code == status, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["param"] == param
    assert error["request_id"] == response.headers["x-request-id"]


def test_responses_need_a_key(client: Any) -> None:
    response = client.post("/v1/responses", json={"model": "demo", "input": "hi"})

    assert response.status_code == 401


# End to end: the official SDK against real gunicorn.


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, anthropic_fake: FakeServer
) -> Iterator[GatewayServer]:
    workdir = Path(tmp_path_factory.mktemp("responses-gateway"))
    config = CONFIG.format(url=anthropic_fake.url)
    gateway = GatewayServer(workdir, config, {"FAKE_ANTHROPIC_KEY": "sk-ant-fake"})
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.fixture
def fake(anthropic_fake: FakeServer) -> FakeServer:
    anthropic_fake.reset()
    return anthropic_fake


@pytest.fixture
def workflow() -> str:
    """A workflow id of this test's own, to find its rows in the shared log."""
    return "wf-" + uuid.uuid4().hex[:12]


@pytest.fixture
def sdk(server: GatewayServer, workflow: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.url + "/v1",
        api_key=server.create_key(),
        max_retries=0,
        default_headers={"X-Workflow-Id": workflow},
    )


def raw_events(
    sdk: openai.OpenAI, **request: Any
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The events of a streamed call, as sent, each validated by the SDK's types."""
    with sdk.responses.with_streaming_response.create(stream=True, **request) as raw:
        lines = [line for line in raw.iter_lines() if line.startswith("data: ")]
        headers = dict(raw.headers)
    events = [json.loads(line.removeprefix("data: ")) for line in lines]
    for event in events:
        EVENTS.validate_python(event)
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    return events, headers


@e2e
@pytest.mark.parametrize("model", MODELS)
def test_sdk_response_answers_with_usage_headers_and_a_request_row(
    sdk: openai.OpenAI, server: GatewayServer, workflow: str, model: str
) -> None:
    raw = sdk.responses.with_raw_response.create(
        model=model, input="hello there", instructions="Answer briefly."
    )
    response = raw.parse()

    assert response.object == "response"
    assert response.status == "completed"
    assert response.output_text
    assert response.output[0].type == "message"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    facts = response.model_extra["x_gateway"]
    assert response.id == "resp_" + raw.headers["x-request-id"].removeprefix("req_")
    assert raw.headers["x-gateway-prompt-tokens"] == str(response.usage.input_tokens)
    assert float(raw.headers["x-gateway-cost-usd"]) == pytest.approx(facts["cost_usd"])
    (row,) = server.wait_for_rows(1, workflow_id=workflow)
    assert row["id"] == raw.headers["x-request-id"]
    assert (row["endpoint"], row["status"], row["stream"]) == ("responses", 200, 0)
    assert row["prompt_tokens"] == response.usage.input_tokens
    assert row["completion_tokens"] == response.usage.output_tokens
    assert row["cost_usd"] == pytest.approx(facts["cost_usd"]) and row["cost_usd"] > 0


@e2e
@pytest.mark.parametrize("model", MODELS)
def test_sdk_stream_gives_the_same_answer_and_usage_as_the_whole_response(
    sdk: openai.OpenAI, server: GatewayServer, workflow: str, model: str
) -> None:
    input_items = [
        {"role": "user", "content": [{"type": "input_text", "text": "count apples"}]}
    ]
    whole = sdk.responses.create(model=model, input=input_items)
    with sdk.responses.stream(model=model, input=input_items) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    events, headers = raw_events(sdk, model=model, input=input_items)

    assert "".join(deltas) == final.output_text == whole.output_text
    assert final.usage.input_tokens == whole.usage.input_tokens
    assert final.usage.output_tokens == whole.usage.output_tokens
    assert final.model_extra["x_gateway"]["cost_usd"] == pytest.approx(
        whole.model_extra["x_gateway"]["cost_usd"]
    )
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.completed"
    assert headers["content-type"].startswith("text/event-stream")
    assert headers["x-request-id"].removeprefix("req_") == events[0]["response"][
        "id"
    ].removeprefix("resp_")
    rows = server.wait_for_rows(3, workflow_id=workflow)
    assert sorted(row["stream"] for row in rows) == [0, 1, 1]
    assert {row["endpoint"] for row in rows} == {"responses"}
    assert {row["status"] for row in rows} == {200}
    streamed = [row for row in rows if row["stream"]]
    assert all(
        row["completion_tokens"] == whole.usage.output_tokens for row in streamed
    )
    assert all(row["cost_usd"] > 0 for row in rows)


@e2e
@pytest.mark.parametrize("model", MODELS)
def test_sdk_function_tool_round_trip_streamed_and_not(
    sdk: openai.OpenAI, fake: FakeServer, model: str
) -> None:
    question = [{"role": "user", "content": "What is the weather in Oslo?"}]

    first = sdk.responses.create(
        model=model, input=question, tools=[WEATHER_TOOL], tool_choice="required"
    )
    with sdk.responses.stream(
        model=model, input=question, tools=[WEATHER_TOOL], tool_choice="required"
    ) as stream:
        argument_deltas = [
            e.delta
            for e in stream
            if e.type == "response.function_call_arguments.delta"
        ]
        streamed = stream.get_final_response()
    (call,) = [item for item in first.output if item.type == "function_call"]
    answer = sdk.responses.create(
        model=model,
        tools=[WEATHER_TOOL],
        input=[
            *question,
            call.model_dump(exclude_none=True),
            {
                "type": "function_call_output",
                "call_id": call.call_id,
                "output": "sunny",
            },
        ],
    )

    assert call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city"}
    (streamed_call,) = [i for i in streamed.output if i.type == "function_call"]
    assert "".join(argument_deltas) == streamed_call.arguments
    assert json.loads(streamed_call.arguments) == json.loads(call.arguments)
    assert answer.status == "completed"
    assert "sunny" in answer.output_text
    if model == "sonnet":
        turns = fake.requests()[-1].json["messages"]
        assert turns[-1]["content"][0] == {
            "type": "tool_result",
            "tool_use_id": call.call_id,
            "content": "sunny",
        }


@e2e
@pytest.mark.parametrize("model", MODELS)
def test_sdk_parse_with_a_json_schema_text_format(
    sdk: openai.OpenAI, model: str
) -> None:
    parsed = sdk.responses.parse(
        model=model, input="The weather in Oslo for 3 days", text_format=Weather
    )
    schema_format = {
        "type": "json_schema",
        "name": "weather",
        "schema": Weather.model_json_schema(),
    }
    events, _ = raw_events(
        sdk, model=model, input="Oslo for 3 days", text={"format": schema_format}
    )

    assert isinstance(parsed.output_parsed, Weather)
    done = [e for e in events if e["type"] == "response.output_text.done"]
    Weather.model_validate_json(done[0]["text"])


@e2e
@pytest.mark.parametrize("model", MODELS)
def test_max_output_tokens_ends_incomplete_streamed_and_not(
    sdk: openai.OpenAI, model: str
) -> None:
    prompt = "one two three four five six seven eight nine ten eleven twelve"

    response = sdk.responses.create(model=model, input=prompt, max_output_tokens=3)
    events, _ = raw_events(sdk, model=model, input=prompt, max_output_tokens=3)

    assert response.status == "incomplete"
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.output_text
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {
        "reason": "max_output_tokens"
    }
    assert events[-1]["response"]["usage"]["output_tokens"] > 0


@e2e
@pytest.mark.parametrize(
    "fault",
    [error_in_body(after_events=4), cut(after_events=4)],
    ids=["error-event", "cut"],
)
def test_stream_failing_midway_ends_in_response_failed_and_is_recorded(
    sdk: openai.OpenAI,
    server: GatewayServer,
    fake: FakeServer,
    workflow: str,
    fault: Any,
) -> None:
    fake.queue(fault)

    events, _ = raw_events(sdk, model="sonnet", input="a b c d e f g h")

    kinds = [event["type"] for event in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds
    failed = events[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "server_error"
    (row,) = server.wait_for_rows(1, workflow_id=workflow)
    assert row["id"] == failed["error"]["request_id"]
    assert (row["endpoint"], row["stream"], row["status"]) == ("responses", 1, 502)
    assert row["error_type"] == "provider_stream_error"
    assert row["prompt_tokens"] > 0


@e2e
def test_provider_rejection_before_the_stream_starts_is_an_http_error(
    sdk: openai.OpenAI, fake: FakeServer
) -> None:
    fake.queue(error(400, "max_tokens is too large"))

    with pytest.raises(openai.BadRequestError) as caught:
        sdk.responses.create(model="sonnet", input="hi", stream=True)

    assert "max_tokens is too large" in caught.value.message


@e2e
def test_client_leaving_mid_stream_is_recorded_once(
    server: GatewayServer, fake: FakeServer, workflow: str
) -> None:
    fake.queue(stall(10.0, after_events=5))
    headers = {**bearer(server.create_key()), "X-Workflow-Id": workflow}
    body = {"model": "sonnet", "input": "a b c d e f", "stream": True}

    with requests.post(
        server.url + "/v1/responses",
        json=body,
        headers=headers,
        stream=True,
        timeout=30,
    ) as response:
        assert next(response.iter_lines()) == b"event: response.created"
    rows = server.wait_for_rows(1, timeout=15, workflow_id=workflow)
    time.sleep(1.0)

    assert server.wait_for_rows(1, workflow_id=workflow) == rows
    (row,) = rows
    assert (row["endpoint"], row["stream"], row["status"]) == ("responses", 1, 499)
    assert row["error_type"] == "client_disconnected"
    assert row["prompt_tokens"] > 0


@e2e
def test_n8n_shaped_request_is_served(server: GatewayServer, workflow: str) -> None:
    """What n8n's OpenAI Chat Model sends by default (Responses API on)."""
    headers = {**bearer(server.create_key()), "X-Workflow-Id": workflow}
    body = {
        "model": "demo",
        "stream": True,
        "store": False,
        "instructions": "You are a helpful assistant",
        "input": [
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Summarise: the sky is blue"}
                ],
            }
        ],
        "text": {"format": {"type": "text"}},
        "include": [],
    }

    response = requests.post(
        server.url + "/v1/responses", json=body, headers=headers, timeout=30
    )

    assert response.status_code == 200
    blocks = [b for b in response.text.split("\n\n") if b]
    assert blocks[-1].startswith("event: response.completed\ndata: ")
    final = json.loads(blocks[-1].split("data: ", 1)[1])["response"]
    assert final["output"][0]["content"][0]["text"].startswith("Demo answer:")
    assert final["usage"]["total_tokens"] > 0
