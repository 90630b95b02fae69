"""Reading request bodies and queries into validated data, or a 4xx that names the
offending field."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request
from marshmallow import Schema, ValidationError

from ..errors import InvalidRequestError, UnsupportedMediaTypeError


def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object. 415 for another content type, 400 for bad JSON;
    Werkzeug answers 413 past the configured size."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"expected Content-Type application/json, got {mimetype or 'none'}"
        )

    raw = request.get_data(cache=False)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the body is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("the body must be a JSON object")

    return data


def validate_body(schema: Schema, data: dict[str, Any]) -> None:
    """Raise InvalidRequestError naming the first invalid field (all in details)."""
    errors = schema.validate(data)
    if errors:
        raise _invalid(errors)


def load_args(schema: Schema, args: Any) -> dict[str, Any]:
    """Load query arguments (one value per name) through ``schema``."""
    try:
        return schema.load(args.to_dict(flat=True))
    except ValidationError as exc:
        raise _invalid(exc.messages) from exc


def load_body(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise _invalid(exc.messages) from exc


def _invalid(errors: Any) -> InvalidRequestError:
    param, message = first_error(errors)
    return InvalidRequestError(
        f"{param}: {message}" if param else message,
        param=param or None,
        details={"fields": errors},
    )


def first_error(errors: Any, path: tuple[str, ...] = ()) -> tuple[str, str]:
    """(dotted field path, first message) of marshmallow's nested error messages."""
    if isinstance(errors, dict):
        name, value = next(iter(errors.items()))
        if name in ("_schema", "value"):
            return first_error(value, path)
        return first_error(value, (*path, str(name)))
    if isinstance(errors, list) and errors:
        if isinstance(errors[0], dict | list):
            return first_error(errors[0], path)
        return ".".join(path), str(errors[0])

    return ".".join(path), str(errors)
