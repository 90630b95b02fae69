from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.providers.retry_after import parse_retry_after

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:10 GMT"}, 10.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        (
            {"x-ratelimit-reset-requests": "6m0s", "x-ratelimit-reset-tokens": "1.5s"},
            1.5,
        ),
        (
            {
                "x-ratelimit-reset-requests": "6m0s",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-tokens": "1.5s",
            },
            360.0,
        ),
        ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
        # Limits with room left did not refuse the call: their resets are no wait.
        (
            {
                "x-ratelimit-remaining-requests": "9999",
                "x-ratelimit-reset-requests": "6ms",
                "x-ratelimit-remaining-tokens": "29999000",
                "x-ratelimit-reset-tokens": "0s",
            },
            None,
        ),
        (
            {
                "x-ratelimit-remaining-requests": "12",
                "x-ratelimit-reset-requests": "10ms",
                "x-ratelimit-reset-tokens": "2s",
            },
            2.0,
        ),
        (
            {
                "anthropic-ratelimit-requests-remaining": "40",
                "anthropic-ratelimit-requests-reset": "2026-01-01T00:00:05Z",
            },
            None,
        ),
        ({"anthropic-ratelimit-requests-reset": "2026-01-01T00:00:30Z"}, 30.0),
        ({"anthropic-ratelimit-tokens-reset": "2025-12-31T23:59:00Z"}, 0.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    assert parse_retry_after(headers, NOW) == seconds
