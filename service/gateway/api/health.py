"""GET /healthz: answers without a key."""

from __future__ import annotations

from flask import Blueprint, Response

from . import current_gateway
from .replies import json_response

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    current_gateway().store.query("SELECT 1")
    return json_response({"status": "ok"})
