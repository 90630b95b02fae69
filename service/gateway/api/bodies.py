"""Reading request bodies and queries into validated data, or a 4xx that names the
offending field."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Request
from marshmallow import Schema, ValidationError

from ..errors import InvalidRequestError, UnsupportedMediaTypeError

# How deeply a body may nest objects and lists. Far above what a chat body or a JSON
# schema needs, and far below what serializing it again (orjson stops at 254 levels)
# and the provider translations can take.
MAX_JSON_DEPTH = 64


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
    # Fewer brackets than the limit cannot nest past it: most bodies stop here.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH:
        check_depth(data)

    return data


def check_depth(data: dict[str, Any], limit: int = MAX_JSON_DEPTH) -> None:
    """Raise InvalidRequestError naming the top-level field that nests objects and
    lists more than ``limit`` levels deep (the body itself is level 1)."""
    pending = [
        (value, 2, name)
        for name, value in data.items()
        if value.__class__ in _CONTAINERS
    ]
    while pending:
        value, depth, field = pending.pop()
        if depth > limit:
            raise InvalidRequestError(
                f"{field}: nested more than {limit} levels deep", param=field
            )
        children = value.values() if value.__class__ is dict else value
        pending.extend(
            (child, depth + 1, field)
            for child in children
            if child.__class__ in _CONTAINERS
        )


# orjson.loads builds exactly these types.
_CONTAINERS = (dict, list)


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
