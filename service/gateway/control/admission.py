"""The two calls the pipeline makes for cost control: ``admit`` before the upstream
call and ``settle`` when the request is recorded.

``admit``, in order:

    look up    the budgets and limits that apply (in memory; most calls stop here)
    bound      the call's maximum cost and tokens (``estimate``), only if needed
    windows    requests and tokens per minute, key then team (429 when full)
    reserve    calls in flight and every budget's maximum cost, atomically in the
               control store; past a downgrade threshold, the cheaper alias's cost
               (402 when a budget cannot cover it)

``settle`` gives back what the call did not spend: the reservation becomes its
actual cost, the slot in flight is freed, the token windows are corrected, and
thresholds crossed are alerted. It runs exactly once per admitted call, whatever
happened to it.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..config import Route
from ..errors import (
    BudgetExceededError,
    ControlUnavailableError,
    GatewayError,
    InvalidRequestError,
    RateLimitedError,
)
from ..keys import format_time
from ..reports import logged_spend
from .alerts import Alert, crossed_thresholds
from .budgets import (
    SCOPE_COLUMNS,
    AppliedBudget,
    applicable_budgets,
    counter_expiry,
    logged_since,
    resets_at,
)
from .estimate import REQUEST, RouteCost, estimate_route, output_limit_field
from .money import to_nanos, to_usd
from .periods import period_label, period_start
from .ratelimits import (
    RateLimits,
    WindowHit,
    format_reset,
    retry_after,
    seconds_until,
    window_headers,
)
from .store import LEASE_SECONDS, Claim, CounterState, Reservation, Settlement

if TYPE_CHECKING:
    from ..context import CallContext, Gateway

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class LimitHolder:
    """A key or team whose rate limits apply to a call."""

    scope: str
    subject: str
    limits: RateLimits


@dataclass(slots=True)
class Admission:
    """What ``admit`` decided and holds for one call, until ``settle``."""

    route: Route
    downgraded_from: str | None = None
    now: datetime | None = None
    budgets: list[tuple[AppliedBudget, str]] = field(default_factory=list)
    slots: list[str] = field(default_factory=list)
    token_hits: list[WindowHit] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    settled: bool = False

    @property
    def holds_anything(self) -> bool:
        return bool(self.budgets or self.slots or self.token_hits)


def admit(
    gateway: Gateway, call: CallContext, route: Route, body: dict[str, Any]
) -> Admission:
    """Admit ``call`` to ``route`` or raise; the admission's ``route`` is the one to
    call (a cheaper alias when a budget downgraded it).

    Raises RateLimitedError (429, with Retry-After) when a per-minute window or the
    calls-in-flight limit is full, BudgetExceededError (402) when a budget cannot
    cover the call's maximum cost, ControlUnavailableError (503) when the control
    store cannot be reached. May add an output limit to ``body`` (see ``estimate``).
    """
    key = call.key
    assert key is not None
    definitions = gateway.control.definitions.current()
    holders = []
    if key.limits is not None:
        holders.append(LimitHolder("key", key.id, key.limits))
    team_limits = definitions.team_limits.get(key.team) if key.team else None
    if team_limits is not None:
        holders.append(LimitHolder("team", key.team, team_limits))
    applied = (
        applicable_budgets(definitions.budgets, _subjects(call))
        if definitions.budgets
        else []
    )
    if not applied and not holders:
        admission = call.admission = Admission(route)
        return admission

    return _admit_limited(gateway, call, route, body, applied, holders)


def _subjects(call: CallContext) -> dict[str, str | None]:
    key = call.key
    assert key is not None
    return {
        "key": key.id,
        "team": key.team,
        "workflow": call.caller.workflow_id,
        "model": call.model_requested,
    }


def _admit_limited(
    gateway: Gateway,
    call: CallContext,
    route: Route,
    body: dict[str, Any],
    applied: list[AppliedBudget],
    holders: list[LimitHolder],
) -> Admission:
    needs_tokens = any(h.limits.tokens_per_minute for h in holders)
    cost = None
    if applied or needs_tokens:
        cost = estimate_route(gateway, route, body, call.endpoint)
    admission = Admission(route, now=gateway.now())

    charged = _charge_windows(gateway, holders, cost, admission)
    try:
        cost = _reserve(gateway, call, admission, body, cost, applied, holders)
    except BaseException as error:
        for _, _, hit in charged:
            _undo_quietly(gateway, hit)
        if isinstance(error, GatewayError):
            # A 402 (or 503) still tells the client where its windows stand.
            error.headers = {
                **_refusal_headers(charged, [], time.time()),
                **error.headers,
            }
        raise

    call.admission = admission
    if cost is not None and cost.output_limit_source not in (REQUEST, ""):
        body[output_limit_field(gateway, admission.route)] = cost.output_limit

    return admission


def _charge_windows(
    gateway: Gateway,
    holders: list[LimitHolder],
    cost: RouteCost | None,
    admission: Admission,
) -> list[tuple[str, int, WindowHit]]:
    """Charge every per-minute window; return (kind, limit, hit) of each. Undo them
    all and raise 429 if one is full."""
    limiter = gateway.control.limiter
    charged: list[tuple[str, int, WindowHit]] = []
    full: list[tuple[LimitHolder, str, int, float]] = []
    for holder in holders:
        for kind, limit, amount in _windows(holder, cost):
            identifiers = (holder.scope, holder.subject, kind)
            if kind == "tokens" and amount > limit:
                _undo_all(gateway, charged)
                raise _too_many_tokens(holder, amount, limit)
            hit = limiter.hit(limit, identifiers, amount)
            if hit is None:
                # The other windows are still read, so the 429's headers report
                # every kind, as OpenAI's do.
                full.append((holder, kind, limit, limiter.reset_at(limit, identifiers)))
                continue
            charged.append((kind, limit, hit))

    now = time.time()
    if full:
        _undo_all(gateway, charged)
        holder, kind, limit, reset_at = max(full, key=lambda window: window[3])
        error = _window_full(holder, kind, limit, reset_at, now)
        error.headers.update(_refusal_headers(charged, full, now))
        raise error
    admission.headers.update(_window_headers(charged, now))
    admission.token_hits = [hit for kind, _, hit in charged if kind == "tokens"]
    return charged


def _windows(holder: LimitHolder, cost: RouteCost | None) -> list[tuple[str, int, int]]:
    """(kind, limit, amount) of each per-minute window ``holder`` has."""
    windows = []
    if holder.limits.requests_per_minute:
        windows.append(("requests", holder.limits.requests_per_minute, 1))
    if holder.limits.tokens_per_minute and cost is not None:
        windows.append(("tokens", holder.limits.tokens_per_minute, cost.tokens))

    return windows


def _window_headers(
    charged: list[tuple[str, int, WindowHit]], now: float
) -> dict[str, str]:
    """OpenAI's rate-limit headers for the tightest window of each kind."""
    headers: dict[str, str] = {}
    for kind in ("requests", "tokens"):
        hits = [(limit, hit) for k, limit, hit in charged if k == kind]
        if hits:
            limit, hit = min(hits, key=lambda item: item[1].remaining)
            headers.update(window_headers(kind, limit, hit, now))

    return headers


def _refusal_headers(
    charged: list[tuple[str, int, WindowHit]],
    full: list[tuple[LimitHolder, str, int, float]],
    now: float,
) -> dict[str, str]:
    """The rate-limit headers of a refused call: the windows it charged as they are
    once its charges are undone, and the full ones at 0 until they reset."""
    undone = [
        (kind, limit, dataclasses.replace(hit, remaining=hit.remaining + hit.cost))
        for kind, limit, hit in charged
    ]
    headers = _window_headers(undone, now)
    # The latest reset of a kind wins: only then can that kind take a call again.
    for _, kind, limit, reset_at in sorted(full, key=lambda window: window[3]):
        headers[f"x-ratelimit-limit-{kind}"] = str(limit)
        headers[f"x-ratelimit-remaining-{kind}"] = "0"
        headers[f"x-ratelimit-reset-{kind}"] = format_reset(
            seconds_until(reset_at, now)
        )

    return headers


def _undo_all(gateway: Gateway, charged: list[tuple[str, int, WindowHit]]) -> None:
    for _, _, hit in charged:
        _undo_quietly(gateway, hit)


def _undo_quietly(gateway: Gateway, hit: WindowHit) -> None:
    try:
        gateway.control.limiter.undo(hit)
    except Exception:
        logger.exception("undoing a rate-limit charge failed")


def _reserve(
    gateway: Gateway,
    call: CallContext,
    admission: Admission,
    body: dict[str, Any],
    cost: RouteCost | None,
    applied: list[AppliedBudget],
    holders: list[LimitHolder],
) -> RouteCost | None:
    """Reserve calls in flight and budgets for the route, downgrading once if a
    budget says so; set ``admission``'s route and holdings. Return the cost of the
    route that was reserved."""
    store = gateway.control.store
    now = admission.now
    assert now is not None
    slots = [
        Claim(f"concurrent:{h.scope}:{h.subject}", 1, h.limits.max_concurrent)
        for h in holders
        if h.limits.max_concurrent
    ]
    counters = [item.budget.counter(item.subject, now) for item in applied]
    asked = admission.route
    # One pass per missing counter (backfilled, then retried) and one downgrade.
    for _ in range(len(applied) + 2):
        claims = [
            *slots,
            *_budget_claims(gateway, applied, counters, cost, asked, admission),
        ]
        real_now = time.time()
        outcome = store.reserve(
            call.request_id, claims, real_now + LEASE_SECONDS, real_now
        )
        if outcome.held:
            admission.slots = [claim.counter for claim in slots]
            admission.budgets = list(zip(applied, counters, strict=True))
            return cost
        if outcome.missing is not None:
            item = applied[outcome.missing - len(slots)]
            _backfill(gateway, item, claims[outcome.missing].counter, now)
            continue
        if outcome.refused is not None and outcome.refused < len(slots):
            raise _too_many_in_flight(holders, claims[outcome.refused])

        item = applied[outcome.refused - len(slots)]
        downgrade = _downgrade_route(gateway, item, admission)
        if downgrade is None:
            amount = claims[outcome.refused].amount
            _alert_exhausted(gateway, item, outcome, amount, now)
            raise _budget_exceeded(item, outcome.state, amount, now)
        admission.downgraded_from = asked.name
        admission.route = downgrade
        admission.headers["x-gateway-downgraded-from"] = asked.name
        cost = estimate_route(gateway, downgrade, body, call.endpoint)

    raise ControlUnavailableError("the budget reservation did not settle; try again")


def _budget_claims(
    gateway: Gateway,
    applied: list[AppliedBudget],
    counters: list[str],
    cost: RouteCost | None,
    asked: Route,
    admission: Admission,
) -> list[Claim]:
    assert cost is not None or not applied
    amount = to_nanos(cost.max_cost_usd) if cost is not None else 0
    on_asked_route = admission.downgraded_from is None
    claims = []
    for item, counter in zip(applied, counters, strict=True):
        budget = item.budget
        may_downgrade = (
            on_asked_route
            and budget.downgrade_to not in (None, asked.name)
            and gateway.config.find_route(budget.downgrade_to) is not None
        )
        claims.append(
            Claim(
                counter,
                amount,
                budget.ceiling_nanos(may_downgrade),
                backfill=True,
                expires_at=counter_expiry(budget, admission.now),
            )
        )

    return claims


def _downgrade_route(
    gateway: Gateway, item: AppliedBudget, admission: Admission
) -> Route | None:
    """The cheaper route the refusing budget sends calls to, if it has one and the
    call is still on the route it asked for."""
    target = item.budget.downgrade_to
    if admission.downgraded_from is not None or not target:
        return None
    if target == admission.route.name:
        return None

    return gateway.config.find_route(target)


def _backfill(
    gateway: Gateway, item: AppliedBudget, counter: str, now: datetime
) -> None:
    """Open a budget's counter for a period with what the request log already holds
    for it (a budget created mid-period; a Redis that lost its data)."""
    budget = item.budget
    since = logged_since(budget, now)
    spent = logged_spend(
        gateway.store,
        SCOPE_COLUMNS.get(budget.scope),
        item.subject,
        format_time(since) if since else None,
    )
    gateway.control.store.open_counter(
        counter, to_nanos(spent), counter_expiry(budget, now)
    )


def settle(gateway: Gateway, call: CallContext) -> None:
    """Turn the call's reservations into its actual cost (``call.cost_usd``), free
    its slot in flight, correct its token windows and alert crossed thresholds.
    Never raises: a failure is logged, and the leases expire on their own."""
    admission = call.admission
    if admission is None or admission.settled or not admission.holds_anything:
        return
    admission.settled = True

    spent = to_nanos(call.cost_usd)
    settlements = [Settlement(counter, spent) for _, counter in admission.budgets]
    settlements.extend(Settlement(counter, 0) for counter in admission.slots)
    try:
        states = gateway.control.store.release(call.request_id, settlements)
        _correct_tokens(gateway, call, admission)
        for (item, _), state in zip(admission.budgets, states, strict=False):
            _alert_crossed(gateway, item, state.spent, admission.now, exhausted=False)
    except Exception:
        logger.exception(
            "settling a call's reservations failed",
            extra={"fields": {"request_id": call.request_id}},
        )


def _correct_tokens(gateway: Gateway, call: CallContext, admission: Admission) -> None:
    actual = call.usage.total_tokens if call.usage is not None else 0
    now = time.time()
    for hit in admission.token_hits:
        gateway.control.limiter.correct(hit, actual, now)


def response_headers(call: CallContext) -> dict[str, str]:
    """Rate-limit and downgrade headers of an admitted call (empty when none apply)."""
    admission = call.admission
    return admission.headers if admission is not None else {}


def _alert_crossed(
    gateway: Gateway,
    item: AppliedBudget,
    spent: int,
    now: datetime | None,
    exhausted: bool,
) -> None:
    budget = item.budget
    if not budget.alert_thresholds or now is None:
        return

    control = gateway.control
    thresholds = crossed_thresholds(
        budget.alert_thresholds, spent, budget.limit_nanos, exhausted
    )
    for threshold in thresholds:
        ends = resets_at(budget, now)
        alert = Alert(
            budget=budget,
            subject=item.subject,
            period_start=period_label(budget.period, now),
            threshold=threshold,
            spent_usd=to_usd(spent),
            exhausted=exhausted,
            resets_at=format_time(ends) if ends else None,
        )
        if not control.remember_alert(alert.claim):
            continue
        if control.store.claim_once(alert.claim, counter_expiry(budget, now)):
            control.alerts.submit(alert)


def _alert_exhausted(
    gateway: Gateway,
    item: AppliedBudget,
    outcome: Reservation,
    amount: int,
    now: datetime,
) -> None:
    """A refusal is exhaustion when the call would not fit even with nothing else in
    flight; then every threshold up to 100 % fires."""
    if outcome.state.spent + amount <= item.budget.limit_nanos:
        return
    try:
        _alert_crossed(gateway, item, outcome.state.spent, now, exhausted=True)
    except Exception:
        logger.exception("alerting an exhausted budget failed")


def _budget_exceeded(
    item: AppliedBudget, state: CounterState, amount: int, now: datetime
) -> BudgetExceededError:
    budget = item.budget
    spent, reserved = to_usd(state.spent), to_usd(state.reserved)
    start, ends = period_start(budget.period, now), resets_at(budget, now)
    what = (
        "the gateway" if budget.scope == "global" else f"{budget.scope} {item.subject}"
    )
    when = f"it resets at {format_time(ends)}" if ends else "it is a total budget"
    message = (
        f"budget {budget.name or budget.id} ({what}, {budget.period}) cannot cover "
        f"this call: ${spent:.6f} of ${budget.limit_usd:.6f} spent, ${reserved:.6f} "
        f"reserved by calls in flight, and this call may cost up to "
        f"${to_usd(amount):.6f}; {when}"
    )
    details = {
        "budget": {
            **budget.to_public(),
            "subject": item.subject or None,
            "spent_usd": spent,
            "reserved_usd": reserved,
            "remaining_usd": max(0.0, budget.limit_usd - spent - reserved),
            "period_start": format_time(start) if start else None,
            "resets_at": format_time(ends) if ends else None,
        },
        "request_max_cost_usd": to_usd(amount),
    }
    return BudgetExceededError(message, details=details)


def _window_full(
    holder: LimitHolder, kind: str, limit: int, reset_at: float, now: float
) -> RateLimitedError:
    wait = retry_after(reset_at, now)
    unit = "requests" if kind == "requests" else "tokens"
    message = (
        f"rate limit: {holder.scope} {holder.subject} allows {limit} {unit} per "
        f"minute; retry in {wait} s"
    )
    headers = {"Retry-After": wait}
    details = {
        "scope": holder.scope,
        "subject": holder.subject,
        "limit": f"{kind}_per_minute",
        "value": limit,
    }
    return RateLimitedError(message, headers=headers, details=details)


def _too_many_tokens(
    holder: LimitHolder, amount: int, limit: int
) -> InvalidRequestError:
    return InvalidRequestError(
        f"this call may use up to {amount} tokens (prompt and output limit), more "
        f"than {holder.scope} {holder.subject}'s limit of {limit} tokens per minute; "
        "send a lower max_tokens",
        param="max_tokens",
        code="exceeds_tokens_per_minute",
    )


def _too_many_in_flight(holders: list[LimitHolder], claim: Claim) -> RateLimitedError:
    scope, subject = claim.counter.split(":", 2)[1:]
    message = (
        f"rate limit: {scope} {subject} allows {claim.ceiling} calls in flight at "
        "once; retry when one has finished"
    )
    details = {
        "scope": scope,
        "subject": subject,
        "limit": "max_concurrent",
        "value": claim.ceiling,
    }
    return RateLimitedError(message, headers={"Retry-After": "1"}, details=details)
