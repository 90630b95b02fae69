"""GET /admin/routing: the routing report (master key)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, request
from marshmallow import RAISE, Schema, fields, validate

from ..keys import format_time
from ..routing.report import routing_report
from . import current_gateway
from .admin import require_master_key
from .bodies import load_args
from .replies import json_response
from .schemas import time_field

blueprint = Blueprint("routing_report", __name__, url_prefix="/admin/routing")
blueprint.before_request(require_master_key)


class RoutingQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    since = time_field()
    until = time_field()
    # Ten years: a longer window would reach back before the year 1.
    hours = fields.Float(
        validate=validate.Range(min=0, max=24 * 3660, min_inclusive=False)
    )


_QUERY = RoutingQuerySchema()


@blueprint.get("")
def report() -> Response:
    query = load_args(_QUERY, request.args)
    gateway = current_gateway()
    gateway.writer.flush()
    until = query.get("until") or gateway.now()
    since = query.get("since") or until - timedelta(hours=query.get("hours", 24))
    return json_response(
        routing_report(gateway.store, format_time(since), format_time(until))
    )
