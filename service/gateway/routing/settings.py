"""Routing settings from the config file: retries, timeouts, circuit breaking.

The top-level ``routing:`` section sets the defaults for every route; a model entry's
own ``routing:`` overrides any of them for that route::

    routing:
      retries: 2                 # per target, on 429, 5xx, timeouts, connection errors
      backoff_ms: {base: 250, cap: 8000}
      max_wait_s: 30             # total time spent waiting between attempts
      fallback_on_content_policy: false
      timeouts_s: {connect: 10, first_byte: 120, stall: 60, total: 600}
      circuit_breaker: {failures: 5, window_s: 60, cooldown_s: 30}
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from marshmallow import RAISE, Schema, fields, validate

from .policy import BreakerPolicy, RetryPolicy, Timeouts


@dataclass(frozen=True, slots=True)
class RouteSettings:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


def _seconds(**kwargs: Any) -> fields.Float:
    return fields.Float(validate=validate.Range(min=0, min_inclusive=False), **kwargs)


class BackoffSchema(Schema):
    class Meta:
        unknown = RAISE

    base = fields.Float(validate=validate.Range(min=0))
    cap = fields.Float(validate=validate.Range(min=0))


class TimeoutsSchema(Schema):
    class Meta:
        unknown = RAISE

    connect = _seconds()
    first_byte = _seconds()
    stall = _seconds()
    total = _seconds()


class BreakerSchema(Schema):
    class Meta:
        unknown = RAISE

    failures = fields.Integer(strict=True, validate=validate.Range(min=1))
    window_s = _seconds()
    cooldown_s = _seconds()


class RoutingSchema(Schema):
    class Meta:
        unknown = RAISE

    retries = fields.Integer(strict=True, validate=validate.Range(min=0, max=10))
    backoff_ms = fields.Nested(BackoffSchema)
    max_wait_s = fields.Float(validate=validate.Range(min=0))
    fallback_on_content_policy = fields.Boolean()
    timeouts_s = fields.Nested(TimeoutsSchema)
    circuit_breaker = fields.Nested(BreakerSchema)


def apply_routing(base: RouteSettings, data: dict[str, Any] | None) -> RouteSettings:
    """``base`` with the values a loaded ``RoutingSchema`` section sets."""
    if not data:
        return base

    retry = base.retry
    if "retries" in data:
        retry = replace(retry, max_retries=data["retries"])
    backoff = data.get("backoff_ms") or {}
    if "base" in backoff:
        retry = replace(retry, backoff_base=backoff["base"] / 1000)
    if "cap" in backoff:
        retry = replace(retry, backoff_cap=backoff["cap"] / 1000)
    if "max_wait_s" in data:
        retry = replace(retry, max_wait=data["max_wait_s"])
    if "fallback_on_content_policy" in data:
        retry = replace(
            retry, fallback_on_content_policy=data["fallback_on_content_policy"]
        )

    timeouts = replace(base.timeouts, **(data.get("timeouts_s") or {}))
    breaker_data = data.get("circuit_breaker") or {}
    breaker = replace(
        base.breaker,
        **{
            name: breaker_data[key]
            for key, name in (
                ("failures", "failures"),
                ("window_s", "window"),
                ("cooldown_s", "cooldown"),
            )
            if key in breaker_data
        },
    )
    return RouteSettings(retry, timeouts, breaker)
