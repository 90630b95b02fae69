"""Read how long a provider asks us to wait from its response headers (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_retry_after(
    headers: Mapping[str, str], now: datetime | None = None
) -> float | None:
    """Return the wait in seconds a provider asked for, or None if it gave none.

    Reads ``retry-after-ms`` (OpenAI, Azure), ``retry-after`` (seconds or an HTTP
    date), then the reset headers of a rate limit with nothing remaining (or no
    ``remaining`` header): OpenAI's ``x-ratelimit-reset-requests`` / ``-tokens``
    durations such as ``6m0s``, Anthropic's ``anthropic-ratelimit-*-reset`` RFC 3339
    times. Header names must be lower case.
    """
    now = now or datetime.now(UTC)
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value is not None:
            try:
                return max(0.0, float(value) / 1000.0)
            except ValueError:
                pass

    value = headers.get("retry-after")
    if value is not None:
        seconds = _parse_seconds_or_date(value, now)
        if seconds is not None:
            return seconds

    return _wait_for_exhausted_limit(headers, now)


def _wait_for_exhausted_limit(
    headers: Mapping[str, str], now: datetime
) -> float | None:
    # A reset header says when that limit refills completely; only the limit that is
    # exhausted (its "remaining" header is 0) tells when a retry can succeed. A limit
    # with room left says nothing about this failure (providers send these headers
    # on every response, 5xx included), so its reset is no reason to wait.
    waits: list[float] = []
    exhausted: list[float] = []
    for name, value in headers.items():
        if not _is_reset_header(name):
            continue
        wait = _parse_reset(value, now)
        if wait is None:
            continue
        remaining = headers.get(name.replace("reset", "remaining"))
        if remaining == "0":
            exhausted.append(wait)
        elif remaining is None:
            waits.append(wait)

    if exhausted:
        return max(exhausted)

    return min(waits) if waits else None


def _is_reset_header(name: str) -> bool:
    if name.startswith("x-ratelimit-reset"):
        return True

    return name.startswith("anthropic-ratelimit-") and name.endswith("-reset")


def _parse_seconds_or_date(value: str, now: datetime) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None

    return max(0.0, (when - now).total_seconds())


def _parse_reset(value: str, now: datetime) -> float | None:
    value = value.strip()
    parts = _DURATION_PART.findall(value)
    if parts and "".join(n + u for n, u in parts) == value:
        return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)

    return max(0.0, (when - now).total_seconds())
