"""The circuit breaker on a real SQLite store, with a hand-driven clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.routing.breaker import Breaker
from gateway.routing.policy import (
    ALIVE,
    FAILURE,
    SUCCESS,
    UNKNOWN,
    BreakerPolicy,
    Verdict,
)
from gateway.storage.sqlite import SQLiteStore

POLICY = BreakerPolicy(failures=2, window=60.0, cooldown=30.0)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    store = SQLiteStore(str(tmp_path / "breaker.db"))
    store.migrate()
    yield store
    store.close()


def opened(store: SQLiteStore, clock: Clock) -> Breaker:
    """A breaker whose target ``t`` failed until it opened, then cooled down."""
    breaker = Breaker(store, clock)
    for _ in range(POLICY.failures):
        breaker.judge("t", POLICY, Verdict(FAILURE, "server_error"))
    assert breaker.admit("t") == "cooling_down"
    clock.now += POLICY.cooldown + 1
    return breaker


def test_failures_open_then_one_probe_closes(store: SQLiteStore, clock: Clock) -> None:
    breaker = opened(store, clock)
    other_worker = Breaker(store, clock)

    assert breaker.admit("t") is None  # the probe
    assert other_worker.admit("t") == "cooling_down"
    breaker.judge("t", POLICY, Verdict(SUCCESS))
    clock.now += 2  # past the other worker's refresh
    assert other_worker.admit("t") is None


def test_a_refusal_is_an_answer_and_closes_the_probe(
    store: SQLiteStore, clock: Clock
) -> None:
    breaker = opened(store, clock)

    assert breaker.admit("t") is None
    breaker.judge("t", POLICY, Verdict(ALIVE, "invalid_request_error"))
    clock.now += 2

    assert Breaker(store, clock).admit("t") is None


def test_a_refusal_while_closed_forgets_no_failures(
    store: SQLiteStore, clock: Clock
) -> None:
    breaker = Breaker(store, clock)
    breaker.judge("t", POLICY, Verdict(FAILURE, "server_error"))
    breaker.judge("t", POLICY, Verdict(ALIVE, "invalid_request_error"))
    breaker.judge("t", POLICY, Verdict(FAILURE, "server_error"))

    assert breaker.admit("t") == "cooling_down"


def test_a_probe_that_taught_nothing_is_handed_on_at_once(
    store: SQLiteStore, clock: Clock
) -> None:
    breaker = opened(store, clock)
    other_worker = Breaker(store, clock)

    assert breaker.admit("t") is None
    breaker.judge("t", POLICY, Verdict(UNKNOWN, "client_disconnected"))
    clock.now += 2

    # Not held until the probe times out (two minutes): the next call probes.
    assert other_worker.admit("t") is None
    assert breaker.admit("t") == "cooling_down"
