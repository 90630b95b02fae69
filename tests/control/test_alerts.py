"""Alert payloads and delivery records (delivery through gunicorn, with a receiver
that fails first, is in tests/e2e/test_budgets.py)."""

from __future__ import annotations

from typing import Any

from gateway.control.alerts import Alert, AlertSender, alert_payload
from gateway.control.budgets import Budget

pytest_plugins = ["tests.fakes.plugin"]

BUDGET = Budget(
    "bud_1",
    "ops",
    "key",
    "k1",
    "day",
    10.0,
    (50.0, 80.0),
    webhook_url="https://hooks.slack.com/services/T000/B000/SECRET",
)


def alert(**fields: Any) -> Alert:
    values = {
        "budget": BUDGET,
        "subject": "k1",
        "period_start": "2026-03-10",
        "threshold": 80.0,
        "spent_usd": 8.01,
        "exhausted": False,
        "resets_at": "2026-03-11T00:00:00.000Z",
        **fields,
    }
    return Alert(**values)


def test_the_payload_names_the_budget_and_its_state_without_the_webhook_url() -> None:
    payload = alert_payload(alert(), "2026-03-10T15:00:00.000Z")

    assert payload["text"] == (
        "AI gateway budget ops (key k1, day) reached 80%: $8.0100 of $10.00 spent"
    )
    assert payload["threshold_percent"] == 80 and payload["exhausted"] is False
    assert payload["budget"]["id"] == "bud_1" and payload["resets_at"].startswith(
        "2026-03-11"
    )
    assert "SECRET" not in str(payload)


def test_an_exhausted_budget_says_so() -> None:
    payload = alert_payload(alert(threshold=100.0, exhausted=True), "now")

    assert "is exhausted" in payload["text"]


def test_each_alert_has_its_own_claim_per_period_and_threshold() -> None:
    claims = {
        alert().claim,
        alert(threshold=50.0).claim,
        alert(period_start="2026-03-11").claim,
        alert(subject="k2").claim,
    }

    assert len(claims) == 4


def test_an_alert_without_a_webhook_is_recorded_as_not_sent() -> None:
    sender = AlertSender(writer=None)  # type: ignore[arg-type]
    quiet = Budget("bud_2", None, "global", "", "month", 5.0, (50.0,))

    row = sender.deliver(alert(budget=quiet, subject=""))

    assert row["status"] == "not_sent" and row["webhook_host"] is None
    assert row["budget_id"] == "bud_2" and row["threshold"] == 80.0


def test_an_unreachable_webhook_is_recorded_as_failed(refused_url: str) -> None:
    sender = AlertSender(writer=None)  # type: ignore[arg-type]
    hooked = Budget(
        "bud_3",
        None,
        "global",
        "",
        "month",
        5.0,
        (50.0,),
        webhook_url=refused_url + "/hook",
    )

    row = sender.deliver(alert(budget=hooked, subject=""))

    assert row["status"] == "failed" and row["attempts"] == 5
    assert row["webhook_host"] == "127.0.0.1" and row["error"]
