"""The headers every answer carries: the request id on all of them; on an error after
an attempt, the target tried and the attempts made; once admission ran, the key's
rate-limit headers, errors included."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import ADMIN, bearer, create_key
from tests.fakes import FakeServer, error

pytest_plugins = ["tests.fakes.plugin"]

CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}
RATE_LIMIT_NAMES = [
    f"x-ratelimit-{what}-{kind}"
    for kind in ("requests", "tokens")
    for what in ("limit", "remaining", "reset")
]
# OpenAI's duration format: 250ms, 12s, 1m5s.
RESET = re.compile(r"^(\d+ms|\d+s|\d+m\d+s)$")

CONFIG = """
providers:
  first:
    type: openai
    base_url: {url}/v1
    api_key_env: FAKE_KEY
  second:
    type: openai
    base_url: {url}/v1
    api_key_env: FAKE_KEY
routing:
  retries: 2
  backoff_ms: {{base: 1, cap: 2}}
models:
  gpt:
    provider: first
    model: gpt-4o-mini
  layered:
    targets:
      - {{provider: first, model: gpt-4o}}
      - {{provider: second, model: gpt-4o-mini}}
    routing:
      retries: 0
      circuit_breaker: {{failures: 1, window_s: 60, cooldown_s: 60}}
"""


@pytest.fixture
def faked(make_app: Any, fake_provider: FakeServer) -> Any:
    app = make_app(CONFIG.format(url=fake_provider.url), {"FAKE_KEY": "fake-key-1"})
    return app.test_client()


@pytest.mark.parametrize(
    ("method", "path", "auth", "status"),
    [
        ("get", "/healthz", None, 200),
        ("get", "/v1/models", "key", 200),
        ("get", "/v1/spend", "key", 200),
        ("post", "/v1/chat/completions", "key", 200),
        ("get", "/v1/models", None, 401),
        ("get", "/admin/keys", "admin", 200),
        ("get", "/admin/requests", "admin", 200),
        ("get", "/admin/spend", "admin", 200),
        ("get", "/admin/routing", "admin", 200),
        ("get", "/admin/keys", None, 401),
        ("get", "/no/such/path", None, 404),
        ("delete", "/healthz", None, 405),
    ],
)
def test_every_response_carries_its_request_id(
    client: Any, key: str, method: str, path: str, auth: str | None, status: int
) -> None:
    headers = {"key": bearer(key), "admin": ADMIN, None: {}}[auth]
    kwargs = {"json": CHAT} if method == "post" else {}

    response = getattr(client, method)(path, headers=headers, **kwargs)

    assert response.status_code == status
    assert response.headers["x-request-id"].startswith("req_")


def test_a_stream_carries_its_request_id(client: Any, key: str) -> None:
    response = client.post(
        "/v1/chat/completions", json={**CHAT, "stream": True}, headers=bearer(key)
    )

    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert response.headers["x-gateway-attempts"] == "1"


def test_an_error_after_attempts_names_the_target_and_counts_them(
    faked: Any, fake_provider: FakeServer
) -> None:
    key = create_key(faked)
    fake_provider.queue(error(503), error(503), error(503))
    fake_provider.queue(error(400, "max_tokens is too large"))
    body = {**CHAT, "model": "gpt"}

    unavailable = faked.post("/v1/chat/completions", json=body, headers=bearer(key))
    rejected = faked.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert unavailable.status_code == 502
    assert rejected.status_code == 400
    for response, attempts in ((unavailable, "3"), (rejected, "1")):
        headers = response.headers
        assert headers["x-gateway-provider"] == "first"
        assert headers["x-gateway-model"] == "gpt-4o-mini"
        assert headers["x-gateway-target"] == "first/gpt-4o-mini"
        assert headers["x-gateway-attempts"] == attempts
        assert headers["x-request-id"] == response.get_json()["error"]["request_id"]


def test_an_error_before_any_attempt_has_no_target_headers(
    faked: Any, key: str
) -> None:
    key = create_key(faked)
    body = {**CHAT, "model": "no-such-model"}

    response = faked.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert response.status_code == 404
    assert response.headers["x-request-id"].startswith("req_")
    assert "x-gateway-target" not in response.headers
    assert "x-gateway-attempts" not in response.headers


def test_attempts_count_only_targets_actually_tried(
    faked: Any, fake_provider: FakeServer
) -> None:
    key = create_key(faked)
    body = {**CHAT, "model": "layered"}
    fake_provider.queue(error(503))

    fell_back = faked.post("/v1/chat/completions", json=body, headers=bearer(key))
    # The first target is now cooling down: skipped, not tried.
    skipped = faked.post("/v1/chat/completions", json=body, headers=bearer(key))
    listed = faked.get("/admin/requests", headers=ADMIN).get_json()["data"]
    detail = faked.get(
        f"/admin/requests/{skipped.headers['x-request-id']}", headers=ADMIN
    ).get_json()

    assert fell_back.status_code == skipped.status_code == 200
    assert fell_back.headers["x-gateway-attempts"] == "2"
    assert fell_back.get_json()["x_gateway"]["attempts"] == 2
    assert [a["outcome"] for a in detail["attempt_list"]] == ["skipped", "success"]
    assert skipped.headers["x-gateway-attempts"] == "1"
    assert skipped.get_json()["x_gateway"]["attempts"] == 1
    # first (503), then second; then second alone.
    assert len(listed) == 2 and len(fake_provider.requests()) == 3


def limited_key(client: Any, requests: int = 2, tokens: int = 100_000) -> str:
    limits = {"requests_per_minute": requests, "tokens_per_minute": tokens}
    return create_key(client, limits=limits)


def assert_rate_limit_headers(headers: Any) -> None:
    for name in RATE_LIMIT_NAMES:
        assert name in headers, f"{name} missing from {dict(headers)}"
    assert RESET.match(headers["x-ratelimit-reset-requests"])
    assert RESET.match(headers["x-ratelimit-reset-tokens"])


def test_a_provider_error_after_admission_carries_the_rate_limit_headers(
    faked: Any, fake_provider: FakeServer
) -> None:
    key = limited_key(faked, requests=5)
    fake_provider.queue(error(401))

    response = faked.post(
        "/v1/chat/completions", json={**CHAT, "model": "gpt"}, headers=bearer(key)
    )

    assert response.status_code == 502
    assert_rate_limit_headers(response.headers)
    assert response.headers["x-ratelimit-limit-requests"] == "5"
    assert response.headers["x-ratelimit-remaining-requests"] == "4"


def test_a_rate_limited_call_reports_both_kinds_in_one_format(client: Any) -> None:
    key = limited_key(client, requests=2)
    answers = [
        client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
        for _ in range(3)
    ]

    assert [answer.status_code for answer in answers] == [200, 200, 429]
    for answer in answers:
        assert_rate_limit_headers(answer.headers)
    refused = answers[2].headers
    assert refused["x-ratelimit-remaining-requests"] == "0"
    assert refused["x-ratelimit-limit-tokens"] == "100000"
    assert int(refused["x-ratelimit-remaining-tokens"]) > 0
    assert int(refused["Retry-After"]) >= 1
    # The refused call's own token charge was undone: the window reads as the
    # second call left it.
    assert (
        refused["x-ratelimit-remaining-tokens"]
        >= answers[1].headers["x-ratelimit-remaining-tokens"]
    )


def test_a_call_over_budget_still_reports_its_rate_limits(client: Any) -> None:
    key = limited_key(client, requests=5)
    key_id = key.split("-")[2]
    budget = client.post(
        "/admin/budgets",
        json={"scope": "key", "subject": key_id, "limit_usd": 0.000001},
        headers=ADMIN,
    )
    assert budget.status_code == 201, budget.get_data(as_text=True)

    response = client.post(
        "/v1/chat/completions", json={**CHAT, "max_tokens": 1000}, headers=bearer(key)
    )

    assert response.status_code == 402
    assert_rate_limit_headers(response.headers)
    # Refused, so the call counts against no window.
    assert response.headers["x-ratelimit-remaining-requests"] == "5"
