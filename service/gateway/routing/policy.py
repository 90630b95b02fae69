"""Pure routing decisions: retry or not, how long to wait, fall back or not, and in
which order to try the targets of one level. No I/O, no clock, no globals: the
runner passes in everything, including the random source."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..errors import (
    ContentPolicyError,
    ContextWindowExceededError,
    GatewayError,
    ProviderAuthError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderStreamError,
    ProviderTimeoutError,
)


@dataclass(frozen=True, slots=True)
class Overrides:
    """What a request may ask of routing by header. Each can only narrow what the
    route allows: fewer retries, a shorter timeout, no fallback, or one of the
    route's own targets."""

    no_fallback: bool = False
    max_retries: int | None = None
    target: str | None = None
    timeout: float | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds. ``first_byte`` bounds the wait for the response head, ``stall`` the
    wait for each later chunk of a stream, ``total`` the whole request across every
    attempt, retry and fallback.

    A ``ProviderTimeoutError`` names the limit that fired in ``details["limit"]``
    (one of ``LIMITS``)."""

    connect: float = 10.0
    first_byte: float = 120.0
    stall: float = 60.0
    total: float = 600.0


LIMITS = ("connect", "first_byte", "stall", "total")


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A target with ``failures`` failed attempts within ``window`` seconds cools down
    for ``cooldown`` seconds; then one probe request decides whether it is back."""

    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Seconds and counts. ``max_retries`` is per target; ``max_wait`` caps the total
    time a call spends waiting between attempts, across all targets."""

    max_retries: int = 2
    backoff_base: float = 0.25
    backoff_cap: float = 8.0
    max_wait: float = 30.0
    fallback_on_content_policy: bool = False


def retry_delay(
    error: GatewayError, retry_number: int, policy: RetryPolicy, rng: random.Random
) -> float:
    """Seconds to wait before retry ``retry_number`` (1-based) of the same target.

    Exponential backoff with full jitter, unless the provider said how long to wait
    (Retry-After and friends), which is honoured exactly.
    """
    asked = getattr(error, "retry_after", None)
    if asked is not None:
        return float(asked)

    ceiling = min(policy.backoff_cap, policy.backoff_base * 2 ** (retry_number - 1))
    return rng.uniform(0, ceiling)


def should_retry(
    error: GatewayError,
    retries_done: int,
    delay: float,
    waited: float,
    policy: RetryPolicy,
) -> bool:
    """Retry the same target? Only retryable errors, within the count and wait caps."""
    if not error.retryable or retries_done >= policy.max_retries:
        return False

    return waited + delay <= policy.max_wait


def should_fall_back(error: GatewayError, policy: RetryPolicy) -> bool:
    """Move on to the next target after ``error`` (retries spent or not retryable)?

    A request the provider rejected as invalid would be rejected anywhere, so it is
    not passed on; a context window too small or a target that is broken (our key,
    our quota, an unknown model) is a reason to try the next target.
    """
    if isinstance(error, ContentPolicyError):
        return policy.fallback_on_content_policy
    if isinstance(error, ContextWindowExceededError):
        return True
    if isinstance(error, ProviderRejectedError):
        return False
    if isinstance(error, ProviderAuthError | ProviderQuotaError):
        return True

    return isinstance(error, ProviderError)


# What the end of an attempt tells the circuit breaker about its target.
SUCCESS = "success"  # it answered: close the breaker, forget past failures
FAILURE = "failure"  # it failed in a way that may pass: count towards opening
ALIVE = "alive"  # it answered with a refusal: it is up (a probe closes)
COOLED = "cooled"  # it asked for a pause (Retry-After): skip it that long
UNKNOWN = "unknown"  # nothing learnt (the client left, the request ran out of time)


@dataclass(frozen=True, slots=True)
class Verdict:
    """``kind`` is one of the five above; ``reason`` the error type behind it;
    ``seconds`` the pause a ``COOLED`` target asked for."""

    kind: str
    reason: str | None = None
    seconds: float = 0.0


def breaker_verdict(error: BaseException | None) -> Verdict:
    """Judge an attempt by how it ended (``None``: it succeeded).

    Only the target's own failures count against it: a timeout of the request's
    whole deadline (``total``, which the client may shorten with a header) says as
    little about the target as a client that hung up. A provider that answered with
    a refusal (400, 401, 404, a context window too small) is up.
    """
    if error is None:
        return Verdict(SUCCESS)
    if not isinstance(error, ProviderError):
        return Verdict(UNKNOWN)
    if isinstance(error, ProviderTimeoutError) and timeout_limit(error) == "total":
        return Verdict(UNKNOWN, error.type)
    if isinstance(error, ProviderRateLimitError) and error.retry_after:
        return Verdict(COOLED, "rate_limited", float(error.retry_after))
    if error.retryable or isinstance(error, ProviderStreamError):
        return Verdict(FAILURE, error.type)

    return Verdict(ALIVE, error.type)


def with_limit(error: ProviderError, limit: str) -> ProviderError:
    """Name on a timeout which of ``LIMITS`` fired: the circuit breaker counts a
    route's own limits against a target, not the request's deadline. A limit
    already named stays; other errors pass unchanged."""
    if isinstance(error, ProviderTimeoutError):
        error.details = {"limit": limit, **(error.details or {})}

    return error


def timeout_limit(error: ProviderTimeoutError) -> str | None:
    """Which of ``LIMITS`` fired (None: not said)."""
    limit = (error.details or {}).get("limit")
    return limit if limit in LIMITS else None


def is_context_too_small(window: int | None, floor: int | None) -> bool:
    """Skip a target whose context ``window`` (tokens; None: unknown) is no larger
    than one a provider already refused the prompt for (``floor``)."""
    return window is not None and floor is not None and window <= floor


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


TargetT = TypeVar("TargetT", bound=_HasId)


def select_levels(
    levels: Sequence[Sequence[TargetT]], overrides: Overrides
) -> list[tuple[TargetT, ...]]:
    """The levels of targets a call walks, after its per-request overrides.

    ``target`` pins the call to that one target when the route has it. A budget may
    have downgraded the call to a route that does not: the pin is then ignored,
    since the budget outranks the request (``x-gateway-downgraded-from`` says so).
    ``no_fallback`` keeps the first level only, with all its targets: those share
    the load, they are not fallbacks.
    """
    chosen = [tuple(level) for level in levels]
    if overrides.target is not None:
        pinned = [t for level in chosen for t in level if t.id == overrides.target]
        if pinned:
            chosen = [(pinned[0],)]
    if overrides.no_fallback:
        chosen = chosen[:1]

    return chosen


@dataclass(frozen=True, slots=True)
class TargetLoad:
    """What the runner knows of a target right now, for load balancing."""

    in_flight: int = 0
    latency_ms: float | None = None


def order_level(
    target_ids: Sequence[str],
    weights: Sequence[float],
    strategy: str,
    load: Mapping[str, TargetLoad],
    rng: random.Random,
) -> list[int]:
    """Indexes of one level's targets in the order to try them.

    ``weighted``: a weighted random order (a target with twice the weight is first
    twice as often). ``least-in-flight``: fewest calls in flight first.
    ``lowest-latency``: lowest recent latency first; targets never measured come
    first so they get measured. Ties break by weight, then at random.
    """
    indexes = list(range(len(target_ids)))
    if len(indexes) < 2:
        return indexes
    if strategy == "weighted":
        return _weighted_order(indexes, weights, rng)

    jitter = {index: rng.random() for index in indexes}
    if strategy == "least-in-flight":

        def key(index: int) -> tuple[float, ...]:
            state = load.get(target_ids[index], TargetLoad())
            return (state.in_flight, -weights[index], jitter[index])
    else:

        def key(index: int) -> tuple[float, ...]:
            state = load.get(target_ids[index], TargetLoad())
            latency = -1.0 if state.latency_ms is None else state.latency_ms
            return (latency, -weights[index], jitter[index])

    return sorted(indexes, key=key)


def _weighted_order(
    indexes: list[int], weights: Sequence[float], rng: random.Random
) -> list[int]:
    # Efraimidis-Spirakis: sort by u ** (1 / w), a weighted sample without replacement.
    def draw(index: int) -> float:
        weight = weights[index]
        return rng.random() ** (1.0 / weight) if weight > 0 else -1.0

    return sorted(indexes, key=draw, reverse=True)
