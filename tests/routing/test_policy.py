"""The pure routing decisions, as tables."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import pytest

from gateway import errors
from gateway.routing.policy import (
    ALIVE,
    COOLED,
    FAILURE,
    SUCCESS,
    UNKNOWN,
    Overrides,
    RetryPolicy,
    TargetLoad,
    breaker_verdict,
    is_context_too_small,
    order_level,
    retry_delay,
    select_levels,
    should_fall_back,
    should_retry,
)

POLICY = RetryPolicy(max_retries=2, backoff_base=0.5, backoff_cap=4.0, max_wait=10.0)


@pytest.mark.parametrize(
    ("error", "retries_done", "delay", "waited", "expected"),
    [
        (errors.ProviderRateLimitError("x"), 0, 1.0, 0.0, True),
        (errors.ProviderUnavailableError("x"), 1, 1.0, 0.0, True),
        (errors.ProviderUnavailableError("x"), 2, 1.0, 0.0, False),
        (errors.ProviderConnectionError("x"), 0, 0.1, 0.0, True),
        (errors.ProviderTimeoutError("x"), 0, 0.1, 0.0, True),
        (errors.ProviderInvalidResponseError("x"), 0, 0.1, 0.0, True),
        (errors.ProviderRateLimitError("x"), 0, 11.0, 0.0, False),
        (errors.ProviderRateLimitError("x"), 0, 2.0, 9.0, False),
        (errors.ProviderRejectedError("x"), 0, 0.0, 0.0, False),
        (errors.ProviderAuthError("x"), 0, 0.0, 0.0, False),
        (errors.ContentPolicyError("x"), 0, 0.0, 0.0, False),
        (errors.ContextWindowExceededError("x"), 0, 0.0, 0.0, False),
        (errors.ProviderQuotaError("x"), 0, 0.0, 0.0, False),
        (errors.ProviderStreamError("x"), 0, 0.0, 0.0, False),
    ],
)
def test_should_retry(
    error: errors.GatewayError,
    retries_done: int,
    delay: float,
    waited: float,
    expected: bool,
) -> None:
    assert should_retry(error, retries_done, delay, waited, POLICY) is expected


@pytest.mark.parametrize(
    ("error", "on_policy", "expected"),
    [
        (errors.ProviderRateLimitError("x"), False, True),
        (errors.ProviderUnavailableError("x"), False, True),
        (errors.ProviderTimeoutError("x"), False, True),
        (errors.ProviderConnectionError("x"), False, True),
        (errors.ProviderAuthError("x"), False, True),
        (errors.ProviderQuotaError("x"), False, True),
        (errors.ProviderError("unknown model"), False, True),
        (errors.ContextWindowExceededError("x"), False, True),
        (errors.ProviderRejectedError("x"), False, False),
        (errors.ContentPolicyError("x"), False, False),
        (errors.ContentPolicyError("x"), True, True),
    ],
)
def test_should_fall_back(
    error: errors.GatewayError, on_policy: bool, expected: bool
) -> None:
    policy = RetryPolicy(fallback_on_content_policy=on_policy)

    assert should_fall_back(error, policy) is expected


def test_retry_delay_honours_the_providers_wait_exactly() -> None:
    error = errors.ProviderRateLimitError("x", retry_after=3.5)

    assert retry_delay(error, 1, POLICY, random.Random(1)) == 3.5


@pytest.mark.parametrize(
    ("retry_number", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]
)
def test_retry_delay_is_full_jitter_under_an_exponential_ceiling(
    retry_number: int, ceiling: float
) -> None:
    rng = random.Random(7)
    delays = [
        retry_delay(errors.ProviderUnavailableError("x"), retry_number, POLICY, rng)
        for _ in range(500)
    ]

    assert all(0 <= delay <= ceiling for delay in delays)
    assert max(delays) > ceiling * 0.9
    assert min(delays) < ceiling * 0.1


def test_weighted_order_puts_targets_first_in_proportion_to_weight() -> None:
    rng = random.Random(3)
    firsts = Counter(
        order_level(["a", "b"], [3.0, 1.0], "weighted", {}, rng)[0] for _ in range(4000)
    )

    assert 0.70 < firsts[0] / 4000 < 0.80


def test_zero_weight_target_is_tried_last() -> None:
    rng = random.Random(3)

    assert all(
        order_level(["a", "b"], [0.0, 1.0], "weighted", {}, rng) == [1, 0]
        for _ in range(100)
    )


def test_least_in_flight_tries_the_idlest_target_first() -> None:
    load = {
        "a": TargetLoad(in_flight=5),
        "b": TargetLoad(in_flight=1),
        "c": TargetLoad(3),
    }

    assert order_level(
        ["a", "b", "c"], [1, 1, 1], "least-in-flight", load, random.Random()
    ) == [1, 2, 0]


def test_lowest_latency_measures_unknown_targets_first_then_fastest() -> None:
    load = {"a": TargetLoad(latency_ms=900.0), "b": TargetLoad(latency_ms=200.0)}

    assert order_level(
        ["a", "b", "c"], [1, 1, 1], "lowest-latency", load, random.Random()
    ) == [2, 1, 0]


# What an attempt's end tells the circuit breaker.
def _timeout(limit: str) -> errors.ProviderTimeoutError:
    return errors.ProviderTimeoutError("x", details={"limit": limit})


@pytest.mark.parametrize(
    ("error", "kind", "seconds"),
    [
        (None, SUCCESS, 0.0),
        (errors.ProviderUnavailableError("x"), FAILURE, 0.0),
        (errors.ProviderConnectionError("x"), FAILURE, 0.0),
        (errors.ProviderStreamError("x"), FAILURE, 0.0),
        (_timeout("first_byte"), FAILURE, 0.0),
        (_timeout("stall"), FAILURE, 0.0),
        (_timeout("connect"), FAILURE, 0.0),
        # The request's own deadline says nothing about the target.
        (_timeout("total"), UNKNOWN, 0.0),
        (errors.ProviderRateLimitError("x", retry_after=7), COOLED, 7.0),
        (errors.ProviderRateLimitError("x"), FAILURE, 0.0),
        (errors.ProviderRejectedError("x"), ALIVE, 0.0),
        (errors.ProviderAuthError("x"), ALIVE, 0.0),
        (errors.ContextWindowExceededError("x"), ALIVE, 0.0),
        (errors.ClientDisconnectedError("x"), UNKNOWN, 0.0),
    ],
)
def test_breaker_verdict(error: Exception | None, kind: str, seconds: float) -> None:
    verdict = breaker_verdict(error)

    assert (verdict.kind, verdict.seconds) == (kind, seconds)


@dataclass(frozen=True)
class _T:
    id: str


A, B, C = _T("a"), _T("b"), _T("c")
LEVELS = [(A, B), (C,)]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (Overrides(), [(A, B), (C,)]),
        (Overrides(no_fallback=True), [(A, B)]),
        (Overrides(target="c"), [(C,)]),
        (Overrides(target="c", no_fallback=True), [(C,)]),
        # A pin the (downgraded) route lacks is ignored, not an empty route.
        (Overrides(target="z"), [(A, B), (C,)]),
    ],
)
def test_select_levels(overrides: Overrides, expected: list[tuple[_T, ...]]) -> None:
    assert select_levels(LEVELS, overrides) == expected


@pytest.mark.parametrize(
    ("window", "floor", "expected"),
    [
        (None, 8000, False),
        (8000, None, False),
        (8000, 8000, True),
        (16000, 8000, False),
    ],
)
def test_is_context_too_small(
    window: int | None, floor: int | None, expected: bool
) -> None:
    assert is_context_too_small(window, floor) is expected
