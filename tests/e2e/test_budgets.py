"""Cost control end to end: real gunicorn with three workers (as ``make run`` starts
it), the official openai SDK as the client, the fake providers upstream, the SQLite
control store or the real Redis on 127.0.0.1:6379.

Every call here asks for ``max_tokens`` and the fake counts words, so the costs are
known: a call reserves 9 prompt tokens (tiktoken) + max_tokens at the configured
price and is charged 2 prompt + 3 output tokens (the fake's "echo: hello there").
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest
import requests

from gateway.control.definitions import CHECK_EVERY_S
from gateway.control.money import to_nanos
from tests.conftest import ADMIN
from tests.control.conftest import REDIS_URL, delete_prefix, unique_prefix
from tests.fakes import FakeServer
from tests.fakes.behaviours import delay, stall

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.fakes.plugin"]

CONFIG = """
providers:
  oai: {{type: openai, base_url: "{url}/v1", api_key_env: FAKE_PROVIDER_KEY}}
  claude: {{type: anthropic, base_url: "{url}/v1", api_key_env: FAKE_PROVIDER_KEY}}
models:
  gpt:
    provider: oai
    model: gpt-4o
    price: {{input_per_mtok: 1000, output_per_mtok: 2000}}
  cheap:
    provider: oai
    model: gpt-4o-mini
    price: {{input_per_mtok: 100, output_per_mtok: 200}}
  sonnet:
    provider: claude
    model: claude-sonnet-4-5
    price: {{input_per_mtok: 3000, output_per_mtok: 15000}}
"""

HELLO = [{"role": "user", "content": "hello there"}]
# A call to gpt with max_tokens=3: reserves 9 x $0.001 + 3 x $0.002, costs 0.008.
RESERVED = 0.015
COST = 0.008


class Gateway:
    """A started gateway, its clock file and what the tests need from it."""

    def __init__(self, server: Any, clock: Path) -> None:
        self.server = server
        self.url = server.url
        self.clock = clock

    def set_clock(self, moment: str) -> None:
        self.clock.write_text(moment)

    def sdk(self, key: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(
            method, self.url + path, headers=ADMIN, timeout=10, **kwargs
        )

    def add_budget(self, **fields: Any) -> dict[str, Any]:
        response = self.admin(
            "post", "/admin/budgets", json={"period": "day", **fields}
        )
        assert response.status_code == 201, response.text
        # The other workers re-read the definitions within CHECK_EVERY_S.
        time.sleep(CHECK_EVERY_S + 0.1)
        return response.json()

    def budget(self, budget_id: str) -> dict[str, Any]:
        return self.admin("get", f"/admin/budgets/{budget_id}").json()

    def rows(self, expected: int, **filters: Any) -> list[dict[str, Any]]:
        return self.server.wait_for_rows(expected, **filters)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: Any) -> Iterator[dict[str, str]]:
    """The environment that picks each control store (a fresh Redis prefix)."""
    if request.param == "sqlite":
        yield {}
        return

    prefix = unique_prefix()
    yield {"REDIS_URL": REDIS_URL, "GATEWAY_REDIS_PREFIX": prefix}
    delete_prefix(prefix)


def start(
    gateway_server: Any, fake: FakeServer, tmp_path: Path, env: dict[str, str]
) -> Gateway:
    clock = tmp_path / "clock"
    clock.write_text("")
    server = gateway_server(
        CONFIG.format(url=fake.url),
        {
            "FAKE_PROVIDER_KEY": "sk-provider-fake",
            "GATEWAY_WORKERS": "3",
            "GATEWAY_CLOCK_FILE": str(clock),
            **env,
        },
    )
    return Gateway(server, clock)


@pytest.fixture
def gateway(gateway_server: Any, fake_provider: FakeServer, tmp_path: Path) -> Gateway:
    return start(gateway_server, fake_provider, tmp_path, {})


def create_key(gateway: Gateway, **fields: Any) -> tuple[str, str]:
    key = gateway.server.create_key(**fields)
    return key, key.split("-")[2]


def chat(client: openai.OpenAI, model: str = "gpt", **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model=model, messages=HELLO, max_tokens=3, **extra
    )


def fire(client: openai.OpenAI, count: int, **extra: Any) -> list[Any]:
    """``count`` calls at once; each result is the raw response or the SDK's error."""

    def call(_: int) -> Any:
        try:
            return chat(client, **extra)
        except openai.APIStatusError as error:
            return error

    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(call, range(count)))


def test_concurrent_calls_never_overspend_a_nearly_spent_budget(
    gateway_server: Any,
    fake_provider: FakeServer,
    tmp_path: Path,
    store: dict[str, str],
) -> None:
    gateway = start(gateway_server, fake_provider, tmp_path, store)
    key, key_id = create_key(gateway)
    client = gateway.sdk(key)
    for _ in range(3):
        chat(client)
    already = sum(row["cost_usd"] for row in gateway.rows(3, key_id=key_id))
    # Room for two reservations, and spend that could reach three times the limit.
    budget = gateway.add_budget(
        scope="key", subject=key_id, limit_usd=already + 2.5 * RESERVED
    )
    fake_provider.set_default(delay(1.5))

    results = fire(client, 30)

    admitted = [r for r in results if not isinstance(r, openai.APIStatusError)]
    refused = [r for r in results if isinstance(r, openai.APIStatusError)]
    assert len(admitted) >= 2
    assert {error.status_code for error in refused} == {402}
    bodies = [error.response.json()["error"] for error in refused]
    assert {body["type"] for body in bodies} == {"budget_exceeded"}
    details = [body["details"]["budget"] for body in bodies]
    assert {d["id"] for d in details} == {budget["id"]}
    assert all(
        d["limit_usd"] == budget["limit_usd"] and d["resets_at"] for d in details
    )
    assert any(d["reserved_usd"] > 0 for d in details)
    rows = gateway.rows(33, key_id=key_id)
    assert len(rows) == 33
    spent = sum(row["cost_usd"] for row in rows)
    assert spent <= budget["limit_usd"] + 1e-12
    assert sum(row["status"] == 402 for row in rows) == len(refused)
    usage = gateway.budget(budget["id"])["usage"]
    assert usage["reserved_usd"] == 0
    assert usage["spent_usd"] == pytest.approx(spent, abs=1e-8)


def test_a_daily_budget_resets_at_midnight_utc(gateway: Gateway) -> None:
    key, key_id = create_key(gateway)
    client = gateway.sdk(key)
    gateway.set_clock("2030-03-10T23:59:30Z")
    budget = gateway.add_budget(
        scope="key", subject=key_id, limit_usd=RESERVED + COST / 2
    )

    first = chat(client)
    with pytest.raises(openai.APIStatusError) as refused:
        chat(client)
    gateway.set_clock("2030-03-11T00:00:02Z")
    after_midnight = chat(client)

    assert first.http_response.status_code == 200
    error = refused.value.response.json()["error"]
    assert refused.value.status_code == 402
    assert error["details"]["budget"]["resets_at"] == "2030-03-11T00:00:00.000Z"
    assert error["details"]["budget"]["spent_usd"] == pytest.approx(COST)
    assert after_midnight.http_response.status_code == 200
    usage = gateway.budget(budget["id"])["usage"]
    assert usage["period_start"] == "2030-03-11T00:00:00.000Z"
    assert usage["spent_usd"] == pytest.approx(COST)


def test_past_its_threshold_a_budget_downgrades_to_the_cheaper_alias(
    gateway: Gateway, fake_provider: FakeServer
) -> None:
    key, key_id = create_key(gateway)
    client = gateway.sdk(key)
    gateway.add_budget(
        scope="key",
        subject=key_id,
        limit_usd=0.05,
        downgrade_to="cheap",
        downgrade_at=50,
    )

    answers = [chat(client) for _ in range(4)]

    downgraded = [a.headers.get("x-gateway-downgraded-from") for a in answers]
    # A reservation of 0.015 stays under 50 % of 0.05 with 0 and 0.008 spent, not
    # with 0.016: from the third call on, cheap (which reserves 0.0015).
    assert downgraded == [None, None, "gpt", "gpt"]
    assert answers[2].headers["x-gateway-model"] == "gpt-4o-mini"
    sent = [r.json["model"] for r in fake_provider.requests()]
    assert sent == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
    rows = gateway.rows(4, key_id=key_id)
    assert sorted(str(r["downgraded_from"]) for r in rows) == [
        "None",
        "None",
        "gpt",
        "gpt",
    ]


class Receiver:
    """A webhook that records every post and answers 500 to the first one."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, dict[str, Any]]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's hook name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.lock:
                    status = 500 if not receiver.posts else 200
                    receiver.posts.append((status, body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[dict[str, Any]]:
        with self.lock:
            return [body for status, body in self.posts if status == 200]

    def wait_for(self, count: int, timeout: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.delivered()) < count:
            time.sleep(0.05)
        return self.delivered()


@contextlib.contextmanager
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    thread = threading.Thread(target=hook.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        hook.server.shutdown()
        hook.server.server_close()


def test_alerts_post_once_per_threshold_per_period_and_retry_a_500(
    gateway: Gateway,
) -> None:
    key, key_id = create_key(gateway)
    client = gateway.sdk(key)
    gateway.set_clock("2030-05-20T10:00:00Z")
    with receiver() as hook:
        budget = gateway.add_budget(
            scope="key",
            subject=key_id,
            limit_usd=5 * COST,
            name="alerted",
            alert_thresholds=[50, 80, 100],
            webhook_url=hook.url,
        )
        # 0.008, 0.016, 0.024 (50 %), 0.032 (80 %), then refused: 100 %.
        outcomes = [chat(client).http_response.status_code for _ in range(4)]
        with pytest.raises(openai.APIStatusError):
            chat(client)
        for _ in range(4):
            with contextlib.suppress(openai.APIStatusError):
                chat(client)
        first_period = hook.wait_for(3)
        time.sleep(0.5)
        gateway.set_clock("2030-05-21T00:00:01Z")
        for _ in range(3):
            chat(client)
        second_period = hook.wait_for(4)
        time.sleep(0.5)
        posts = list(hook.posts)

    def sent(alerts: list[dict[str, Any]]) -> list[tuple[float, str]]:
        return sorted((a["threshold_percent"], a["period_start"]) for a in alerts)

    assert outcomes == [200, 200, 200, 200]
    assert sent(first_period) == [
        (50, "2030-05-20"),
        (80, "2030-05-20"),
        (100, "2030-05-20"),
    ]
    exhausted = [a for a in first_period if a["threshold_percent"] == 100]
    assert exhausted[0]["exhausted"] is True and "alerted" in exhausted[0]["text"]
    assert sent(second_period) == sorted([*sent(first_period), (50, "2030-05-21")])
    assert len(hook.delivered()) == 4
    # The first post was answered 500 and sent again; nothing else was repeated.
    (first_status, first_body), *later = posts
    again = [body for _, body in later if sent([body]) == sent([first_body])]
    assert first_status == 500 and len(again) == 1 and len(later) == 4
    alerts = gateway.admin("get", f"/admin/budgets/{budget['id']}/alerts").json()[
        "data"
    ]
    assert sorted((a["threshold"], a["period_start"], a["status"]) for a in alerts) == [
        (50, "2030-05-20", "sent"),
        (50, "2030-05-21", "sent"),
        (80, "2030-05-20", "sent"),
        (100, "2030-05-20", "sent"),
    ]
    retried = [
        a
        for a in alerts
        if (a["threshold"], a["period_start"]) == sent([first_body])[0]
    ]
    assert retried[0]["attempts"] == 2 and retried[0]["webhook_host"] == "127.0.0.1"


def test_rate_limits_hold_across_workers_with_openai_headers(
    gateway_server: Any,
    fake_provider: FakeServer,
    tmp_path: Path,
    store: dict[str, str],
) -> None:
    gateway = start(gateway_server, fake_provider, tmp_path, store)
    key, _ = create_key(gateway, limits={"requests_per_minute": 4})
    client = gateway.sdk(key)

    started = time.monotonic()
    answers = [chat(client) for _ in range(4)]
    with pytest.raises(openai.RateLimitError) as limited:
        chat(client)
    elapsed = time.monotonic() - started

    headers = [a.headers for a in answers]
    assert [h["x-ratelimit-limit-requests"] for h in headers] == ["4"] * 4
    remaining = [h["x-ratelimit-remaining-requests"] for h in headers]
    assert remaining == ["3", "2", "1", "0"]
    window_ends_in = seconds(headers[0]["x-ratelimit-reset-requests"])
    assert 59 <= window_ends_in <= 60
    refused = limited.value.response
    assert refused.json()["error"]["type"] == "rate_limit_exceeded"
    # Retry-After is when the window that opened with the first call ends.
    retry_after = int(refused.headers["Retry-After"])
    assert window_ends_in - elapsed - 1 <= retry_after <= window_ends_in + 1
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert len(fake_provider.requests()) == 4


def seconds(reset: str) -> float:
    """Seconds in an ``x-ratelimit-reset-*`` value: ``1m0s``, ``12s``, ``250ms``."""
    if reset.endswith("ms"):
        return int(reset[:-2]) / 1000
    minutes, _, rest = reset.rpartition("m")
    return int(minutes or 0) * 60 + int(rest.rstrip("s"))


def test_tokens_per_minute_and_calls_in_flight_hold_across_workers(
    gateway_server: Any,
    fake_provider: FakeServer,
    tmp_path: Path,
    store: dict[str, str],
) -> None:
    gateway = start(gateway_server, fake_provider, tmp_path, store)
    key, _ = create_key(gateway, limits={"max_concurrent": 2, "tokens_per_minute": 100})
    client = gateway.sdk(key)
    fake_provider.set_default(delay(1.5))

    results = fire(client, 8)
    fake_provider.set_default(delay(0))
    after = chat(client)

    admitted = [r for r in results if not isinstance(r, openai.APIStatusError)]
    refused = [r for r in results if isinstance(r, openai.APIStatusError)]
    assert len(admitted) == 2
    assert {error.status_code for error in refused} == {429}
    assert {error.response.headers["Retry-After"] for error in refused} == {"1"}
    # Each call is charged 9 + 3 tokens up front and corrected to 2 + 3 after.
    assert after.headers["x-ratelimit-limit-tokens"] == "100"
    assert after.headers["x-ratelimit-remaining-tokens"] == str(100 - 2 * 5 - 12)


def test_a_stream_the_client_abandons_is_settled_at_its_logged_cost(
    gateway: Gateway, fake_provider: FakeServer
) -> None:
    """The client leaves after one chunk; the provider stalls, then cuts the stream.
    Whichever the gateway notices first, the budget is charged the row's cost."""
    key, key_id = create_key(gateway)
    budget = gateway.add_budget(scope="key", subject=key_id, limit_usd=10)
    # The gateway notices the client left on its next write, after the stall.
    fake_provider.queue(stall(3.0, after_events=3))
    client = gateway.sdk(key)

    stream = client.chat.completions.create(
        model="sonnet", messages=HELLO, max_tokens=50, stream=True
    )
    next(iter(stream))
    stream.close()

    row = gateway.server.wait_for_rows(1, timeout=15, key_id=key_id)[0]
    usage = gateway.budget(budget["id"])["usage"]
    assert row["status"] in (499, 502) and row["tokens_estimated"] == 1
    assert row["cost_usd"] > 0
    assert usage["reserved_usd"] == 0
    assert to_nanos(usage["spent_usd"]) == to_nanos(row["cost_usd"])


def test_the_csv_spend_export_parses_back_and_sums_to_the_log_total(
    gateway: Gateway,
) -> None:
    key, key_id = create_key(gateway, team="ops")
    client = gateway.sdk(key)
    calls = [("wf-a", "alpha"), ("wf-a", "beta"), ("wf-b", None), (None, "alpha")]
    for workflow, tag in calls:
        headers = {}
        if workflow:
            headers["X-Workflow-Id"] = workflow
        if tag:
            headers["X-Tags"] = tag
        chat(client, extra_headers=headers)
    chat(client, model="sonnet")
    rows = gateway.rows(5, key_id=key_id)
    total = sum(row["cost_usd"] for row in rows)

    for group in ("workflow", "tag", "model", "day", "team"):
        response = gateway.admin(
            "get",
            "/admin/spend",
            params={"group_by": group, "format": "csv", "period": "total"},
        )
        parsed = list(csv.DictReader(io.StringIO(response.text)))

        assert response.headers["content-type"].startswith("text/csv")
        assert sum(float(line["cost_usd"]) for line in parsed) == pytest.approx(
            total, abs=1e-9
        )
        assert sum(int(line["requests"]) for line in parsed) == 5
        assert sum(int(line["errors"]) for line in parsed) == 0
        assert all(int(line["prompt_tokens"]) > 0 for line in parsed)
    by_tag = gateway.admin(
        "get", "/admin/spend", params={"group_by": "tag", "period": "total"}
    ).json()["groups"]
    assert {g["tag"]: g["requests"] for g in by_tag} == {"alpha": 2, "beta": 1, None: 2}
