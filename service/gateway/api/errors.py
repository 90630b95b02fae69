"""One error shape on every surface: each failure becomes the OpenAI error JSON.

Registered by ``create_app``. Werkzeug's HTTP errors (unknown path, wrong method,
body too large) are translated to the matching ``GatewayError``; anything unexpected
is logged and answered as a 500 ``internal_error`` without a stack trace.
"""

from __future__ import annotations

import logging
import math

import orjson
from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from .. import pipeline
from ..context import new_request_id
from ..errors import (
    BodyTooLargeError,
    GatewayError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    UnsupportedMediaTypeError,
)
from . import current_gateway

logger = logging.getLogger(__name__)

_FROM_HTTP: dict[int, type[GatewayError]] = {
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: BodyTooLargeError,
    415: UnsupportedMediaTypeError,
}


def error_response(error: GatewayError) -> Response:
    current_gateway().redactor.redact_error(error)
    call = g.get("call")
    headers = {}
    if call is not None:
        call.error = error
        call.status = error.status
        headers = pipeline.target_headers(call)
    request_id = g.get("request_id")
    response = Response(
        orjson.dumps(error.to_body(request_id), option=orjson.OPT_NON_STR_KEYS),
        status=error.status,
        headers=headers,
        mimetype="application/json",
    )
    for name, value in error.headers.items():
        response.headers[name] = value
    retry_after = getattr(error, "retry_after", None)
    if error.status == 429 and retry_after and "Retry-After" not in response.headers:
        # The provider's own wait, passed on so clients back off instead of hammering.
        response.headers["Retry-After"] = str(math.ceil(retry_after))

    return response


def handle_gateway_error(error: GatewayError) -> Response:
    return error_response(error)


def handle_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    cls = _FROM_HTTP.get(status, InvalidRequestError if status < 500 else GatewayError)
    message = {
        404: f"no such endpoint: {request.method} {request.path}",
        405: f"{request.method} is not allowed on {request.path}",
        413: "the request body is too large",
    }.get(status, error.description or "invalid request")
    return error_response(cls(message))


def handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error")
    return error_response(GatewayError("internal error"))


def assign_request_id() -> None:
    g.request_id = new_request_id()


def tag_response(response: Response) -> Response:
    """Every response, success or error, on every surface, names its request."""
    request_id = g.get("request_id")
    if request_id and "x-request-id" not in response.headers:
        response.headers["x-request-id"] = request_id

    return response


def init_app(app: Flask) -> None:
    app.before_request(assign_request_id)
    app.after_request(tag_response)
    app.register_error_handler(GatewayError, handle_gateway_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
