"""The gateway end to end: real gunicorn (as ``make run`` starts it), the official
openai SDK as the client, fake provider servers speaking each provider's wire format."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import time
from typing import Any

import openai
import pytest
import requests

from tests.fakes import FakeServer
from tests.fakes.behaviours import (
    ToolCall,
    delay,
    error,
    error_in_body,
    reply,
    stall,
)

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.fakes.plugin"]

PROVIDER_SECRET = "sk-provider-SECRET-do-not-leak-0123456789"

CONFIG = """
providers:
  oai:
    type: openai
    base_url: {url}/v1
    api_key_env: FAKE_PROVIDER_KEY
  claude:
    type: anthropic
    base_url: {url}/v1
    api_key_env: FAKE_PROVIDER_KEY
  groq:
    type: openai-compatible
    base_url: {url}/v1
    api_key_env: FAKE_PROVIDER_KEY
models:
  gpt:
    provider: oai
    model: gpt-4o-mini
  sonnet:
    provider: claude
    model: claude-sonnet-4-5
  llama:
    provider: groq
    model: llama-3.3-70b-versatile
  embed:
    provider: oai
    model: text-embedding-3-small
"""

MODELS = ["gpt", "sonnet", "llama", "demo"]


@pytest.fixture
def server(gateway_server: Any, fake_provider: FakeServer) -> Any:
    return gateway_server(
        CONFIG.format(url=fake_provider.url), {"FAKE_PROVIDER_KEY": PROVIDER_SECRET}
    )


@pytest.fixture
def sdk(server: Any) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.url + "/v1", api_key=server.create_key(), max_retries=0
    )


@pytest.mark.parametrize("model", MODELS)
def test_sdk_chat_non_streaming_reports_tokens_cost_and_headers(
    sdk: openai.OpenAI, server: Any, model: str
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": "hello there"}],
        extra_headers={"X-Workflow-Id": "wf-7", "X-Execution-Id": "ex-1"},
    )
    completion = raw.parse()

    assert completion.choices[0].message.content
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    headers = raw.headers
    assert headers["x-request-id"].startswith("req_")
    assert headers["x-gateway-model"]
    assert float(headers["x-gateway-cost-usd"]) > 0
    assert float(headers["x-gateway-overhead-ms"]) >= 0
    assert headers["x-gateway-prompt-tokens"] == str(completion.usage.prompt_tokens)
    rows = server.wait_for_rows(1, workflow_id="wf-7")
    assert rows[0]["id"] == headers["x-request-id"]
    assert rows[0]["execution_id"] == "ex-1"
    assert rows[0]["cost_usd"] == pytest.approx(float(headers["x-gateway-cost-usd"]))
    assert rows[0]["price_source"]


@pytest.mark.parametrize("model", MODELS)
def test_streamed_call_is_priced_the_same_as_unstreamed(
    sdk: openai.OpenAI, server: Any, model: str
) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "count the apples"},
    ]

    plain = sdk.chat.completions.create(model=model, messages=messages)
    chunks = list(
        sdk.chat.completions.create(
            model=model,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage_chunk = chunks[-1]
    assert text == plain.choices[0].message.content
    assert usage_chunk.usage.prompt_tokens == plain.usage.prompt_tokens
    assert usage_chunk.usage.completion_tokens == plain.usage.completion_tokens
    facts = usage_chunk.model_extra["x_gateway"]
    assert facts["cost_usd"] == pytest.approx(
        plain.model_extra["x_gateway"]["cost_usd"]
    )
    assert facts["tokens_estimated"] is False
    rows = server.wait_for_rows(2)
    assert (
        rows[0]["cost_usd"] == pytest.approx(rows[1]["cost_usd"])
        and rows[0]["cost_usd"] > 0
    )
    assert {r["stream"] for r in rows} == {0, 1}


@pytest.mark.parametrize("model", ["gpt", "sonnet"])
def test_tool_calls_round_trip_streamed_and_not(
    sdk: openai.OpenAI, fake_provider: FakeServer, model: str
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup_order",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        }
    ]
    call = ToolCall(id="call_1", name="lookup_order", arguments={"order_id": "A-17"})
    fake_provider.queue(
        reply(tool_calls=[call]), reply(tool_calls=[call]), reply("It ships today.")
    )

    plain = sdk.chat.completions.create(
        model=model,
        tools=tools,
        tool_choice="auto",
        messages=[{"role": "user", "content": "where is A-17?"}],
    )
    streamed = list(
        sdk.chat.completions.create(
            model=model,
            tools=tools,
            stream=True,
            messages=[{"role": "user", "content": "where is A-17?"}],
        )
    )
    answer = sdk.chat.completions.create(
        model=model,
        tools=tools,
        messages=[
            {"role": "user", "content": "where is A-17?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [plain.choices[0].message.tool_calls[0].model_dump()],
            },
            {
                "role": "tool",
                "tool_call_id": plain.choices[0].message.tool_calls[0].id,
                "content": "shipped",
            },
        ],
    )

    tool_call = plain.choices[0].message.tool_calls[0]
    assert tool_call.function.name == "lookup_order"
    assert json.loads(tool_call.function.arguments) == {"order_id": "A-17"}
    assert plain.choices[0].finish_reason == "tool_calls"
    deltas = [
        d for c in streamed if c.choices for d in (c.choices[0].delta.tool_calls or [])
    ]
    assert deltas[0].function.name == "lookup_order"
    assert json.loads("".join(d.function.arguments or "" for d in deltas)) == {
        "order_id": "A-17"
    }
    assert answer.choices[0].message.content == "It ships today."
    sent = fake_provider.requests()[-1].json
    assert "shipped" in str(sent)


@pytest.mark.parametrize("model", ["gpt", "sonnet", "demo"])
def test_json_schema_response_format(sdk: openai.OpenAI, model: str) -> None:
    schema = {
        "type": "object",
        "properties": {"category": {"type": "string", "enum": ["billing", "bug"]}},
        "required": ["category"],
        "additionalProperties": False,
    }

    completion = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "I was charged twice: billing"}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "triage", "schema": schema, "strict": True},
        },
    )

    assert json.loads(completion.choices[0].message.content)["category"] in (
        "billing",
        "bug",
    )


def test_images_and_multi_turn_reach_the_provider(
    sdk: openai.OpenAI, fake_provider: FakeServer
) -> None:
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": image}},
            ],
        },
        {"role": "assistant", "content": "a picture"},
        {"role": "user", "content": "describe it more"},
    ]

    sdk.chat.completions.create(model="sonnet", messages=messages)

    sent = fake_provider.requests()[-1].json
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    image_block = sent["messages"][0]["content"][1]
    assert (
        image_block["type"] == "image"
        and image_block["source"]["media_type"] == "image/png"
    )


def test_embeddings_and_models(sdk: openai.OpenAI) -> None:
    result = sdk.embeddings.create(model="embed", input=["one", "two"])
    models = [m.id for m in sdk.models.list()]

    assert len(result.data) == 2 and result.usage.prompt_tokens > 0
    assert {"gpt", "sonnet", "llama", "embed", "demo"} <= set(models)


def test_provider_errors_pass_the_providers_message_without_its_secrets(
    sdk: openai.OpenAI, server: Any, fake_provider: FakeServer
) -> None:
    fake_provider.queue(error(401, f"Incorrect API key provided: {PROVIDER_SECRET}"))
    fake_provider.queue(
        error(400, "max_tokens is too large", error_type="invalid_request_error")
    )

    with pytest.raises(openai.APIStatusError) as auth_failure:
        sdk.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError) as rejected:
        sdk.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "x"}]
        )

    assert auth_failure.value.status_code == 502
    assert "Incorrect API key provided" in auth_failure.value.message
    assert "max_tokens is too large" in rejected.value.message
    server.wait_for_rows(2)
    server.stop()
    assert PROVIDER_SECRET not in stored_text(server)
    assert PROVIDER_SECRET not in str(auth_failure.value.body)
    assert (
        fake_provider.requests()[0].headers["authorization"]
        == f"Bearer {PROVIDER_SECRET}"
    )


def stored_text(server: Any) -> str:
    """The gateway's log and every byte of its database files (WAL included)."""
    folder = os.path.dirname(server.database)
    everything = server.log_path.read_text()
    for name in os.listdir(folder):
        if name.startswith("gateway.db"):
            with open(os.path.join(folder, name), "rb") as file:
                everything += file.read().decode("latin-1")

    return everything


# Shaped like a Mistral key: no prefix for a pattern to recognise.
UNPREFIXED_SECRET = "Zq8pR2vN6tY4wK1mB9xC3dF7gH5jL0sA"


def test_an_echoed_provider_key_without_a_prefix_never_leaves_the_gateway(
    gateway_server: Any, fake_provider: FakeServer
) -> None:
    config = f"""
providers:
  mistral:
    type: openai-compatible
    base_url: {fake_provider.url}/v1
    api_key_env: MISTRAL_STYLE_KEY
models:
  mistral: {{provider: mistral, model: mistral-large-latest}}
"""
    server = gateway_server(config, {"MISTRAL_STYLE_KEY": UNPREFIXED_SECRET})
    sdk = openai.OpenAI(
        base_url=server.url + "/v1", api_key=server.create_key(), max_retries=0
    )
    fake_provider.queue(
        error(401, f"Incorrect API key provided: {UNPREFIXED_SECRET}."),
        error_in_body(f"the key {UNPREFIXED_SECRET} was revoked", after_events=2),
    )
    messages = [{"role": "user", "content": "hi"}]

    with pytest.raises(openai.APIStatusError) as refused:
        sdk.chat.completions.create(model="mistral", messages=messages)
    with pytest.raises(openai.APIError) as broken:
        list(
            sdk.chat.completions.create(model="mistral", messages=messages, stream=True)
        )
    rows = server.wait_for_rows(2)
    server.stop()

    sent = fake_provider.requests()[0].headers["authorization"]
    assert sent == f"Bearer {UNPREFIXED_SECRET}"
    assert refused.value.status_code == 502
    assert "Incorrect API key provided: [redacted]" in refused.value.message
    assert "the key [redacted] was revoked" in broken.value.message
    assert all("[redacted]" in row["error_message"] for row in rows)
    for seen in (refused.value, broken.value):
        assert UNPREFIXED_SECRET not in f"{seen.message} {seen.body}"
    assert UNPREFIXED_SECRET not in stored_text(server)


def test_sigterm_finishes_in_flight_calls_and_loses_no_row(
    server: Any, fake_provider: FakeServer
) -> None:
    fake_provider.set_default(delay(1.0))
    key = server.create_key()
    body = {"model": "gpt", "messages": [{"role": "user", "content": "slow"}]}

    def call() -> int:
        response = requests.post(
            server.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        return response.status_code

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        futures = [pool.submit(call) for _ in range(40)]
        time.sleep(0.5)
        os.killpg(server.process.pid, signal.SIGTERM)
        statuses = [f.result() for f in futures]
    assert server.process.wait(timeout=40) == 0

    assert statuses == [200] * 40
    database = sqlite3.connect(server.database)
    assert (
        database.execute("SELECT count(*) FROM requests WHERE status = 200").fetchone()[
            0
        ]
        == 40
    )
    assert database.execute("SELECT count(*) FROM attempts").fetchone()[0] == 40


def test_client_leaving_mid_stream_is_recorded(
    server: Any, fake_provider: FakeServer
) -> None:
    fake_provider.queue(stall(5.0, after_events=3))
    key = server.create_key()
    body = {
        "model": "gpt",
        "stream": True,
        "messages": [{"role": "user", "content": "a b c d e f"}],
    }

    with requests.post(
        server.url + "/v1/chat/completions",
        json=body,
        stream=True,
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    ) as response:
        first = next(response.iter_lines())
        assert first.startswith(b"data: ")
    # The gateway notices on its next write, after the stall; the row then records it.
    rows = server.wait_for_rows(1, timeout=15)

    assert rows[0]["status"] == 499
    assert rows[0]["error_type"] == "client_disconnected"
    assert rows[0]["tokens_estimated"] == 1
    assert rows[0]["prompt_tokens"] > 0


def test_client_whose_body_arrives_late_is_still_watched(
    server: Any, fake_provider: FakeServer
) -> None:
    # The body comes after the head: the watch must not take it for a pipelined
    # request and give up, or the hang-up below would go unnoticed for 10 s.
    fake_provider.queue(delay(10.0))
    key = server.create_key()
    body = json.dumps(
        {"model": "gpt", "messages": [{"role": "user", "content": "late body"}]}
    ).encode()
    host, port = server.url.removeprefix("http://").split(":")
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()

    started = time.monotonic()
    with socket.create_connection((host, int(port))) as client:
        client.sendall(head)
        time.sleep(0.3)
        client.sendall(body)
        time.sleep(0.5)
    rows = server.wait_for_rows(1, timeout=5)

    assert time.monotonic() - started < 5
    assert rows[0]["status"] == 499
    assert rows[0]["error_type"] == "client_disconnected"


def test_client_leaving_a_waiting_call_cancels_it_and_records_the_prompt(
    server: Any, fake_provider: FakeServer
) -> None:
    fake_provider.queue(delay(10.0))
    key = server.create_key()
    body = {"model": "gpt", "messages": [{"role": "user", "content": "a long wait"}]}

    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        requests.post(
            server.url + "/v1/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {key}"},
            timeout=0.5,
        )
    rows = server.wait_for_rows(1, timeout=5)

    # Noticed at once (not after the provider's 10 s); the prompt was likely billed.
    assert time.monotonic() - started < 5
    assert rows[0]["status"] == 499
    assert rows[0]["error_type"] == "client_disconnected"
    assert rows[0]["tokens_estimated"] == 1
    assert rows[0]["prompt_tokens"] > 0 and rows[0]["completion_tokens"] == 0
    assert rows[0]["cost_usd"] > 0
