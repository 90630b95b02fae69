"""Admission and settlement in-process, against the fake providers: what is refused
and how, what is sent upstream, and what every kind of ending leaves in a budget."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.control.money import to_nanos
from tests.conftest import ADMIN, bearer, create_key
from tests.fakes import FakeServer
from tests.fakes.behaviours import cut, error

pytest_plugins = ["tests.fakes.plugin"]

CONFIG = """
providers:
  oai: {{type: openai, base_url: "{url}/v1", api_key_env: FAKE_KEY}}
  claude: {{type: anthropic, base_url: "{url}/v1", api_key_env: FAKE_KEY}}
  groq: {{type: openai-compatible, base_url: "{url}/v1", api_key_env: FAKE_KEY}}
models:
  gpt:
    provider: oai
    model: gpt-4o-mini
    price: {{input_per_mtok: 1000, output_per_mtok: 2000}}
  cheap:
    provider: oai
    model: gpt-4o-mini
    price: {{input_per_mtok: 100, output_per_mtok: 200}}
  sonnet:
    provider: claude
    model: claude-sonnet-4-5
    price: {{input_per_mtok: 3000, output_per_mtok: 15000}}
  llama:
    provider: groq
    model: llama-3.3-70b-versatile
    max_output_tokens: 1000
    price: {{input_per_mtok: 500, output_per_mtok: 500}}
  embed:
    provider: oai
    model: text-embedding-3-small
    price: {{input_per_mtok: 1000, output_per_mtok: 0}}
  mixed:
    targets:
      - {{provider: oai, model: gpt-4o-mini,
          price: {{input_per_mtok: 1000, output_per_mtok: 2000}}}}
      - {{provider: claude, model: claude-sonnet-4-5, max_output_tokens: 2000,
          price: {{input_per_mtok: 3000, output_per_mtok: 15000}}}}
"""

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def app(make_app: Any, fake_provider: FakeServer) -> Any:
    return make_app(CONFIG.format(url=fake_provider.url), {"FAKE_KEY": "sk-fake"})


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def key(client: Any) -> str:
    return create_key(client)


def key_id(key: str) -> str:
    return key.split("-")[2]


def chat(client: Any, key: str, model: str = "gpt", **fields: Any) -> Any:
    headers = {**bearer(key), **fields.pop("headers", {})}
    body = {"model": model, "messages": HELLO, **fields}
    return client.post("/v1/chat/completions", json=body, headers=headers)


def add_budget(client: Any, **fields: Any) -> dict[str, Any]:
    response = client.post(
        "/admin/budgets", json={"period": "day", **fields}, headers=ADMIN
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def usage(client: Any, budget_id: str) -> dict[str, Any]:
    return client.get(f"/admin/budgets/{budget_id}", headers=ADMIN).get_json()["usage"]


def max_cost(client: Any, key: str, model: str = "gpt", **fields: Any) -> float:
    body = {"model": model, "messages": HELLO, **fields}
    answer = client.post("/v1/estimate", json=body, headers=bearer(key)).get_json()
    return answer["data"][0]["max_cost_usd"]


def logged(client: Any, request_id: str) -> dict[str, Any]:
    return client.get(f"/admin/requests/{request_id}", headers=ADMIN).get_json()


def test_a_call_the_budget_cannot_cover_gets_402_before_any_provider_call(
    client: Any, key: str, fake_provider: FakeServer
) -> None:
    budget = add_budget(
        client, scope="key", subject=key_id(key), limit_usd=0.01, name="tiny"
    )

    response = chat(client, key, max_tokens=10)

    assert response.status_code == 402
    error_body = response.get_json()["error"]
    assert (
        error_body["type"] == "budget_exceeded"
        and error_body["code"] == "budget_exceeded"
    )
    assert "tiny" in error_body["message"] and "resets at" in error_body["message"]
    details = error_body["details"]["budget"]
    assert details["id"] == budget["id"] and details["limit_usd"] == 0.01
    assert details["spent_usd"] == 0 and details["resets_at"].endswith("T00:00:00.000Z")
    assert error_body["details"]["request_max_cost_usd"] > 0.01
    assert "Retry-After" not in response.headers
    assert fake_provider.requests() == []
    assert (
        logged(client, response.headers["x-request-id"])["error_type"]
        == "budget_exceeded"
    )


ENTRY_POINTS = [
    ("/v1/chat/completions", {"model": "gpt", "messages": HELLO}),
    ("/v1/chat/completions", {"model": "gpt", "messages": HELLO, "stream": True}),
    ("/v1/embeddings", {"model": "embed", "input": "hello there " * 20}),
    ("/v1/responses", {"model": "gpt", "input": "hello there"}),
    ("/v1/responses", {"model": "gpt", "input": "hello there", "stream": True}),
]


@pytest.mark.parametrize(("path", "body"), ENTRY_POINTS)
def test_every_entry_point_is_admitted_before_the_provider_is_called(
    client: Any, key: str, fake_provider: FakeServer, path: str, body: dict
) -> None:
    add_budget(client, scope="global", limit_usd=0.00001)

    response = client.post(path, json=body, headers=bearer(key))

    assert response.status_code == 402
    assert response.get_json()["error"]["type"] == "budget_exceeded"
    assert fake_provider.requests() == []


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("gpt", "max_completion_tokens", 4096),
        ("llama", "max_tokens", 1000),
        ("sonnet", "max_tokens", 32000),
        ("mixed", "max_completion_tokens", 2000),
    ],
)
def test_the_assumed_output_limit_is_sent_upstream_when_a_budget_applies(
    client: Any, key: str, fake_provider: FakeServer, model: str, field: str, value: int
) -> None:
    add_budget(client, scope="global", limit_usd=1000)

    response = chat(client, key, model=model)

    assert response.status_code == 200, response.get_json()
    sent = fake_provider.requests()[-1].json
    assert sent[field] == value


def test_a_call_no_budget_applies_to_is_forwarded_untouched(
    client: Any, key: str, fake_provider: FakeServer
) -> None:
    add_budget(client, scope="workflow", subject="another-workflow", limit_usd=1)

    chat(client, key)

    sent = fake_provider.requests()[-1].json
    assert "max_tokens" not in sent and "max_completion_tokens" not in sent


def test_a_clients_own_output_limit_is_kept(
    client: Any, key: str, fake_provider: FakeServer
) -> None:
    add_budget(client, scope="global", limit_usd=1000)

    chat(client, key, max_tokens=7)

    sent = fake_provider.requests()[-1].json
    assert sent["max_tokens"] == 7 and "max_completion_tokens" not in sent


def test_settling_replaces_the_reservation_by_the_logged_cost(
    client: Any, key: str
) -> None:
    budget = add_budget(client, scope="key", subject=key_id(key), limit_usd=10)

    first = chat(client, key, max_tokens=50)
    second = chat(client, key, max_tokens=50)

    costs = [float(r.headers["x-gateway-cost-usd"]) for r in (first, second)]
    state = usage(client, budget["id"])
    assert state["reserved_usd"] == 0
    assert to_nanos(state["spent_usd"]) == sum(to_nanos(cost) for cost in costs)


def test_a_failed_call_frees_its_whole_reservation(
    client: Any, key: str, fake_provider: FakeServer
) -> None:
    budget = add_budget(client, scope="key", subject=key_id(key), limit_usd=10)
    fake_provider.queue(error(400, "bad request", error_type="invalid_request_error"))

    response = chat(client, key, max_tokens=50)

    state = usage(client, budget["id"])
    assert response.status_code == 400
    assert state["spent_usd"] == 0 and state["reserved_usd"] == 0


@pytest.mark.parametrize("model", ["gpt", "sonnet"])
def test_a_streamed_call_is_charged_what_the_same_call_unstreamed_is(
    client: Any, key: str, model: str
) -> None:
    budget = add_budget(client, scope="key", subject=key_id(key), limit_usd=10)

    chat(client, key, model=model, max_tokens=50)
    after_plain = usage(client, budget["id"])["spent_usd"]
    stream = chat(client, key, model=model, max_tokens=50, stream=True)
    b"".join(stream.response)
    after_stream = usage(client, budget["id"])["spent_usd"]

    assert after_plain > 0
    assert to_nanos(after_stream) == 2 * to_nanos(after_plain)


@pytest.mark.parametrize("model", ["gpt", "sonnet"])
def test_a_stream_the_provider_cuts_is_charged_its_logged_estimate(
    client: Any, key: str, fake_provider: FakeServer, model: str
) -> None:
    budget = add_budget(client, scope="key", subject=key_id(key), limit_usd=10)
    fake_provider.queue(cut(after_events=3))

    stream = chat(client, key, model=model, max_tokens=50, stream=True)
    body = b"".join(stream.response)

    assert b"provider_stream_error" in body
    row = logged(client, stream.headers["x-request-id"])
    state = usage(client, budget["id"])
    assert row["tokens_estimated"] == 1 and row["cost_usd"] > 0
    assert state["reserved_usd"] == 0
    assert to_nanos(state["spent_usd"]) == to_nanos(row["cost_usd"])


def test_past_the_downgrade_threshold_calls_go_to_the_cheaper_alias(
    client: Any, key: str, fake_provider: FakeServer
) -> None:
    reserve = max_cost(client, key, max_tokens=10)
    # Room for one call on gpt before the 50 % mark.
    budget = add_budget(
        client,
        scope="key",
        subject=key_id(key),
        limit_usd=reserve * 2.5,
        downgrade_to="cheap",
        downgrade_at=50,
    )

    first = chat(client, key, max_tokens=10)
    second = chat(client, key, max_tokens=10)

    assert "x-gateway-downgraded-from" not in first.headers
    assert second.status_code == 200
    assert second.headers["x-gateway-downgraded-from"] == "gpt"
    assert float(second.headers["x-gateway-cost-usd"]) < float(
        first.headers["x-gateway-cost-usd"]
    )
    row = logged(client, second.headers["x-request-id"])
    assert row["downgraded_from"] == "gpt" and row["model_requested"] == "gpt"
    assert usage(client, budget["id"])["spent_usd"] <= budget["limit_usd"]


def test_a_budget_created_mid_period_counts_the_spend_already_logged(
    client: Any, key: str
) -> None:
    spent = [
        float(chat(client, key, max_tokens=10).headers["x-gateway-cost-usd"])
        for _ in range(3)
    ]
    reserve = max_cost(client, key, max_tokens=10)
    budget = add_budget(
        client, scope="key", subject=key_id(key), limit_usd=sum(spent) + reserve * 0.9
    )

    refused = chat(client, key, max_tokens=10)

    assert refused.status_code == 402
    assert usage(client, budget["id"])["spent_usd"] == pytest.approx(sum(spent))


@pytest.mark.parametrize(
    ("budget_fields", "headers"),
    [
        ({"scope": "workflow", "subject": "wf-7"}, {"X-Workflow-Id": "wf-7"}),
        ({"scope": "workflow", "subject": "*"}, {"X-Workflow-Id": "any-workflow"}),
        ({"scope": "model", "subject": "gpt"}, {}),
        ({"scope": "team", "subject": "ops"}, {}),
        ({"scope": "global"}, {}),
    ],
)
def test_each_scope_of_budget_refuses_the_calls_it_covers(
    client: Any, budget_fields: dict, headers: dict
) -> None:
    key = create_key(client, team="ops")
    add_budget(client, limit_usd=0.001, **budget_fields)

    refused = chat(client, key, max_tokens=10, headers=headers)

    assert refused.status_code == 402


def test_a_call_per_minute_over_the_keys_limit_gets_429_with_retry_after(
    client: Any, fake_provider: FakeServer
) -> None:
    key = create_key(client, limits={"requests_per_minute": 2})

    answers = [chat(client, key) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "2"
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "1"
    assert answers[1].headers["x-ratelimit-remaining-requests"] == "0"
    refused = answers[2]
    assert refused.get_json()["error"]["type"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_provider.requests()) == 2


def test_tokens_per_minute_are_charged_the_bound_then_corrected_to_usage(
    client: Any,
) -> None:
    key = create_key(client, limits={"tokens_per_minute": 10_000})

    first = chat(client, key, max_tokens=1000)
    second = chat(client, key, max_tokens=1000)

    used = int(first.headers["x-gateway-prompt-tokens"]) + int(
        first.headers["x-gateway-completion-tokens"]
    )
    bound = 10_000 - int(first.headers["x-ratelimit-remaining-tokens"])
    assert bound > 1000
    assert int(second.headers["x-ratelimit-remaining-tokens"]) == 10_000 - used - bound


def test_a_call_that_can_never_fit_the_token_limit_is_a_400_naming_max_tokens(
    client: Any,
) -> None:
    key = create_key(client, limits={"tokens_per_minute": 100})

    response = chat(client, key)

    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == "max_tokens"


def test_team_limits_are_shared_by_the_teams_keys(client: Any) -> None:
    client.put(
        "/admin/teams/ops/limits", json={"requests_per_minute": 2}, headers=ADMIN
    )
    first, second = create_key(client, team="ops"), create_key(client, team="ops")

    answers = [chat(client, first), chat(client, second), chat(client, first)]

    assert [a.status_code for a in answers] == [200, 200, 429]


def test_a_refused_budget_leaves_the_rate_windows_as_they_were(client: Any) -> None:
    key = create_key(client, limits={"requests_per_minute": 5})
    add_budget(client, scope="key", subject=key_id(key), limit_usd=0.0001)

    chat(client, key, max_tokens=10)
    chat(client, key, max_tokens=10)
    budget_removed = client.get("/admin/budgets", headers=ADMIN).get_json()["data"][0][
        "id"
    ]
    client.delete(f"/admin/budgets/{budget_removed}", headers=ADMIN)
    allowed = chat(client, key, max_tokens=10)

    assert allowed.headers["x-ratelimit-remaining-requests"] == "4"


@pytest.mark.parametrize("control", ["budget", "rate limit"])
def test_an_unreachable_control_store_refuses_with_503(
    make_app: Any, fake_provider: FakeServer, refused_url: str, control: str
) -> None:
    redis_url = refused_url.replace("http://", "redis://")
    app = make_app(
        CONFIG.format(url=fake_provider.url),
        {"FAKE_KEY": "sk-fake", "REDIS_URL": redis_url},
    )
    client = app.test_client()
    if control == "budget":
        key = create_key(client)
        add_budget(client, scope="global", limit_usd=10)
    else:
        key = create_key(client, limits={"requests_per_minute": 10})

    response = chat(client, key)

    assert response.status_code == 503
    assert response.get_json()["error"]["type"] == "control_unavailable"
    assert fake_provider.requests() == []


def test_estimates_cover_each_model_and_bound_the_dearest_target(
    client: Any, key: str
) -> None:
    body = {"models": ["gpt", "sonnet", "mixed"], "messages": HELLO, "max_tokens": 100}

    data = client.post("/v1/estimate", json=body, headers=bearer(key)).get_json()[
        "data"
    ]

    gpt, sonnet, mixed = data
    assert gpt["prompt_tokens"] == 9 and gpt["max_output_tokens"] == 100
    assert gpt["max_cost_usd"] == pytest.approx(9 * 0.001 + 100 * 0.002)
    assert gpt["min_cost_usd"] == pytest.approx(9 * 0.001)
    # Anthropic's tokenizer is not tiktoken's: 25 % margin on the prompt.
    assert sonnet["targets"][0]["prompt_tokens_max"] == 12
    assert sonnet["max_cost_usd"] == pytest.approx(12 * 0.003 + 100 * 0.015)
    assert mixed["max_cost_usd"] == pytest.approx(sonnet["max_cost_usd"])
    assert mixed["min_cost_usd"] == pytest.approx(gpt["min_cost_usd"])


def test_estimating_an_unknown_model_names_it(client: Any, key: str) -> None:
    body = {"models": ["gpt", "nope"], "messages": HELLO}

    response = client.post("/v1/estimate", json=body, headers=bearer(key))

    assert response.status_code == 404
    assert response.get_json()["error"]["param"] == "models.1"
