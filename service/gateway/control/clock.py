"""A clock the tests can set: ``GATEWAY_CLOCK_FILE`` names a file whose content is
the current time (ISO 8601), read on every call (docs/testing.md).

It moves budget periods and the spend report's ``period``; request timestamps, rate
windows and reservation leases keep real time. Production leaves it unset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime


def system_clock() -> datetime:
    return datetime.now(UTC)


def file_clock(path: str) -> Callable[[], datetime]:
    """A clock reading ``path``; the system clock while the file is missing or empty."""

    def now() -> datetime:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read().strip()
        except OSError:
            return system_clock()
        if not text:
            return system_clock()

        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    return now
