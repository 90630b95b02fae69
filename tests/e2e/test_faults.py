"""The fault-injection matrix of resilient routing, end to end.

Real gunicorn (two gevent workers, as ``gateway serve`` starts it), the official openai
SDK with ``max_retries=0`` (so only the gateway retries), and fake providers breaking
in each way a provider breaks. Every case checks what the client receives, the
attempts the gateway made and how long they took, and that exactly one request row
was written for the call.

Every case has its own provider entry, so its target's circuit breaker and cooldowns
are its own; one gateway serves the whole module and the fakes are reset per case.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
import orjson
import pytest
import requests
import yaml

from gateway.accounting.tokens import count_text_tokens
from gateway.routing.breaker import REFRESH_SECONDS
from tests.conftest import ADMIN, GatewayServer
from tests.fakes import (
    Behaviour,
    FakeServer,
    cut,
    delay,
    error,
    error_in_body,
    malformed_event,
    malformed_json,
    oversized,
    refused_port,
    reply,
    reset,
    stall,
    unaccepting_port,
    wrong_content_type,
)

from .recording import Exchange, RecordingTransport
from .sockets import serving_pid, worker_pids

pytestmark = pytest.mark.e2e

MODEL = "gpt-4o-mini"
BACKUP = f"backup/{MODEL}"
BACKUP_ANSWER = "the backup answers"
PROMPT = "one two three four five six"
FULL_ANSWER = f"echo: {PROMPT}"

RETRIES = 2
BACKOFF_BASE_S = 0.02
CONNECT_S = 0.5
FIRST_BYTE_S = 1.0
STALL_S = 1.0
TOTAL_S = 10.0
MAX_RESPONSE_BYTES = 64 * 1024
# Slack for a loaded two-core machine on top of a timeout that should have fired.
SLACK_S = 1.0
# Rows are written in batches every 0.1 s; a second row would show within this.
SECOND_ROW_PAUSE_S = 0.3

ROUTING = {
    "retries": RETRIES,
    "backoff_ms": {"base": BACKOFF_BASE_S * 1000, "cap": 100},
    "max_wait_s": 5,
    "timeouts_s": {
        "connect": CONNECT_S,
        "first_byte": FIRST_BYTE_S,
        "stall": STALL_S,
        "total": TOTAL_S,
    },
    # High enough that no case opens its breaker; the breaker test sets its own.
    "circuit_breaker": {"failures": 1000, "window_s": 60, "cooldown_s": 1},
}


@dataclass(frozen=True)
class Fault:
    """A provider failing before the client has seen a byte, and what the gateway
    makes of it when no target answers."""

    id: str
    behaviour: Behaviour | None
    status: int
    error_type: str
    message: str
    # The HTTP status each failed attempt records (None: no response head came).
    upstream_status: int | None
    # Where the target points: the failing fake, or an address that fails to connect.
    address: str = "fake"
    # The wait the provider asked for before a retry (Retry-After), seconds.
    asked_wait_s: float | None = None
    # The least each failed attempt takes (the timeout that ends it), seconds.
    attempt_s: float = 0.0
    # Whether the gateway retries the same target (a response too large would be
    # as large again, so it goes straight to the fallback).
    retried: bool = True

    @property
    def stream(self) -> bool:
        return self.id.startswith("stream-")


def unavailable(mode: str, status: int, message: str) -> Fault:
    return Fault(
        f"{mode}-{status}", error(status), 502, "provider_unavailable", message, status
    )


def rate_limited(mode: str, retry_after: int | None) -> Fault:
    name = "429-retry-after" if retry_after else "429-no-retry-after"
    return Fault(
        f"{mode}-{name}",
        error(429, retry_after=retry_after),
        429,
        "provider_rate_limited",
        "Rate limit reached for requests.",
        429,
        asked_wait_s=retry_after,
    )


def address_faults(mode: str) -> list[Fault]:
    return [
        Fault(
            f"{mode}-connection-refused",
            None,
            502,
            "provider_connection_error",
            "could not connect to the provider",
            None,
            address="refused",
        ),
        Fault(
            f"{mode}-connect-timeout",
            None,
            504,
            "provider_timeout",
            "connecting to the provider timed out",
            None,
            address="unaccepting",
            attempt_s=CONNECT_S,
        ),
        Fault(
            f"{mode}-slow-first-byte",
            delay(3 * FIRST_BYTE_S),
            504,
            "provider_timeout",
            "the provider did not answer in time",
            None,
            attempt_s=FIRST_BYTE_S,
        ),
    ]


def status_faults(mode: str) -> list[Fault]:
    return [
        rate_limited(mode, 1),
        rate_limited(mode, None),
        unavailable(mode, 500, "The server had an error"),
        unavailable(mode, 502, "Bad gateway."),
        unavailable(mode, 503, "The engine is currently overloaded"),
    ]


BROKEN = "provider_invalid_response"

BEFORE_FIRST_BYTE = [
    *status_faults("plain"),
    *address_faults("plain"),
    Fault(
        "plain-reset-mid-body",
        reset(after_bytes=64),
        502,
        "provider_connection_error",
        "the connection to the provider broke",
        200,
    ),
    Fault(
        "plain-stall-mid-body",
        stall(3 * STALL_S, after_bytes=64),
        504,
        "provider_timeout",
        "the provider did not answer in time",
        200,
        attempt_s=STALL_S,
    ),
    Fault(
        "plain-cut-mid-body",
        cut(after_bytes=64),
        502,
        "provider_connection_error",
        "the connection to the provider broke",
        200,
    ),
    Fault("plain-malformed-json", malformed_json(), 502, BROKEN, "invalid JSON", 200),
    Fault(
        "plain-wrong-content-type",
        wrong_content_type(),
        502,
        BROKEN,
        "the provider answered text/html; charset=utf-8, not JSON",
        200,
    ),
    Fault(
        "plain-error-in-200-body",
        error_in_body(),
        502,
        # An error object inside a 200 is read by its type: a server error here.
        "provider_unavailable",
        "The server had an error while processing your request",
        200,
    ),
    Fault(
        "plain-oversized",
        oversized(4 * MAX_RESPONSE_BYTES / 2**20),
        502,
        BROKEN,
        f"response larger than {MAX_RESPONSE_BYTES} bytes",
        200,
        retried=False,
    ),
    *status_faults("stream"),
    *address_faults("stream"),
    Fault(
        "stream-reset-before-first-chunk",
        reset(after_events=0),
        502,
        "provider_connection_error",
        "the connection to the provider broke",
        200,
    ),
    Fault(
        "stream-stall-before-first-chunk",
        stall(3 * STALL_S, after_events=0),
        504,
        "provider_timeout",
        "the provider did not answer in time",
        200,
        attempt_s=STALL_S,
    ),
    Fault(
        "stream-cut-before-first-chunk",
        cut(after_events=0, http_complete=True),
        502,
        BROKEN,
        "the provider's stream ended before it was complete",
        200,
    ),
    Fault(
        "stream-malformed-first-event",
        malformed_event(after_events=0),
        502,
        BROKEN,
        "the provider sent a malformed chunk",
        200,
    ),
    Fault(
        "stream-wrong-content-type",
        wrong_content_type(),
        502,
        BROKEN,
        "the provider answered text/html; charset=utf-8, not an event stream",
        200,
    ),
    Fault(
        "stream-error-event-first",
        error_in_body(after_events=0),
        502,
        # Read by the error's type, as for an error body inside a 200.
        "provider_unavailable",
        "The server had an error while processing your request",
        200,
    ),
]


@dataclass(frozen=True)
class StreamBreak:
    """A stream failing after its first chunk reached the client."""

    id: str
    behaviour: Behaviour
    # The error type of the failure (the error event's details.cause, the attempt's
    # error type).
    cause: str
    message: str
    least_s: float = 0.0


AFTER_FIRST_CHUNK = [
    StreamBreak(
        "reset-mid-stream",
        reset(after_events=3),
        "provider_connection_error",
        "the connection to the provider broke",
    ),
    StreamBreak(
        "stall-mid-stream",
        stall(3 * STALL_S, after_events=3),
        "provider_timeout",
        "the provider did not answer in time",
        least_s=STALL_S,
    ),
    StreamBreak(
        "cut-mid-stream",
        cut(after_events=3),
        "provider_connection_error",
        "the connection to the provider broke",
    ),
    StreamBreak(
        "cut-mid-stream-http-complete",
        cut(after_events=3, http_complete=True),
        BROKEN,
        "the provider's stream ended before it was complete",
    ),
    StreamBreak(
        "malformed-event-mid-stream",
        malformed_event(after_events=3),
        BROKEN,
        "the provider sent a malformed chunk",
    ),
    StreamBreak(
        "error-event-mid-stream",
        error_in_body(after_events=3),
        "provider_unavailable",
        "The server had an error while processing your request",
    ),
]

TOPOLOGIES = ("solo", "pair")


def route_name(case_id: str, topology: str) -> str:
    return f"{case_id}-{topology}"


def fault_config(failing: str, backup: str, refused: str, unaccepting: str) -> str:
    """One provider entry and one route per case and topology: ``solo`` has the
    failing target alone, ``pair`` falls back to the backup."""
    addresses = {"fake": failing, "refused": refused, "unaccepting": unaccepting}
    providers = {"backup": provider_entry(backup)}
    models: dict[str, Any] = {}
    cases = [(c.id, c.address) for c in BEFORE_FIRST_BYTE]
    cases += [(c.id, "fake") for c in AFTER_FIRST_CHUNK]
    for case_id, address in cases:
        for topology in TOPOLOGIES:
            name = route_name(case_id, topology)
            providers[name] = provider_entry(addresses[address])
            models[name] = route_entry(name, topology)

    for name in ("breaker", "report-solo", "report-pair"):
        providers[name] = provider_entry(failing)
    models["breaker"] = route_entry("breaker", "pair")
    models["breaker"]["routing"] = {
        "retries": 0,
        "circuit_breaker": {"failures": 1, "window_s": 60, "cooldown_s": 300},
    }
    models["report-solo"] = route_entry("report-solo", "solo")
    models["report-pair"] = route_entry("report-pair", "pair")
    document = {"providers": providers, "routing": ROUTING, "models": models}
    return yaml.safe_dump(document, sort_keys=False)


def provider_entry(url: str) -> dict[str, str]:
    return {
        "type": "openai",
        "base_url": f"{url}/v1",
        "api_key_env": "FAKE_PROVIDER_KEY",
    }


def route_entry(name: str, topology: str) -> dict[str, Any]:
    targets = [{"provider": name, "model": MODEL}]
    if topology == "pair":
        targets.append({"provider": "backup", "model": MODEL})
    return {"targets": targets}


@pytest.fixture(scope="module")
def failing() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def backup() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, failing: FakeServer, backup: FakeServer
) -> Iterator[GatewayServer]:
    with refused_port() as refused, unaccepting_port() as unaccepting:
        config = fault_config(
            failing.url,
            backup.url,
            f"http://127.0.0.1:{refused}",
            f"http://127.0.0.1:{unaccepting}",
        )
        env = {
            "FAKE_PROVIDER_KEY": "sk-fake-provider-key",
            "GATEWAY_MAX_RESPONSE_BYTES": str(MAX_RESPONSE_BYTES),
        }
        gateway = GatewayServer(tmp_path_factory.mktemp("faults"), config, env)
        gateway.start()
        yield gateway
        gateway.stop()


@pytest.fixture(scope="module")
def key(server: GatewayServer) -> str:
    return server.create_key()


@pytest.fixture
def fakes(failing: FakeServer, backup: FakeServer) -> tuple[FakeServer, FakeServer]:
    """Both fakes with nothing queued and nothing recorded; the backup answers."""
    failing.reset()
    backup.reset()
    backup.set_default(reply(BACKUP_ANSWER))
    return failing, backup


def connect_sdk(
    server: GatewayServer, key: str
) -> tuple[openai.OpenAI, RecordingTransport]:
    """An SDK client with a connection pool of its own, and what it will record."""
    transport = RecordingTransport()
    sdk = openai.OpenAI(
        base_url=server.url + "/v1",
        api_key=key,
        max_retries=0,
        timeout=30,
        http_client=httpx2.Client(transport=transport),
    )
    return sdk, transport


@dataclass
class Outcome:
    """What the client saw of one call."""

    transport: RecordingTransport
    seconds: float = 0.0
    pieces: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    error: openai.APIError | None = None

    @property
    def content(self) -> str:
        return "".join(self.pieces)

    @property
    def exchange(self) -> Exchange:
        return self.transport.last


def chat(
    server: GatewayServer, key: str, model: str, stream: bool, workflow: str
) -> Outcome:
    """One chat call through the SDK on a connection of its own."""
    sdk, transport = connect_sdk(server, key)
    outcome = Outcome(transport)
    started = time.monotonic()
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model=model,
            messages=[{"role": "user", "content": PROMPT}],
            stream=stream,
            extra_headers={"X-Workflow-Id": workflow},
        )
        outcome.headers = dict(raw.headers)
        if stream:
            for chunk in raw.parse():
                outcome.pieces.extend(c.delta.content or "" for c in chunk.choices)
        else:
            outcome.pieces.append(raw.parse().choices[0].message.content or "")
    except openai.APIError as failure:
        outcome.error = failure
    finally:
        outcome.seconds = time.monotonic() - started
        sdk.close()

    return outcome


def the_one_row(server: GatewayServer, workflow: str) -> dict[str, Any]:
    """The call's request row with its ``attempt_list``, after checking it is the
    only row the call wrote."""
    rows = server.wait_for_rows(1, workflow_id=workflow)
    assert len(rows) == 1
    time.sleep(SECOND_ROW_PAUSE_S)
    again = server.admin_get("/admin/requests", workflow_id=workflow)["data"]
    assert [row["id"] for row in again] == [rows[0]["id"]]

    detail = server.admin_get(f"/admin/requests/{rows[0]['id']}")
    assert detail["attempts"] == len(detail["attempt_list"])
    return detail


def steps(attempts: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [
        (a["target"], a["kind"], a["outcome"], a["status"], a["error_type"])
        for a in attempts
    ]


def check_failed_attempts(fault: Fault, attempts: list[dict[str, Any]]) -> None:
    """The waits and durations of the attempts on the failing target."""
    assert attempts[0]["wait_ms"] == 0
    for number, attempt in enumerate(attempts[1:], start=1):
        if fault.asked_wait_s is not None:
            assert attempt["wait_ms"] == pytest.approx(fault.asked_wait_s * 1000, abs=1)
        else:
            # Full jitter: anywhere up to the exponential ceiling, never nothing.
            ceiling = BACKOFF_BASE_S * 2 ** (number - 1) * 1000
            assert 0 < attempt["wait_ms"] <= ceiling
    for attempt in attempts:
        assert attempt["latency_ms"] >= fault.attempt_s * 1000 - 20
        assert attempt["latency_ms"] <= (fault.attempt_s + SLACK_S) * 1000


def tries(fault: Fault) -> int:
    """Attempts on the failing target: the first and its retries."""
    return RETRIES + 1 if fault.retried else 1


def failing_steps(fault: Fault, target: str, last: str) -> list[tuple[Any, ...]]:
    failed = (fault.upstream_status, fault.error_type)
    kinds = ["first", *["retry"] * (tries(fault) - 1)]
    outcomes = [*["retried"] * (tries(fault) - 1), last]
    return [
        (target, kind, outcome, *failed)
        for kind, outcome in zip(kinds, outcomes, strict=True)
    ]


def least_duration(fault: Fault) -> float:
    waits = (tries(fault) - 1) * (fault.asked_wait_s or 0)
    return waits + tries(fault) * fault.attempt_s


@pytest.mark.parametrize("fault", BEFORE_FIRST_BYTE, ids=lambda fault: fault.id)
def test_failure_before_the_first_byte_is_retried_then_reaches_the_client(
    server: GatewayServer, key: str, fakes: tuple[FakeServer, FakeServer], fault: Fault
) -> None:
    failing, backup = fakes
    if fault.behaviour is not None:
        failing.set_default(fault.behaviour)
    route = route_name(fault.id, "solo")
    target = f"{route}/{MODEL}"

    outcome = chat(server, key, route, fault.stream, route)

    failure = outcome.error
    assert isinstance(failure, openai.APIStatusError)
    assert failure.status_code == fault.status
    assert failure.body["type"] == fault.error_type
    assert failure.body["provider"] == route
    assert failure.body["message"].startswith(f"{route}: ")
    assert fault.message in failure.body["message"]
    assert outcome.exchange.events() == []

    row = the_one_row(server, route)
    assert failure.body["request_id"] == row["id"]
    assert failure.response.headers["x-request-id"] == row["id"]
    assert (row["status"], row["error_type"], row["target"]) == (
        fault.status,
        fault.error_type,
        target,
    )
    attempts = row["attempt_list"]
    assert steps(attempts) == failing_steps(fault, target, last="failed")
    check_failed_attempts(fault, attempts)
    assert least_duration(fault) <= outcome.seconds <= TOTAL_S

    assert len(failing.requests()) == (tries(fault) if fault.address == "fake" else 0)
    assert backup.requests() == []


@pytest.mark.parametrize("fault", BEFORE_FIRST_BYTE, ids=lambda fault: fault.id)
def test_failure_before_the_first_byte_falls_back_to_the_next_target(
    server: GatewayServer, key: str, fakes: tuple[FakeServer, FakeServer], fault: Fault
) -> None:
    failing, backup = fakes
    if fault.behaviour is not None:
        failing.set_default(fault.behaviour)
    route = route_name(fault.id, "pair")
    target = f"{route}/{MODEL}"

    outcome = chat(server, key, route, fault.stream, route)

    assert outcome.error is None
    assert outcome.content == BACKUP_ANSWER
    assert outcome.headers["x-gateway-target"] == BACKUP
    assert outcome.headers["x-gateway-attempts"] == str(tries(fault) + 1)
    if fault.stream:
        assert outcome.exchange.events()[-1] == b"[DONE]"

    row = the_one_row(server, route)
    assert outcome.headers["x-request-id"] == row["id"]
    assert (row["status"], row["error_type"], row["target"]) == (200, None, BACKUP)
    attempts = row["attempt_list"]
    assert steps(attempts) == [
        *failing_steps(fault, target, last="fell_back"),
        (BACKUP, "fallback", "success", 200, None),
    ]
    check_failed_attempts(fault, attempts[:-1])
    assert attempts[-1]["wait_ms"] == 0
    assert least_duration(fault) <= outcome.seconds <= TOTAL_S

    assert len(failing.requests()) == (tries(fault) if fault.address == "fake" else 0)
    assert len(backup.requests()) == 1


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("fault", AFTER_FIRST_CHUNK, ids=lambda fault: fault.id)
def test_failure_after_the_first_chunk_ends_the_stream_with_an_error_event(
    server: GatewayServer,
    key: str,
    fakes: tuple[FakeServer, FakeServer],
    fault: StreamBreak,
    topology: str,
) -> None:
    failing, backup = fakes
    failing.set_default(fault.behaviour)
    route = route_name(fault.id, topology)
    target = f"{route}/{MODEL}"

    outcome = chat(server, key, route, True, route)

    failure = outcome.error
    assert type(failure) is openai.APIError
    assert outcome.content and FULL_ANSWER.startswith(outcome.content)
    assert outcome.content != FULL_ANSWER
    events = outcome.exchange.events()
    assert b"[DONE]" not in events
    assert failure.body == orjson.loads(events[-1])["error"]
    assert failure.body["type"] == "provider_stream_error"
    assert failure.body["details"] == {"cause": fault.cause}
    assert fault.message in failure.body["message"]
    assert outcome.exchange.status == 200
    assert outcome.headers["x-gateway-target"] == target

    row = the_one_row(server, route)
    assert failure.body["request_id"] == row["id"]
    assert (row["status"], row["error_type"], row["target"]) == (
        502,
        "provider_stream_error",
        target,
    )
    assert row["tokens_estimated"] == 1
    assert row["completion_tokens"] == count_text_tokens(outcome.content, MODEL)
    assert steps(row["attempt_list"]) == [(target, "first", "failed", 200, fault.cause)]
    assert fault.least_s <= outcome.seconds <= fault.least_s + SLACK_S

    assert len(failing.requests()) == 1
    assert backup.requests() == []


def call_on_a_fresh_connection(
    server: GatewayServer, key: str, model: str
) -> tuple[int, list[tuple[Any, ...]]]:
    """One non-streamed call through the SDK on a connection of its own; returns
    the worker that served it (found while the connection is kept alive) and the
    steps of its attempts."""
    sdk, transport = connect_sdk(server, key)
    try:
        raw = sdk.chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": PROMPT}]
        )
        assert raw.parse().choices[0].message.content == BACKUP_ANSWER
        port = transport.last.client_port
        assert port is not None
        assert server.process is not None
        pid = serving_pid(server.process.pid, server.port, port)
    finally:
        sdk.close()

    return pid, steps(
        request_detail(server, raw.headers["x-request-id"])["attempt_list"]
    )


def request_detail(server: GatewayServer, request_id: str) -> dict[str, Any]:
    """``GET /admin/requests/<id>`` once the row is written (rows are batched)."""
    deadline = time.monotonic() + 10
    while True:
        response = requests.get(
            f"{server.url}/admin/requests/{request_id}", headers=ADMIN, timeout=10
        )
        if response.status_code != 404 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()
        time.sleep(0.05)


def test_circuit_breaker_state_is_shared_by_the_workers(
    server: GatewayServer, key: str, fakes: tuple[FakeServer, FakeServer]
) -> None:
    """One worker's failed call opens the breaker (``failures: 1``); calls on new
    connections, until the other worker has served some, all skip the target."""
    failing, backup = fakes
    failing.set_default(error(500, "the breaker's target is down"))
    target = f"breaker/{MODEL}"

    opener, opened = call_on_a_fresh_connection(server, key, "breaker")
    assert opened == [
        (target, "first", "fell_back", 500, "provider_unavailable"),
        (BACKUP, "fallback", "success", 200, None),
    ]
    # Each worker re-reads the shared breaker table at most this often.
    time.sleep(REFRESH_SECONDS + 0.1)

    served_by: Counter[int] = Counter()
    while len(served_by) < 2 and sum(served_by.values()) < 60:
        pid, skipped = call_on_a_fresh_connection(server, key, "breaker")
        served_by[pid] += 1
        assert skipped == [
            (target, "first", "skipped", None, "cooling_down"),
            (BACKUP, "fallback", "success", 200, None),
        ]

    assert set(served_by) == worker_pids(server.process.pid)
    assert served_by[opener] < sum(served_by.values())
    assert len(failing.requests()) == 1


def test_routing_report_adds_up_to_the_request_rows(
    server: GatewayServer, key: str, fakes: tuple[FakeServer, FakeServer]
) -> None:
    """After a mixed run (and whatever else this module ran on the gateway), every
    number of ``GET /admin/routing`` is the sum of the recorded attempts."""
    failing, _ = fakes
    solo, pair = f"report-solo/{MODEL}", f"report-pair/{MODEL}"
    failing.queue(error(500, "a passing failure"))
    assert chat(server, key, "report-solo", False, "report-1").error is None
    failing.queue(error(400, "temperature is out of range"))
    assert chat(server, key, "report-solo", False, "report-2").error is not None
    failing.queue(error(429, "come back in a minute", retry_after=60))
    assert chat(server, key, "report-pair", False, "report-3").error is None
    time.sleep(REFRESH_SECONDS + 0.1)
    assert chat(server, key, "report-pair", False, "report-4").error is None
    failing.queue(cut(after_events=3))
    assert chat(server, key, "report-solo", True, "report-5").error is not None
    for number in range(1, 6):
        the_one_row(server, f"report-{number}")

    details = [request_detail(server, row["id"]) for row in all_rows(server)]
    report = server.admin_get("/admin/routing")

    expected = tally_targets(details)
    targets = {row["target"]: row for row in report["targets"]}
    assert set(targets) == set(expected)
    for target, numbers in expected.items():
        wait_ms = numbers.pop("wait_ms")
        assert targets[target]["wait_ms"] == pytest.approx(wait_ms, abs=0.01)
        assert {name: targets[target][name] for name in numbers} == numbers, target
    for provider in report["providers"]:
        mine = [
            row for row in report["targets"] if row["provider"] == provider["provider"]
        ]
        assert provider["attempts"] == sum(row["attempts"] for row in mine)
        assert provider["failures"] == sum(row["failures"] for row in mine)
    with_failures = [
        d for d in details if any(is_failure(a) for a in d["attempt_list"])
    ]
    assert report["requests_with_failures"] == len(with_failures)
    assert report["failures_absorbed"] == sum(d["status"] < 400 for d in with_failures)
    assert {
        name: targets[solo][name] for name in ("attempts", "successes", "retries")
    } == {
        "attempts": 4,
        "successes": 1,
        "retries": 1,
    }
    assert targets[solo]["errors"] == {
        "provider_unavailable": 1,
        "invalid_request_error": 1,
        "provider_connection_error": 1,
    }
    assert targets[pair]["errors"] == {"provider_rate_limited": 1, "cooling_down": 1}
    assert (targets[pair]["fell_back_from"], targets[pair]["skipped"]) == (1, 1)
    assert targets[pair]["cooldowns"] == {"cooled": 1}


def all_rows(server: GatewayServer) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cursor: dict[str, str] = {}
    while True:
        page = server.admin_get("/admin/requests", limit=1000, **cursor)
        rows.extend(page["data"])
        if not page["has_more"]:
            return rows
        cursor = {"cursor": page["next_cursor"]}


FAILED_OUTCOMES = ("failed", "retried", "fell_back")


def is_failure(attempt: dict[str, Any]) -> bool:
    return attempt["outcome"] in (*FAILED_OUTCOMES, "skipped")


def tally_targets(details: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per target, the report's numbers counted from the requests' attempt lists."""
    targets: dict[str, dict[str, Any]] = defaultdict(
        lambda: {
            "attempts": 0,
            "successes": 0,
            "failures": 0,
            "retries": 0,
            "fallback_attempts": 0,
            "fell_back_from": 0,
            "skipped": 0,
            "wait_ms": 0.0,
            "errors": Counter(),
        }
    )
    for detail in details:
        for attempt in detail["attempt_list"]:
            numbers = targets[attempt["target"]]
            outcome, made = attempt["outcome"], attempt["outcome"] != "skipped"
            numbers["attempts"] += made
            numbers["successes"] += outcome == "success"
            numbers["failures"] += outcome in FAILED_OUTCOMES
            numbers["retries"] += made and attempt["kind"] == "retry"
            numbers["fallback_attempts"] += made and attempt["kind"] == "fallback"
            numbers["fell_back_from"] += outcome == "fell_back"
            numbers["skipped"] += not made
            numbers["wait_ms"] += attempt["wait_ms"]
            if attempt["error_type"] is not None:
                numbers["errors"][attempt["error_type"]] += 1

    return {
        target: {**numbers, "errors": dict(numbers["errors"])}
        for target, numbers in targets.items()
    }
