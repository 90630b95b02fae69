"""The admin surface (master key): virtual keys, the request log, spend reports,
budgets and rate limits."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, request

from .. import keys
from ..context import Gateway
from ..control import manage
from ..control.budgets import Budget, find_budget
from ..control.ratelimits import RateLimits
from ..errors import (
    AuthenticationError,
    ControlUnavailableError,
    InvalidRequestError,
    NotFoundError,
)
from ..reports import REPORT_COLUMNS, spend_report
from . import current_gateway
from .bodies import load_args, load_body, read_json
from .openai import presented_key
from .replies import csv_response, json_response
from .schemas import (
    BudgetCreateSchema,
    BudgetQuerySchema,
    BudgetUpdateSchema,
    KeyCreateSchema,
    RateLimitsSchema,
    RequestQuerySchema,
    SpendQuerySchema,
)

logger = logging.getLogger(__name__)
blueprint = Blueprint("admin", __name__, url_prefix="/admin")

_KEY_CREATE = KeyCreateSchema()
_REQUEST_QUERY = RequestQuerySchema()
_SPEND = SpendQuerySchema()
_LIMITS = RateLimitsSchema()
_BUDGET_CREATE = BudgetCreateSchema()
_BUDGET_UPDATE = BudgetUpdateSchema()
_BUDGET_QUERY = BudgetQuerySchema()


@blueprint.before_request
def require_master_key() -> None:
    master = current_gateway().settings.master_key
    presented = presented_key()
    if not master:
        raise AuthenticationError(
            "the admin API is disabled: set GATEWAY_MASTER_KEY", code="admin_disabled"
        )
    if not presented or not hmac.compare_digest(presented.encode(), master.encode()):
        raise AuthenticationError("invalid master key")


@blueprint.post("/keys")
def create_key() -> Response:
    data = load_body(_KEY_CREATE, read_json(request))
    expires_at = data.get("expires_at")
    if data.get("expires_in_days"):
        expires_at = datetime.now(UTC) + timedelta(days=data["expires_in_days"])
    full_key, row = keys.new_key(
        data["name"],
        team=data.get("team"),
        owner=data.get("owner"),
        models=data.get("models"),
        metadata=data.get("metadata"),
        expires_at=keys.format_time(expires_at) if expires_at else None,
        limits=RateLimits.from_mapping(data.get("limits")),
    )
    current_gateway().store.insert_key(row)
    created = keys.key_from_row(row).to_public()
    return json_response({**created, "key": full_key}, status=201)


@blueprint.get("/keys")
def list_keys() -> Response:
    include_revoked = request.args.get("include_revoked", "false").lower() == "true"
    rows = current_gateway().store.list_keys(include_revoked)
    return json_response(
        {"object": "list", "data": [keys.key_from_row(r).to_public() for r in rows]}
    )


@blueprint.get("/keys/<key_id>")
def get_key(key_id: str) -> Response:
    return json_response(keys.find_key(current_gateway().store, key_id).to_public())


@blueprint.delete("/keys/<key_id>")
def revoke_key(key_id: str) -> Response:
    store = current_gateway().store
    key = keys.find_key(store, key_id)
    if key.revoked_at is None:
        store.revoke_key(key_id, keys.utc_now())
    return json_response(keys.find_key(store, key_id).to_public())


@blueprint.get("/requests")
def list_requests() -> Response:
    query = load_args(_REQUEST_QUERY, request.args)
    limit = query.pop("limit")
    cursor = query.pop("cursor", None)
    for bound in ("since", "until"):
        if query.get(bound):
            query[bound] = keys.format_time(query[bound])
    gateway = current_gateway()
    gateway.writer.flush()
    try:
        rows, next_cursor = gateway.store.list_requests(query, limit, cursor)
    except ValueError as exc:
        raise InvalidRequestError(
            "cursor: not a cursor this API issued", param="cursor"
        ) from exc

    return json_response(
        {
            "object": "list",
            "data": rows,
            "next_cursor": next_cursor,
            "has_more": bool(next_cursor),
        }
    )


@blueprint.get("/requests/<request_id>")
def get_request(request_id: str) -> Response:
    gateway = current_gateway()
    gateway.writer.flush()
    rows = gateway.store.query("SELECT * FROM requests WHERE id = ?", (request_id,))
    if not rows:
        raise NotFoundError(
            f"no request with id {request_id!r}", code="request_not_found"
        )
    attempts = gateway.store.query(
        "SELECT * FROM attempts WHERE request_id = ? ORDER BY number", (request_id,)
    )
    return json_response({**rows[0], "attempt_list": attempts})


@blueprint.get("/spend")
def spend() -> Response:
    query = load_args(_SPEND, request.args)
    gateway = current_gateway()
    gateway.writer.flush()
    report = spend_report(gateway.store, query, gateway.now())
    if query["format"] == "csv":
        rows = report["groups"] if report["group_by"] else [report["total"]]
        return csv_response(rows, [*report["group_by"], *REPORT_COLUMNS], "spend.csv")

    return json_response(report)


@blueprint.put("/keys/<key_id>/limits")
def set_key_limits(key_id: str) -> Response:
    limits = RateLimits.from_mapping(load_body(_LIMITS, read_json(request)))
    key = keys.set_key_limits(current_gateway().store, key_id, limits)
    return json_response(key.to_public())


@blueprint.get("/teams")
def list_team_limits() -> Response:
    data = manage.list_team_limits(current_gateway().store)
    return json_response({"object": "list", "data": data})


@blueprint.get("/teams/<team>/limits")
def get_team_limits(team: str) -> Response:
    limits = manage.get_team_limits(current_gateway().store, team)
    return json_response({"team": team, "limits": limits.to_public()})


@blueprint.put("/teams/<team>/limits")
def set_team_limits(team: str) -> Response:
    limits = RateLimits.from_mapping(load_body(_LIMITS, read_json(request)))
    gateway = current_gateway()
    manage.set_team_limits(gateway.store, team, limits)
    _definitions_changed(gateway)
    public = limits.to_public() if limits else None
    return json_response({"team": team, "limits": public})


@blueprint.delete("/teams/<team>/limits")
def delete_team_limits(team: str) -> Response:
    gateway = current_gateway()
    manage.get_team_limits(gateway.store, team)
    manage.set_team_limits(gateway.store, team, None)
    _definitions_changed(gateway)
    return json_response({"team": team, "limits": None})


@blueprint.post("/budgets")
def create_budget() -> Response:
    data = load_body(_BUDGET_CREATE, read_json(request))
    gateway = current_gateway()
    budget = manage.create_budget(gateway.store, gateway.config.routes, data)
    _open_current_period(gateway, budget)
    _definitions_changed(gateway)
    return json_response(_budget_view(gateway, budget), status=201)


@blueprint.get("/budgets")
def list_budgets() -> Response:
    query = load_args(_BUDGET_QUERY, request.args)
    gateway = current_gateway()
    scope, subject = query.get("scope"), query.get("subject")
    budgets = manage.list_budgets(gateway.store, scope, subject)
    data = [_budget_view(gateway, budget) for budget in budgets]
    return json_response({"object": "list", "data": data})


@blueprint.get("/budgets/<budget_id>")
def get_budget(budget_id: str) -> Response:
    gateway = current_gateway()
    budget = find_budget(gateway.store, budget_id)
    subject = request.args.get("subject") or None
    return json_response(_budget_view(gateway, budget, subject))


@blueprint.patch("/budgets/<budget_id>")
def update_budget(budget_id: str) -> Response:
    changes = load_body(_BUDGET_UPDATE, read_json(request))
    gateway = current_gateway()
    routes = gateway.config.routes
    budget = manage.update_budget(gateway.store, routes, budget_id, changes)
    _open_current_period(gateway, budget)
    _definitions_changed(gateway)
    return json_response(_budget_view(gateway, budget))


@blueprint.delete("/budgets/<budget_id>")
def delete_budget(budget_id: str) -> Response:
    gateway = current_gateway()
    budget = manage.remove_budget(gateway.store, budget_id)
    _definitions_changed(gateway)
    return json_response({"id": budget.id, "object": "budget", "deleted": True})


@blueprint.get("/budgets/<budget_id>/alerts")
def list_budget_alerts(budget_id: str) -> Response:
    gateway = current_gateway()
    find_budget(gateway.store, budget_id)
    gateway.writer.flush()
    data = manage.list_alerts(gateway.store, budget_id)
    return json_response({"object": "list", "data": data})


def _budget_view(gateway: Gateway, budget: Budget, subject: str | None = None) -> dict:
    """The budget and its current period (``usage`` is null while the control store
    cannot be reached)."""
    assert gateway.control is not None
    try:
        usage = manage.budget_usage(
            gateway.store, gateway.control.store, budget, gateway.now(), subject
        )
    except ControlUnavailableError:
        usage = None
    return {**budget.to_public(), "usage": usage}


def _open_current_period(gateway: Gateway, budget: Budget) -> None:
    """Count this period's logged spend, including rows still in the writer. With
    the store down, the first call of the period opens it instead."""
    assert gateway.control is not None
    gateway.writer.flush()
    try:
        manage.open_current_period(
            gateway.store, gateway.control.store, budget, gateway.now()
        )
    except ControlUnavailableError as error:
        logger.warning("opening a budget's period failed: %s", error.message)


def _definitions_changed(gateway: Gateway) -> None:
    """This worker applies the change from its next call; others within 0.25 s."""
    assert gateway.control is not None
    gateway.control.definitions.invalidate()
