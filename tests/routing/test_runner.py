"""The routing runner against fake providers, in-process: retries, fallbacks,
circuit breaking, context windows, deadlines and per-request overrides."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import ADMIN, bearer, create_key
from tests.fakes import FakeServer
from tests.fakes.behaviours import (
    cut,
    delay,
    error,
    malformed_json,
    oversized,
    reply,
    reset,
)

pytest_plugins = ["tests.fakes.plugin"]

CHAT = {"model": "smart", "messages": [{"role": "user", "content": "hello there"}]}


def config(primary: str, backup: str, routing: str = "") -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{primary}/v1", api_key_env: FAKE_KEY}}
  backup: {{type: openai, base_url: "{backup}/v1", api_key_env: FAKE_KEY}}
routing:
  backoff_ms: {{base: 10, cap: 50}}
  circuit_breaker: {{failures: 3, window_s: 60, cooldown_s: 1}}
{routing}
models:
  smart:
    targets:
      - {{provider: primary, model: gpt-4o, context_window: 1000}}
      - {{provider: backup, model: gpt-4o-mini, context_window: 128000}}
"""


@pytest.fixture
def backup() -> Any:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def client(make_app: Any, fake_provider: FakeServer, backup: FakeServer) -> Any:
    app = make_app(config(fake_provider.url, backup.url), {"FAKE_KEY": "sk-fake"})
    return app.test_client()


def chat(client: Any, key: str, headers: dict[str, str] | None = None) -> Any:
    return client.post(
        "/v1/chat/completions", json=CHAT, headers={**bearer(key), **(headers or {})}
    )


def attempts(client: Any, request_id: str) -> list[dict[str, Any]]:
    return client.get(f"/admin/requests/{request_id}", headers=ADMIN).get_json()[
        "attempt_list"
    ]


def test_retryable_error_is_retried_on_the_same_target(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(error(500, "boom"), error(503, "busy"))

    response = chat(client, key)

    assert response.status_code == 200
    assert response.headers["x-gateway-attempts"] == "3"
    assert response.headers["x-gateway-target"] == "primary/gpt-4o"
    listed = attempts(client, response.headers["x-request-id"])
    assert [(a["kind"], a["outcome"], a["status"]) for a in listed] == [
        ("first", "retried", 500),
        ("retry", "retried", 503),
        ("retry", "success", 200),
    ]
    assert listed[1]["wait_ms"] <= 50


def test_retry_after_is_honoured(client: Any, fake_provider: FakeServer) -> None:
    key = create_key(client)
    fake_provider.queue(error(429, "slow down", retry_after_ms=300))

    started = time.monotonic()
    response = chat(client, key)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert attempts(client, response.headers["x-request-id"])[1][
        "wait_ms"
    ] == pytest.approx(300, abs=1)


def test_spent_retries_fall_back_to_the_next_target(
    client: Any, fake_provider: FakeServer, backup: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.set_default(error(502, "bad gateway"))

    response = chat(client, key)

    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "backup/gpt-4o-mini"
    kinds = [
        (a["target"], a["kind"], a["outcome"])
        for a in attempts(client, response.headers["x-request-id"])
    ]
    assert kinds == [
        ("primary/gpt-4o", "first", "retried"),
        ("primary/gpt-4o", "retry", "retried"),
        ("primary/gpt-4o", "retry", "fell_back"),
        ("backup/gpt-4o-mini", "fallback", "success"),
    ]


def test_a_call_no_target_answers_ends_on_a_failed_attempt_not_a_fallback(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.set_default(error(503, "busy"))

    response = chat(client, key, {"X-Gateway-No-Fallback": "true"})

    assert response.status_code == 502
    listed = attempts(client, response.headers["x-request-id"])
    assert [(a["kind"], a["outcome"]) for a in listed] == [
        ("first", "retried"),
        ("retry", "retried"),
        ("retry", "failed"),
    ]


def test_an_attempt_whose_body_broke_records_the_status_the_provider_answered(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(malformed_json())

    response = chat(client, key)

    assert response.status_code == 200
    first = attempts(client, response.headers["x-request-id"])[0]
    assert (first["status"], first["error_type"], first["outcome"]) == (
        200,
        "provider_invalid_response",
        "retried",
    )


def stream(client: Any, key: str) -> Any:
    return client.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(key)
    )


def test_a_stream_that_ends_before_its_first_chunk_is_retried(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(cut(after_events=0, http_complete=True))

    response = stream(client, key)

    assert response.get_data().endswith(b"data: [DONE]\n\n")
    listed = attempts(client, response.headers["x-request-id"])
    assert [(a["outcome"], a["error_type"]) for a in listed] == [
        ("retried", "provider_invalid_response"),
        ("success", None),
    ]


def test_a_stream_broken_after_its_first_chunk_records_a_failed_attempt(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(reset(after_events=3))

    response = stream(client, key)

    body = response.get_data()
    assert b"provider_stream_error" in body and b"[DONE]" not in body
    listed = attempts(client, response.headers["x-request-id"])
    assert [(a["outcome"], a["status"], a["error_type"]) for a in listed] == [
        ("failed", 200, "provider_connection_error")
    ]


def test_invalid_request_is_not_retried_nor_passed_on(
    client: Any, fake_provider: FakeServer, backup: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(
        error(400, "temperature is out of range", error_type="invalid_request_error")
    )

    response = chat(client, key)

    assert response.status_code == 400
    assert "temperature is out of range" in response.get_json()["error"]["message"]
    assert len(fake_provider.requests()) == 1 and backup.requests() == []


def test_context_window_error_falls_back_to_a_larger_target(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(error(400, "too long", code="context_length_exceeded"))

    response = chat(client, key)

    assert response.status_code == 200
    assert response.headers["x-gateway-target"] == "backup/gpt-4o-mini"


def test_failing_target_is_opened_for_every_call_then_probed_back(
    client: Any, fake_provider: FakeServer, backup: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.set_default(error(500, "down"))
    chat(client, key)  # 3 failed attempts: the breaker opens

    skipped = chat(client, key)
    assert skipped.headers["x-gateway-target"] == "backup/gpt-4o-mini"
    first = attempts(client, skipped.headers["x-request-id"])[0]
    assert (first["outcome"], first["error_type"]) == ("skipped", "cooling_down")
    calls_while_open = len(fake_provider.requests())

    fake_provider.set_default(reply("back again"))
    time.sleep(1.1)
    probed = chat(client, key)
    assert probed.headers["x-gateway-target"] == "primary/gpt-4o"
    assert len(fake_provider.requests()) == calls_while_open + 1
    report = client.get("/admin/routing", headers=ADMIN).get_json()
    primary = next(t for t in report["targets"] if t["target"] == "primary/gpt-4o")
    assert primary["cooldowns"] == {"opened": 1, "probe": 1, "closed": 1}
    assert primary["skipped"] == 1
    assert report["absorbed_share"] == 1.0


def test_rate_limited_target_cools_down_for_its_retry_after(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.queue(error(429, "quota window", retry_after=60))

    first = chat(client, key)
    second = chat(client, key)

    assert first.headers["x-gateway-target"] == "backup/gpt-4o-mini"
    assert second.headers["x-gateway-target"] == "backup/gpt-4o-mini"
    assert len(fake_provider.requests()) == 1


@pytest.mark.parametrize(
    ("headers", "status", "target"),
    [
        # On an error the header names the target tried last.
        ({"X-Gateway-No-Fallback": "true"}, 502, "primary/gpt-4o"),
        ({"X-Gateway-Max-Retries": "0"}, 200, "backup/gpt-4o-mini"),
        ({"X-Gateway-Target": "backup/gpt-4o-mini"}, 200, "backup/gpt-4o-mini"),
    ],
)
def test_per_request_routing_headers(
    client: Any,
    fake_provider: FakeServer,
    headers: dict,
    status: int,
    target: str,
) -> None:
    key = create_key(client)
    fake_provider.set_default(error(500, "down"))

    response = chat(client, key, headers)

    assert response.status_code == status
    assert response.headers["x-gateway-target"] == target
    if "X-Gateway-Max-Retries" in headers:
        assert len(fake_provider.requests()) == 1


@pytest.mark.parametrize(
    ("headers", "param"),
    [
        ({"X-Gateway-Max-Retries": "many"}, "X-Gateway-Max-Retries"),
        ({"X-Gateway-Timeout": "-1"}, "X-Gateway-Timeout"),
        ({"X-Gateway-No-Fallback": "perhaps"}, "X-Gateway-No-Fallback"),
        ({"X-Gateway-Target": "elsewhere/gpt-5"}, "X-Gateway-Target"),
    ],
)
def test_bad_routing_headers_are_400_naming_the_header(
    client: Any, headers: dict, param: str
) -> None:
    response = chat(client, create_key(client), headers)

    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param


def test_request_timeout_header_bounds_the_whole_call(
    client: Any, fake_provider: FakeServer, backup: FakeServer
) -> None:
    key = create_key(client)
    fake_provider.set_default(delay(2.0))
    backup.set_default(delay(2.0))

    started = time.monotonic()
    response = chat(client, key, {"X-Gateway-Timeout": "0.5"})

    assert response.status_code == 504
    assert time.monotonic() - started < 1.5


def test_streams_that_break_mid_way_open_the_breaker(
    client: Any, fake_provider: FakeServer
) -> None:
    # A stream is judged when it ends: one that always breaks after its first chunk
    # counts as a failure, even though it cannot be retried.
    key = create_key(client)
    fake_provider.set_default(cut(after_events=3))
    body = {**CHAT, "stream": True}
    for _ in range(3):
        broken = client.post("/v1/chat/completions", json=body, headers=bearer(key))
        assert b"provider_stream_error" in broken.get_data()

    skipped = client.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert skipped.headers["x-gateway-target"] == "backup/gpt-4o-mini"
    assert len(fake_provider.requests()) == 3


def test_final_rate_limit_passes_the_providers_retry_after_on(
    make_app: Any, fake_provider: FakeServer
) -> None:
    solo = f"""
providers:
  only: {{type: openai, base_url: "{fake_provider.url}/v1", api_key_env: FAKE_KEY}}
routing: {{retries: 0}}
models:
  smart: {{provider: only, model: gpt-4o}}
"""
    client = make_app(solo, {"FAKE_KEY": "sk-fake"}).test_client()
    fake_provider.queue(error(429, "slow down", retry_after=7))

    response = chat(client, create_key(client))

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.get_json()["error"]["type"] == "provider_rate_limited"


def test_a_stream_past_the_response_size_limit_is_cut_with_an_error(
    make_app: Any, fake_provider: FakeServer
) -> None:
    solo = f"""
providers:
  only: {{type: openai, base_url: "{fake_provider.url}/v1", api_key_env: FAKE_KEY}}
models:
  smart: {{provider: only, model: gpt-4o}}
"""
    app = make_app(solo, {"FAKE_KEY": "sk-fake", "GATEWAY_MAX_RESPONSE_BYTES": "20000"})
    client = app.test_client()
    fake_provider.queue(oversized(0.1))

    response = client.post(
        "/v1/chat/completions",
        json={**CHAT, "stream": True},
        headers=bearer(create_key(client)),
    )

    events = response.get_data(as_text=True).strip().split("\n\n")
    assert '"provider_stream_error"' in events[-1]
    assert "passed 20000 bytes" in events[-1]
    assert "[DONE]" not in events[-1]
