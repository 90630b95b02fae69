"""The control store's contract, held by both backends (SQLite and real Redis)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis
from limits import RateLimitItemPerMinute
from limits.strategies import FixedWindowRateLimiter

from gateway.control.redis_store import RedisControlStore
from gateway.control.store import Claim, CounterState, Settlement
from tests.control.conftest import REDIS_URL

NOW = 1_700_000_000.0
LEASE = NOW + 600


def test_a_reservation_within_the_ceiling_is_held(control_store: Any) -> None:
    outcome = control_store.reserve("r1", [Claim("c", 40, 100)], LEASE, NOW)

    assert outcome.held
    assert control_store.read_counters(["c"]) == [CounterState(spent=0, reserved=40)]


def test_a_reservation_that_would_pass_the_ceiling_is_refused_with_the_counter_state(
    control_store: Any,
) -> None:
    control_store.reserve("r1", [Claim("c", 60, 100)], LEASE, NOW)

    outcome = control_store.reserve("r2", [Claim("c", 41, 100)], LEASE, NOW)

    assert outcome.refused == 0 and not outcome.held
    assert outcome.state == CounterState(spent=0, reserved=60)
    assert control_store.read_counters(["c"]) == [CounterState(0, 60)]


def test_reserving_exactly_up_to_the_ceiling_is_allowed(control_store: Any) -> None:
    assert control_store.reserve("r1", [Claim("c", 60, 100)], LEASE, NOW).held
    assert control_store.reserve("r2", [Claim("c", 40, 100)], LEASE, NOW).held
    assert not control_store.reserve("r3", [Claim("c", 1, 100)], LEASE, NOW).held


def test_claims_are_all_or_nothing(control_store: Any) -> None:
    control_store.reserve("r0", [Claim("b", 95, 100)], LEASE, NOW)

    outcome = control_store.reserve(
        "r1",
        [Claim("a", 10, 100), Claim("b", 10, 100), Claim("c", 10, 100)],
        LEASE,
        NOW,
    )

    assert outcome.refused == 1
    assert control_store.read_counters(["a", "b", "c"]) == [
        None,
        CounterState(0, 95),
        None,
    ]


def test_a_missing_backfill_counter_is_reported_then_opened_with_past_spend(
    control_store: Any,
) -> None:
    claim = Claim("budget", 30, 100, backfill=True)

    first = control_store.reserve("r1", [Claim("slot", 1, 5), claim], LEASE, NOW)
    slot_after_first = control_store.read_counters(["slot"])
    control_store.open_counter("budget", 50, None)
    control_store.open_counter("budget", 999, None)
    second = control_store.reserve("r1", [Claim("slot", 1, 5), claim], LEASE, NOW)
    third = control_store.reserve("r2", [claim], LEASE, NOW)

    assert first.missing == 1
    assert slot_after_first in ([None], [CounterState(0, 0)])
    assert second.held
    assert third.refused == 0 and third.state == CounterState(spent=50, reserved=30)


def test_release_turns_the_reservation_into_actual_spend(control_store: Any) -> None:
    control_store.reserve("r1", [Claim("c", 40, 100), Claim("slot", 1, 2)], LEASE, NOW)
    control_store.reserve("r2", [Claim("c", 40, 100)], LEASE, NOW)

    states = control_store.release("r1", [Settlement("c", 7), Settlement("slot", 0)])

    assert states == [CounterState(spent=7, reserved=40), CounterState(0, 0)]


def test_releasing_twice_frees_the_reservation_once_but_adds_spend_each_time(
    control_store: Any,
) -> None:
    control_store.reserve("r1", [Claim("c", 40, 100)], LEASE, NOW)
    control_store.reserve("r2", [Claim("c", 40, 100)], LEASE, NOW)

    control_store.release("r1", [Settlement("c", 0)])
    states = control_store.release("r1", [Settlement("c", 0)])

    assert states == [CounterState(spent=0, reserved=40)]


def test_an_expired_lease_is_swept_back_into_its_counter(control_store: Any) -> None:
    control_store.reserve("crashed", [Claim("c", 90, 100)], NOW + 10, NOW)

    refused = control_store.reserve("r1", [Claim("c", 20, 100)], LEASE, NOW + 5)
    later = control_store.reserve("r2", [Claim("c", 20, 100)], LEASE + 20, NOW + 20)
    settled_late = control_store.release("crashed", [Settlement("c", 3)])

    assert refused.refused == 0
    assert later.held
    assert settled_late == [CounterState(spent=3, reserved=20)]


def test_claim_once_is_granted_once(control_store: Any) -> None:
    assert control_store.claim_once("alert:b:k:2026-03-01:80", None) is True
    assert control_store.claim_once("alert:b:k:2026-03-01:80", None) is False
    assert control_store.claim_once("alert:b:k:2026-04-01:80", time.time() + 60) is True


def test_concurrent_reservations_never_pass_the_ceiling(control_store: Any) -> None:
    held: list[bool] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def reserve(number: int) -> None:
        barrier.wait()
        outcome = control_store.reserve(f"r{number}", [Claim("c", 30, 100)], LEASE, NOW)
        with lock:
            held.append(outcome.held)

    threads = [threading.Thread(target=reserve, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert held.count(True) == 3
    assert control_store.read_counters(["c"]) == [CounterState(0, 90)]


def test_the_limits_library_counts_fixed_windows_in_the_store(
    control_store: Any,
) -> None:
    limiter = FixedWindowRateLimiter(control_store.limiter_storage)
    item = RateLimitItemPerMinute(3)

    results = [limiter.hit(item, "key", "k1", "requests") for _ in range(4)]
    stats = limiter.get_window_stats(item, "key", "k1", "requests")
    other = limiter.hit(item, "key", "k2", "requests")

    assert results == [True, True, True, False]
    assert stats.remaining == 0
    assert time.time() < stats.reset_time <= time.time() + 60
    assert other is True


def test_a_window_takes_a_correction_by_a_negative_amount(control_store: Any) -> None:
    storage = control_store.limiter_storage
    key = RateLimitItemPerMinute(1000).key_for("key", "k1", "tokens")

    storage.incr(key, 60, amount=800)
    storage.incr(key, 60, amount=-650)

    assert storage.get(key) == 150


@pytest.mark.parametrize("amount", [0, 1])
def test_a_new_plain_counter_is_created_on_first_reservation(
    control_store: Any, amount: int
) -> None:
    assert control_store.reserve("r1", [Claim("slot", amount, 1)], LEASE, NOW).held
    assert control_store.read_counters(["slot"]) == [CounterState(0, amount)]


def sent_to_redis(prefix: str, work: Any) -> list[str]:
    """The commands clients sent Redis (not those of its Lua scripts) that name a
    key under ``prefix`` while ``work`` ran, read from MONITOR."""
    client = redis.Redis.from_url(REDIS_URL)
    marker = f"{prefix}:end-of-work"
    with client.monitor() as monitor:
        work()
        client.echo(marker)
        commands = []
        while True:
            command = monitor.next_command()
            if marker in command["command"]:
                break
            if command["client_type"] != "lua" and prefix in command["command"]:
                commands.append(command["command"])
    client.close()
    return commands


def test_redis_claims_and_new_counters_get_their_expiry_in_the_same_command(
    redis_prefix: str,
) -> None:
    """A claim or counter set without its expiry (a worker dying between two
    commands) would never be dropped: each must be one command."""
    store = RedisControlStore(REDIS_URL, redis_prefix)
    expires = int(time.time()) + 3600
    store.open_counter("warm-up", 0, None)  # loads the script, so EVALSHA runs once

    sent = sent_to_redis(
        redis_prefix,
        lambda: (
            store.claim_once("alert:b:k:2030-03-01:80", expires),
            store.open_counter("budget:b:k:2030-03-01", 5, expires),
        ),
    )

    client = redis.Redis.from_url(REDIS_URL)
    claim_key = f"{redis_prefix}:claim:alert:b:k:2030-03-01:80"
    counter_key = f"{redis_prefix}:counter:budget:b:k:2030-03-01"
    assert [command.split()[0] for command in sent] == ["SET", "EVALSHA"]
    assert client.expiretime(claim_key) == expires
    assert client.expiretime(counter_key) == expires
    assert store.claim_once("alert:b:k:2030-03-01:80", expires) is False
    store.open_counter("budget:b:k:2030-03-01", 999, expires + 60)
    assert store.read_counters(["budget:b:k:2030-03-01"]) == [CounterState(5, 0)]
    assert client.expiretime(counter_key) == expires
    assert store.claim_once("alert:no-expiry", None) is True
    assert client.expiretime(f"{redis_prefix}:claim:alert:no-expiry") == -1
    client.close()
    store.close()
