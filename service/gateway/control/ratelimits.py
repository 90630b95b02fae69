"""Rate limits per key and per team: requests and tokens per minute, calls in flight.

Requests and tokens per minute use the ``limits`` library's fixed-window strategy on
the control store's storage (Redis, or the SQLite storage in ``sqlite_store``), so
every worker counts in the same windows. A window opens with its first hit and lasts
a minute. Tokens are charged up front with the call's bound (prompt plus its output
limit) and corrected by the difference when the call ends. Calls in flight are
counted by the control store's reservations, beside the budgets (``admission``).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.errors import StorageError
from limits.storage import Storage
from limits.strategies import FixedWindowRateLimiter

from ..errors import ControlUnavailableError

LIMIT_FIELDS = ("requests_per_minute", "tokens_per_minute", "max_concurrent")
_WINDOW_ENDS_MAX = 10_000


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Limits of one key or team; None means no limit of that kind."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_concurrent: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> RateLimits | None:
        """Limits from stored JSON or validated input; None when none is set."""
        if not data:
            return None
        limits = cls(**{name: data.get(name) for name in LIMIT_FIELDS})
        return limits if limits.is_set() else None

    def is_set(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_FIELDS)

    def to_public(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in LIMIT_FIELDS}


@dataclass(slots=True)
class WindowHit:
    """One charge against a per-minute window, kept to undo or correct it."""

    item: RateLimitItemPerMinute
    identifiers: tuple[str, ...]
    cost: int
    reset_at: float
    remaining: int


class CountingFixedWindow(FixedWindowRateLimiter):
    """The library's fixed-window strategy, answering the window's count instead of
    a bool (its ``hit`` is exactly ``incr(...) <= amount``), so the remaining
    allowance costs no second read of the storage."""

    def hit_counted(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> int:
        return self.storage.incr(
            item.key_for(*identifiers), item.get_expiry(), amount=cost
        )


class MinuteLimiter:
    """Charges per-minute windows through the ``limits`` fixed-window strategy.

    A window's end does not change while it lasts, so each worker keeps the ends it
    has read and asks the storage again only for a new window: in the steady state a
    charge is one storage call (one Redis round trip).
    """

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._strategy = CountingFixedWindow(storage)
        self._ends: dict[str, float] = {}

    def hit(
        self, amount: int, identifiers: tuple[str, ...], cost: int
    ) -> WindowHit | None:
        """Charge ``cost``; return the hit, or None when the window cannot take it
        (the window is left as it was)."""
        item = RateLimitItemPerMinute(amount)
        with _store_errors():
            count = self._strategy.hit_counted(item, *identifiers, cost=cost)
            if count > amount:
                self._add(item, identifiers, -cost)
                return None

            reset_at = self._window_end(item, identifiers, is_new=count == cost)
        return WindowHit(item, identifiers, cost, reset_at, amount - count)

    def reset_at(self, amount: int, identifiers: tuple[str, ...]) -> float:
        """When the current window of this limit ends (epoch seconds)."""
        item = RateLimitItemPerMinute(amount)
        with _store_errors():
            return self._window_end(item, identifiers, is_new=False)

    def _window_end(
        self, item: RateLimitItem, identifiers: tuple[str, ...], is_new: bool
    ) -> float:
        key = item.key_for(*identifiers)
        now = time.time()
        end = self._ends.get(key)
        if is_new or end is None or end <= now:
            if len(self._ends) >= _WINDOW_ENDS_MAX:
                self._ends.clear()
            # Redis reports the end in whole seconds of TTL from the reading's own
            # clock; a window never ends more than its length from now.
            end = min(self.storage.get_expiry(key), now + item.get_expiry())
            self._ends[key] = end

        return end

    def undo(self, hit: WindowHit) -> None:
        self._add(hit.item, hit.identifiers, -hit.cost)

    def correct(self, hit: WindowHit, actual: int, now: float) -> None:
        """Replace the up-front charge by ``actual`` while its window lasts."""
        if actual != hit.cost and now < hit.reset_at:
            self._add(hit.item, hit.identifiers, actual - hit.cost)

    def _add(
        self, item: RateLimitItemPerMinute, identifiers: tuple[str, ...], amount: int
    ) -> None:
        self.storage.incr(item.key_for(*identifiers), item.get_expiry(), amount=amount)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    """The ``limits`` storage's errors as the gateway's 503."""
    try:
        yield
    except StorageError as error:
        name = type(error.storage_error).__name__
        raise ControlUnavailableError(
            f"the rate-limit store is unavailable ({name})"
        ) from error


def seconds_until(moment: float, now: float | None = None) -> float:
    return max(0.0, moment - (time.time() if now is None else now))


def retry_after(reset_at: float, now: float | None = None) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds_until(reset_at, now))))


def format_reset(seconds: float) -> str:
    """A duration as OpenAI's ``x-ratelimit-reset-*`` headers write it: ``250ms``,
    ``12s``, ``1m5s``."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    whole = math.ceil(seconds)
    if whole < 60:
        return f"{whole}s"

    return f"{whole // 60}m{whole % 60}s"


def window_headers(kind: str, limit: int, hit: WindowHit, now: float) -> dict[str, str]:
    """``x-ratelimit-{limit,remaining,reset}-{kind}`` for a charged window."""
    return {
        f"x-ratelimit-limit-{kind}": str(limit),
        f"x-ratelimit-remaining-{kind}": str(max(0, hit.remaining)),
        f"x-ratelimit-reset-{kind}": format_reset(seconds_until(hit.reset_at, now)),
    }
