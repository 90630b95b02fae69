"""The pure decisions of cost control, as tables: period boundaries, money rounding,
which budgets apply, downgrade ceilings, alert thresholds, reset durations."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.control.alerts import crossed_thresholds
from gateway.control.budgets import Budget, applicable_budgets, index_budgets
from gateway.control.money import to_nanos
from gateway.control.periods import period_end, period_label, period_start
from gateway.control.ratelimits import RateLimits, format_reset, retry_after


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "now", "start", "end", "label"),
    [
        (
            "day",
            "2026-03-10T23:59:59.999",
            "2026-03-10T00:00",
            "2026-03-11T00:00",
            "2026-03-10",
        ),
        (
            "day",
            "2026-03-11T00:00:00",
            "2026-03-11T00:00",
            "2026-03-12T00:00",
            "2026-03-11",
        ),
        (
            "day",
            "2026-12-31T12:00",
            "2026-12-31T00:00",
            "2027-01-01T00:00",
            "2026-12-31",
        ),
        (
            "week",
            "2026-03-11T10:00",
            "2026-03-09T00:00",
            "2026-03-16T00:00",
            "2026-03-09",
        ),
        (
            "week",
            "2026-03-09T00:00",
            "2026-03-09T00:00",
            "2026-03-16T00:00",
            "2026-03-09",
        ),
        (
            "week",
            "2026-03-15T23:59",
            "2026-03-09T00:00",
            "2026-03-16T00:00",
            "2026-03-09",
        ),
        (
            "week",
            "2027-01-01T08:00",
            "2026-12-28T00:00",
            "2027-01-04T00:00",
            "2026-12-28",
        ),
        (
            "month",
            "2026-02-28T23:59",
            "2026-02-01T00:00",
            "2026-03-01T00:00",
            "2026-02-01",
        ),
        (
            "month",
            "2028-02-29T12:00",
            "2028-02-01T00:00",
            "2028-03-01T00:00",
            "2028-02-01",
        ),
        (
            "month",
            "2026-12-15T00:00",
            "2026-12-01T00:00",
            "2027-01-01T00:00",
            "2026-12-01",
        ),
        (
            "month",
            "2027-01-01T00:00",
            "2027-01-01T00:00",
            "2027-02-01T00:00",
            "2027-01-01",
        ),
    ],
)
def test_periods_are_calendar_aligned_in_utc(
    period: str, now: str, start: str, end: str, label: str
) -> None:
    moment = at(now)

    assert period_start(period, moment) == at(start)
    assert period_end(period, moment) == at(end)
    assert period_label(period, moment) == label


def test_a_time_in_another_zone_is_placed_in_its_utc_period() -> None:
    # 01:30 in UTC+02:00 is still the previous day in UTC.
    moment = datetime.fromisoformat("2026-03-11T01:30:00+02:00")

    assert period_label("day", moment) == "2026-03-10"


def test_total_has_no_boundaries() -> None:
    moment = at("2026-03-10T12:00")

    assert period_start("total", moment) is None
    assert period_end("total", moment) is None
    assert period_label("total", moment) == "total"


@pytest.mark.parametrize(
    ("usd", "nanos"),
    [
        (0.0, 0),
        (0.008, 8_000_000),
        (0.029, 29_000_000),
        (1e-9, 1),
        (1.5e-9, 2),
        (4.35e-6, 4350),
        (10.0, 10_000_000_000),
        (0.1 + 0.2, 300_000_000),
    ],
)
def test_money_is_counted_in_whole_nanodollars_rounded_up(
    usd: float, nanos: int
) -> None:
    assert to_nanos(usd) == nanos


def budget(
    budget_id: str, scope: str, subject: str, period: str = "month", **extra
) -> Budget:
    return Budget(budget_id, None, scope, subject, period, 10.0, **extra)


INDEX = index_budgets(
    [
        budget("g", "global", ""),
        budget("k1", "key", "k1"),
        budget("each-key-day", "key", "*", "day"),
        budget("each-key-month", "key", "*", "month"),
        budget("team", "team", "ops"),
        budget("wf", "workflow", "*", "day"),
        budget("model", "model", "smart"),
    ]
)


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        ({"key": "k1"}, {("g", ""), ("k1", "k1"), ("each-key-day", "k1")}),
        ({"key": "k2"}, {("g", ""), ("each-key-day", "k2"), ("each-key-month", "k2")}),
        (
            {"key": "k2", "team": "ops"},
            {
                ("g", ""),
                ("each-key-day", "k2"),
                ("each-key-month", "k2"),
                ("team", "ops"),
            },
        ),
        (
            {"key": "k1", "team": "sales", "workflow": "wf-9"},
            {("g", ""), ("k1", "k1"), ("each-key-day", "k1"), ("wf", "wf-9")},
        ),
        (
            {"key": "k1", "workflow": None, "model": "smart"},
            {("g", ""), ("k1", "k1"), ("each-key-day", "k1"), ("model", "smart")},
        ),
        (
            {"key": "k1", "model": "fast"},
            {("g", ""), ("k1", "k1"), ("each-key-day", "k1")},
        ),
    ],
)
def test_applicable_budgets_take_a_subjects_own_budget_over_each_of_the_same_period(
    subjects: dict, expected: set
) -> None:
    applied = applicable_budgets(INDEX, subjects)

    assert {(a.budget.id, a.subject) for a in applied} == expected


def test_no_budget_applies_to_an_empty_index() -> None:
    assert applicable_budgets({}, {"key": "k1", "team": "ops"}) == []


@pytest.mark.parametrize(
    ("limit", "downgrade_to", "downgrade_at", "on_asked_route", "ceiling"),
    [
        (10.0, None, None, True, 10_000_000_000),
        (10.0, "fast", 80.0, True, 8_000_000_000),
        (10.0, "fast", 80.0, False, 10_000_000_000),
        (10.0, "fast", 100.0, True, 10_000_000_000),
        (0.04, "fast", 50.0, True, 20_000_000),
    ],
)
def test_a_downgrade_threshold_caps_the_asked_for_route_only(
    limit: float,
    downgrade_to: str | None,
    downgrade_at: float | None,
    on_asked_route: bool,
    ceiling: int,
) -> None:
    item = Budget(
        "b",
        None,
        "key",
        "k",
        "day",
        limit,
        downgrade_to=downgrade_to,
        downgrade_at=downgrade_at,
    )

    assert item.ceiling_nanos(on_asked_route) == ceiling


@pytest.mark.parametrize(
    ("thresholds", "spent", "limit", "exhausted", "crossed"),
    [
        ((50, 80, 100), 0, 100, False, []),
        ((50, 80, 100), 49, 100, False, []),
        ((50, 80, 100), 50, 100, False, [50]),
        ((50, 80, 100), 79, 100, False, [50]),
        ((50, 80, 100), 80, 100, False, [50, 80]),
        ((50, 80, 100), 100, 100, False, [50, 80, 100]),
        ((50, 80, 100), 10, 100, True, [50, 80, 100]),
        ((80,), 32_000_000, 40_000_000, False, [80]),
        ((33.3,), 333, 1000, False, [33.3]),
        ((33.3,), 332, 1000, False, []),
    ],
)
def test_thresholds_crossed_by_spend_or_by_a_refusal(
    thresholds: tuple, spent: int, limit: int, exhausted: bool, crossed: list
) -> None:
    assert crossed_thresholds(thresholds, spent, limit, exhausted) == crossed


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0ms"),
        (0.25, "250ms"),
        (1.0, "1s"),
        (12.2, "13s"),
        (59.9, "1m0s"),
        (60.0, "1m0s"),
        (65.0, "1m5s"),
        (360.0, "6m0s"),
    ],
)
def test_reset_durations_read_like_openais(seconds: float, text: str) -> None:
    assert format_reset(seconds) == text


@pytest.mark.parametrize(
    ("reset_in", "header"),
    [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (42.5, "43")],
)
def test_retry_after_is_whole_seconds_and_at_least_one(
    reset_in: float, header: str
) -> None:
    assert retry_after(1000.0 + reset_in, now=1000.0) == header


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, None),
        ({}, None),
        ({"requests_per_minute": None}, None),
        ({"requests_per_minute": 5}, RateLimits(5, None, None)),
        ({"tokens_per_minute": 100, "max_concurrent": 2}, RateLimits(None, 100, 2)),
    ],
)
def test_rate_limits_with_no_field_set_are_no_limits(
    data: dict | None, expected: RateLimits | None
) -> None:
    assert RateLimits.from_mapping(data) == expected
