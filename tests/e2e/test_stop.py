"""A graceful stop of the real gateway (SIGTERM to gunicorn's master, as a supervisor
sends it): idle keep-alive connections do not hold it up; calls in flight finish,
are recorded, and close their connections."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.fakes import FakeServer
from tests.fakes.behaviours import delay

from .sockets import serving_pid

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.fakes.plugin"]

CONFIG = """
providers:
  oai:
    type: openai
    base_url: {url}/v1
    api_key_env: FAKE_PROVIDER_KEY
models:
  gpt:
    provider: oai
    model: gpt-4o-mini
"""

# Well under gunicorn's graceful_timeout (30 s): a stop this quick did not sit it out.
PROMPT_STOP_S = 10

MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def server(gateway_server: Any, fake_provider: FakeServer) -> Any:
    return gateway_server(
        CONFIG.format(url=fake_provider.url), {"FAKE_PROVIDER_KEY": "sk-fake"}
    )


@pytest.fixture
def sdk(server: Any) -> Iterator[openai.OpenAI]:
    """The official client, whose pool keeps each connection open between calls."""
    client = openai.OpenAI(
        base_url=server.url + "/v1", api_key=server.create_key(), max_retries=0
    )
    yield client
    client.close()


def stop_master(server: Any) -> float:
    """SIGTERM gunicorn's master alone and wait for it to exit 0; return the seconds
    that took."""
    started = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    assert server.process.wait(timeout=40) == 0
    return time.monotonic() - started


def recorded_statuses(server: Any) -> dict[str, int]:
    """Request id to status of every row in the request log, read from the file."""
    database = sqlite3.connect(server.database)
    try:
        return dict(database.execute("SELECT id, status FROM requests"))
    finally:
        database.close()


def wait_for_provider_call(fake_provider: FakeServer) -> None:
    deadline = time.monotonic() + 10
    while not fake_provider.requests():
        assert time.monotonic() < deadline, "the call never reached the provider"
        time.sleep(0.05)


def test_an_idle_keep_alive_connection_does_not_hold_up_a_graceful_stop(
    server: Any, sdk: openai.OpenAI
) -> None:
    raw = sdk.chat.completions.with_raw_response.create(model="gpt", messages=MESSAGES)
    completion = raw.parse()

    seconds = stop_master(server)

    assert completion.choices[0].message.content
    assert raw.headers["connection"] == "keep-alive"
    assert seconds < PROMPT_STOP_S
    assert recorded_statuses(server) == {raw.headers["x-request-id"]: 200}


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_call_in_flight_at_a_graceful_stop_finishes_and_is_recorded(
    server: Any, sdk: openai.OpenAI, fake_provider: FakeServer, stream: bool
) -> None:
    fake_provider.queue(delay(2.0))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(
            sdk.chat.completions.with_raw_response.create,
            model="gpt",
            messages=MESSAGES,
            stream=stream,
        )
        wait_for_provider_call(fake_provider)
        seconds = stop_master(server)
        raw = call.result()
    answer = raw.parse()
    text = (
        "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
        if stream
        else answer.choices[0].message.content
    )

    assert raw.status_code == 200 and text
    # Its answer had not started when the stop began, so it tells the client not to
    # send another request on this connection.
    assert raw.headers["connection"] == "close"
    assert seconds < PROMPT_STOP_S
    assert recorded_statuses(server) == {raw.headers["x-request-id"]: 200}


def test_a_request_already_sent_when_the_stop_begins_is_answered(server: Any) -> None:
    # The worker is frozen while the next request arrives on its idle connection and
    # the stop is signalled, so it wakes to both at once: the request must be
    # answered, not taken for an idle wait and cut off.
    body = json.dumps({"model": "gpt", "messages": MESSAGES})
    headers = {
        "Authorization": f"Bearer {server.create_key()}",
        "Content-Type": "application/json",
    }
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("POST", "/v1/chat/completions", body, headers)
    first = connection.getresponse()
    first.read()
    worker = serving_pid(
        server.process.pid, server.port, connection.sock.getsockname()[1]
    )

    os.kill(worker, signal.SIGSTOP)
    try:
        connection.request("POST", "/v1/chat/completions", body, headers)
        started = time.monotonic()
        os.kill(server.process.pid, signal.SIGTERM)
        time.sleep(0.5)  # the master passes the SIGTERM on to the frozen worker
    finally:
        os.kill(worker, signal.SIGCONT)
    second = connection.getresponse()
    second.read()
    assert server.process.wait(timeout=40) == 0
    seconds = time.monotonic() - started
    connection.close()

    assert first.status == 200 and first.getheader("connection") == "keep-alive"
    assert second.status == 200 and second.getheader("connection") == "close"
    assert seconds < PROMPT_STOP_S
    assert recorded_statuses(server) == {
        first.getheader("x-request-id"): 200,
        second.getheader("x-request-id"): 200,
    }
