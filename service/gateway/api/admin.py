"""The admin surface (master key): virtual keys, the request log, spend reports."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta

from flask import Blueprint, Response, g, request

from .. import keys
from ..errors import AuthenticationError, InvalidRequestError, NotFoundError
from ..reports import REPORT_COLUMNS, spend_report
from . import current_gateway
from .bodies import load_args, load_body, read_json
from .openai import presented_key
from .replies import csv_response, json_response
from .schemas import KeyCreateSchema, RequestQuerySchema, SpendQuerySchema

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

_KEY_CREATE = KeyCreateSchema()
_REQUEST_QUERY = RequestQuerySchema()
_SPEND = SpendQuerySchema()


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
        raise InvalidRequestError("cursor: not a cursor this API issued", param="cursor") from exc

    return json_response(
        {"object": "list", "data": rows, "next_cursor": next_cursor, "has_more": bool(next_cursor)}
    )


@blueprint.get("/requests/<request_id>")
def get_request(request_id: str) -> Response:
    gateway = current_gateway()
    gateway.writer.flush()
    rows = gateway.store.query("SELECT * FROM requests WHERE id = ?", (request_id,))
    if not rows:
        raise NotFoundError(f"no request with id {request_id!r}", code="request_not_found")
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
