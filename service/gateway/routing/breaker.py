"""Circuit breaking shared by every worker of a deployment.

A target that keeps failing (``BreakerPolicy.failures`` failed attempts within
``window`` seconds) is opened: it cools down for ``cooldown`` seconds, during which
calls skip it. After that, one request claims the probe (an atomic update, so one
probe per deployment, not per worker); its success closes the breaker, its failure
opens it again. A provider's ``Retry-After`` on a 429 cools the target down for that
long without counting as a failure.

State lives in the store's ``breaker_state`` table. Each worker reads the whole
(small) table at most once a second and writes only on failures, probes and
recoveries, so the happy path costs a dictionary lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..keys import format_time
from .policy import ALIVE, COOLED, FAILURE, SUCCESS, BreakerPolicy, Verdict

REFRESH_SECONDS = 1.0
# A probe that neither succeeded nor failed within this long is given up on.
PROBE_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True, slots=True)
class TargetState:
    state: str
    failures: int
    open_until: float
    updated_at: float


CLOSED = TargetState("closed", 0, 0.0, 0.0)


class Breaker:
    """Decides whether a target may be called now, and records how calls went."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._states: dict[str, TargetState] = {}
        self._loaded_at = -REFRESH_SECONDS

    def admit(self, target: str) -> str | None:
        """``None`` if ``target`` may be called now (possibly as the probe), else
        the reason it is skipped (``cooling_down``)."""
        now = self._clock()
        state = self._state(target, now)
        if state.state == "closed":
            return None
        if state.state == "open" and now < state.open_until:
            return "cooling_down"
        if (
            state.state == "half_open"
            and now - state.updated_at < PROBE_TIMEOUT_SECONDS
        ):
            return "cooling_down"

        return None if self._claim_probe(target, state, now) else "cooling_down"

    def judge(self, target: str, policy: BreakerPolicy, verdict: Verdict) -> None:
        """Apply what an attempt's end said of ``target`` (see ``breaker_verdict``)."""
        if verdict.kind == SUCCESS:
            self.record_success(target)
        elif verdict.kind == FAILURE:
            self.record_failure(target, policy, verdict.reason or "failed")
        elif verdict.kind == COOLED:
            self.cool_down(target, verdict.seconds, verdict.reason or "cooled")
        elif verdict.kind == ALIVE:
            # A refusal is an answer: the target is up. It closes a probe, but
            # forgets no failures counted while closed.
            if self._states.get(target, CLOSED).state != "closed":
                self.record_success(target)
        else:
            self._release_probe(target)

    def record_success(self, target: str) -> None:
        state = self._states.get(target, CLOSED)
        if state.state == "closed" and state.failures == 0:
            return

        now = self._clock()
        was = self._store.execute(
            "UPDATE breaker_state SET state = 'closed', failures = 0, "
            "updated_at = ? WHERE target = ? AND (state != 'closed' OR failures > 0)",
            (now, target),
        )
        if was and state.state != "closed":
            self._event(target, "closed", "recovered")
        self._states[target] = TargetState("closed", 0, 0.0, now)

    def record_failure(self, target: str, policy: BreakerPolicy, reason: str) -> None:
        """Count a failed attempt; open the breaker past the threshold."""
        now = self._clock()
        rows = self._store.query(
            "INSERT INTO breaker_state (target, state, failures, window_start, "
            "open_until, updated_at) VALUES (?, 'closed', 1, ?, 0, ?) "
            "ON CONFLICT (target) DO UPDATE SET "
            "failures = CASE WHEN ? - window_start > ? THEN 1 ELSE failures + 1 END, "
            "window_start = "
            "CASE WHEN ? - window_start > ? THEN ? ELSE window_start END, "
            "updated_at = ? RETURNING state, failures",
            (target, now, now, now, policy.window, now, policy.window, now, now),
        )
        state, failures = rows[0]["state"], rows[0]["failures"]
        if state == "half_open" or (state == "closed" and failures >= policy.failures):
            self._open(target, now + policy.cooldown, reason, "opened")
        else:
            self._states[target] = TargetState(state, failures, 0.0, now)

    def cool_down(self, target: str, seconds: float, reason: str) -> None:
        """Skip ``target`` for ``seconds`` (a provider asked us to wait)."""
        now = self._clock()
        self._store.execute(
            "INSERT INTO breaker_state (target, state, failures, window_start, "
            "open_until, reason, updated_at) VALUES (?, 'closed', 0, ?, 0, ?, ?) "
            "ON CONFLICT (target) DO NOTHING",
            (target, now, reason, now),
        )
        self._open(target, now + seconds, reason, "cooled")

    def _open(self, target: str, until: float, reason: str, event: str) -> None:
        now = self._clock()
        self._store.execute(
            "UPDATE breaker_state SET state = 'open', open_until = max(open_until, ?), "
            "failures = 0, reason = ?, updated_at = ? WHERE target = ?",
            (until, reason, now, target),
        )
        self._event(target, event, reason)
        self._states[target] = TargetState("open", 0, until, now)

    def _claim_probe(self, target: str, state: TargetState, now: float) -> bool:
        claimed = self._store.execute(
            "UPDATE breaker_state SET state = 'half_open', updated_at = ? "
            "WHERE target = ? AND ((state = 'open' AND open_until <= ?) OR "
            "(state = 'half_open' AND updated_at <= ?))",
            (now, target, now, now - PROBE_TIMEOUT_SECONDS),
        )
        self._states[target] = TargetState(
            "half_open", state.failures, state.open_until, now
        )
        if claimed:
            self._event(target, "probe", None)
        return bool(claimed)

    def _release_probe(self, target: str) -> None:
        """A probe that taught nothing (the client left, the request's own deadline
        passed) hands the probe on at once instead of holding it until it times out."""
        state = self._states.get(target, CLOSED)
        if state.state != "half_open":
            return

        now = self._clock()
        self._store.execute(
            "UPDATE breaker_state SET state = 'open', open_until = ?, updated_at = ? "
            "WHERE target = ? AND state = 'half_open'",
            (now, now, target),
        )
        self._states[target] = TargetState("open", state.failures, now, now)

    def _state(self, target: str, now: float) -> TargetState:
        if now - self._loaded_at >= REFRESH_SECONDS:
            self._refresh(now)

        return self._states.get(target, CLOSED)

    def _refresh(self, now: float) -> None:
        rows = self._store.query(
            "SELECT target, state, failures, open_until, updated_at FROM breaker_state"
        )
        self._states = {
            row["target"]: TargetState(
                row["state"], row["failures"], row["open_until"], row["updated_at"]
            )
            for row in rows
        }
        self._loaded_at = now

    def _event(self, target: str, event: str, reason: str | None) -> None:
        self._store.execute(
            "INSERT INTO breaker_events (target, created_at, event, reason) "
            "VALUES (?, ?, ?, ?)",
            (
                target,
                format_time(datetime.fromtimestamp(self._clock(), UTC)),
                event,
                reason,
            ),
        )
