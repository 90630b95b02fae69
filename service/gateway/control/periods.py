"""Budget periods: calendar-aligned in UTC (a week starts on Monday), or ``total``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

PERIODS = ("day", "week", "month", "total")
TOTAL = "total"


def period_start(period: str, now: datetime) -> datetime | None:
    """Start of the period containing ``now``; None for ``total``."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return midnight
    if period == "week":
        return midnight - timedelta(days=midnight.weekday())
    if period == "month":
        return midnight.replace(day=1)

    return None


def period_end(period: str, now: datetime) -> datetime | None:
    """End (exclusive) of the period containing ``now``: when a budget resets."""
    start = period_start(period, now)
    if start is None:
        return None
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)

    return start.replace(month=start.month + 1)


def period_label(period: str, now: datetime) -> str:
    """The period's name in counter keys: its first day (``2026-12-01``) or
    ``total``."""
    start = period_start(period, now)
    return TOTAL if start is None else start.date().isoformat()
