"""Soft limits: a webhook post when a budget's spend crosses one of its thresholds.

Each threshold fires once per budget, subject and period in the whole deployment:
the worker that first sees it crossed claims it in the control store, and only the
claimant sends. Spend never passes the limit, so a refused call counts as reaching
100 %: it fires every threshold up to 100 not sent yet. Posting happens on a real OS
thread per worker (as the request-log writer does), with urllib3's retries on
connection errors and on 429/5xx answers; each alert is then recorded in
``budget_alerts`` (the webhook's host only: Slack-style webhook URLs are secrets).
"""

from __future__ import annotations

import collections
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ..keys import utc_now
from ..storage.writer import RecordWriter, real_threading
from .budgets import Budget

logger = logging.getLogger(__name__)

_RETRY = Retry(
    total=4,
    backoff_factor=0.25,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=None,
    raise_on_status=False,
    respect_retry_after_header=True,
)
_TIMEOUT_S = (3.05, 10.0)


@dataclass(frozen=True, slots=True)
class Alert:
    budget: Budget
    subject: str
    period_start: str
    threshold: float
    spent_usd: float
    exhausted: bool
    resets_at: str | None

    @property
    def claim(self) -> str:
        return (
            f"alert:{self.budget.id}:{self.subject}:{self.period_start}:"
            f"{self.threshold:g}"
        )


def crossed_thresholds(
    thresholds: Iterable[float], spent: int, limit: int, exhausted: bool
) -> list[float]:
    """The thresholds (percent of ``limit``) that ``spent`` has reached, all of them
    up to 100 when the budget just refused a call (amounts in nano-USD)."""
    if exhausted:
        return [threshold for threshold in thresholds if threshold <= 100]

    return [threshold for threshold in thresholds if spent * 100 >= threshold * limit]


def alert_payload(alert: Alert, sent_at: str) -> dict[str, Any]:
    """The JSON posted: plain fields for n8n and the like, ``text`` for Slack."""
    budget = alert.budget
    label = budget.name or budget.id
    what = (
        budget.scope if budget.scope == "global" else f"{budget.scope} {alert.subject}"
    )
    state = "is exhausted" if alert.exhausted else f"reached {alert.threshold:g}%"
    # Without its webhook URL: such URLs are secrets, and receivers keep payloads.
    public = {k: v for k, v in budget.to_public().items() if k != "webhook_url"}
    text = (
        f"AI gateway budget {label} ({what}, {budget.period}) {state}: "
        f"${alert.spent_usd:.4f} of ${budget.limit_usd:.2f} spent"
    )
    return {
        "type": "budget.threshold_reached",
        "text": text,
        "budget": public,
        "subject": alert.subject or None,
        "period_start": alert.period_start,
        "resets_at": alert.resets_at,
        "threshold_percent": alert.threshold,
        "spent_usd": round(alert.spent_usd, 10),
        "limit_usd": budget.limit_usd,
        "exhausted": alert.exhausted,
        "sent_at": sent_at,
    }


class AlertSender:
    """Posts alerts from a real OS thread and hands their records to the writer."""

    def __init__(self, writer: RecordWriter, interval: float = 0.1) -> None:
        self._writer = writer
        self._interval = interval
        self._pending: collections.deque[Alert] = collections.deque()
        self._start_thread, self._sleep, allocate_lock = real_threading()
        self._stopped = allocate_lock()
        self._running = False
        self._session: requests.Session | None = None

    def start(self) -> None:
        if self._running:
            return
        self._running = True
        self._stopped.acquire()
        self._start_thread(self._run, ())

    def submit(self, alert: Alert) -> None:
        self._pending.append(alert)

    def close(self) -> None:
        """Send what is queued, then stop the thread."""
        if self._running:
            self._running = False
            self._stopped.acquire()
            self._stopped.release()
        self._drain()

    def _run(self) -> None:
        try:
            while self._running:
                self._sleep(self._interval)
                self._drain()
        finally:
            self._stopped.release()

    def _drain(self) -> None:
        while self._pending:
            alert = self._pending.popleft()
            try:
                self._writer.submit("budget_alerts", self.deliver(alert))
            except Exception:
                logger.exception("recording a budget alert failed")

    def deliver(self, alert: Alert) -> dict[str, Any]:
        """Post ``alert`` (with retries) and return its ``budget_alerts`` row."""
        url = alert.budget.webhook_url
        row = _alert_row(alert)
        if not url:
            row["status"] = "not_sent"
            return row

        try:
            response = self._client().post(
                url, json=alert_payload(alert, row["created_at"]), timeout=_TIMEOUT_S
            )
        except requests.RequestException as error:
            row.update(
                status="failed", attempts=_RETRY.total + 1, error=type(error).__name__
            )
        else:
            retries = getattr(response.raw, "retries", None)
            row["attempts"] = len(retries.history) + 1 if retries else 1
            row["response_status"] = response.status_code
            row["status"] = "sent" if response.status_code < 400 else "failed"
            row["sent_at"] = utc_now() if row["status"] == "sent" else None
            response.close()
        logger.info(
            "budget alert",
            extra={
                "fields": {
                    "budget_id": alert.budget.id,
                    "threshold": alert.threshold,
                    "status": row["status"],
                    "attempts": row["attempts"],
                }
            },
        )
        return row

    def _client(self) -> requests.Session:
        if self._session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=_RETRY)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._session = session

        return self._session


def _alert_row(alert: Alert) -> dict[str, Any]:
    url = alert.budget.webhook_url
    return {
        "id": "alt_" + secrets.token_hex(8),
        "budget_id": alert.budget.id,
        "subject": alert.subject,
        "period_start": alert.period_start,
        "threshold": alert.threshold,
        "spent_usd": alert.spent_usd,
        "limit_usd": alert.budget.limit_usd,
        "exhausted": int(alert.exhausted),
        "webhook_host": urlsplit(url).hostname if url else None,
        "status": "pending",
        "attempts": 0,
        "response_status": None,
        "error": None,
        "created_at": utc_now(),
        "sent_at": None,
    }
