"""Every error, on every surface, is the OpenAI error JSON with the request id."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import errors
from tests.conftest import ADMIN, bearer

SHAPE_KEYS = {"message", "type", "param", "code", "request_id"}
USER = [{"role": "user", "content": "x"}]


def nested(depth: int) -> str:
    """A JSON value of lists ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def chat_text(extra: str) -> dict[str, Any]:
    """A chat body given as text, with ``extra`` spliced in as further fields."""
    return {
        "data": '{"model": "demo", "messages": [{"role": "user", "content": "x"}], '
        + extra
        + "}",
        "content_type": "application/json",
    }


def assert_error_shape(response: Any, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    error = body["error"]
    assert SHAPE_KEYS <= set(error)
    assert error["type"] == error_type
    assert error["request_id"].startswith("req_")
    assert response.headers["x-request-id"] == error["request_id"]
    assert "Traceback" not in response.get_data(as_text=True)
    return error


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_renders_in_the_one_shape(make_app: Any, cls: type) -> None:
    app = make_app()

    @app.get("/raise-for-test")
    def raise_it() -> None:
        raise cls("something went wrong")

    error = assert_error_shape(
        app.test_client().get("/raise-for-test"), cls.status, cls.type
    )
    assert error["message"] == "something went wrong"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "error_type", "param"),
    [
        (
            "post",
            "/v1/chat/completions",
            {"data": "{", "content_type": "application/json"},
            400,
            "invalid_request_error",
            None,
        ),
        (
            "post",
            "/v1/chat/completions",
            {"json": [1, 2]},
            400,
            "invalid_request_error",
            None,
        ),
        (
            "post",
            "/v1/chat/completions",
            {"json": {"messages": [{"role": "user", "content": "x"}]}},
            400,
            "invalid_request_error",
            "model",
        ),
        (
            "post",
            "/v1/chat/completions",
            {"json": {"model": "demo", "messages": []}},
            400,
            "invalid_request_error",
            "messages",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": [{"role": "wizard", "content": "x"}],
                }
            },
            400,
            "invalid_request_error",
            "messages.0.role",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": [{"role": "user", "content": "x"}],
                    "temperature": 9,
                }
            },
            400,
            "invalid_request_error",
            "temperature",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": [{"role": "user", "content": "x"}],
                    "max_tokens": "ten",
                }
            },
            400,
            "invalid_request_error",
            "max_tokens",
        ),
        (
            "post",
            "/v1/chat/completions",
            {"json": {"model": "demo", "messages": [{"role": "tool", "content": "x"}]}},
            400,
            "invalid_request_error",
            "messages.0.tool_call_id",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": [{"role": "user", "content": [{"type": "image_url"}]}],
                }
            },
            400,
            "invalid_request_error",
            "messages.0.content",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": [{"role": "user", "content": "x"}],
                    "response_format": {"type": "xml"},
                }
            },
            400,
            "invalid_request_error",
            "response_format.type",
        ),
        (
            "post",
            "/v1/chat/completions",
            {"data": "model=demo", "content_type": "text/plain"},
            415,
            "invalid_request_error",
            None,
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "no-such-model",
                    "messages": [{"role": "user", "content": "x"}],
                }
            },
            404,
            "not_found_error",
            "model",
        ),
        (
            "post",
            "/v1/embeddings",
            {"json": {"model": "demo", "input": []}},
            400,
            "invalid_request_error",
            "input",
        ),
        ("put", "/v1/chat/completions", {}, 405, "invalid_request_error", None),
        ("get", "/v1/no-such-endpoint", {}, 404, "not_found_error", None),
        (
            "get",
            "/v1/spend",
            {"query_string": {"period": "fortnight"}},
            400,
            "invalid_request_error",
            "period",
        ),
        # Deep enough to parse, too deep to serialize again for the provider.
        *(
            (
                "post",
                "/v1/chat/completions",
                chat_text(f'"extra": {nested(depth)}'),
                400,
                "invalid_request_error",
                "extra",
            )
            for depth in (64, 300, 1000)
        ),
        (
            "post",
            "/v1/embeddings",
            {
                "data": f'{{"model": "demo", "input": "x", "extra": {nested(500)}}}',
                "content_type": "application/json",
            },
            400,
            "invalid_request_error",
            "extra",
        ),
        # Past orjson's own parsing limit.
        (
            "post",
            "/v1/chat/completions",
            chat_text(f'"extra": {nested(2000)}'),
            400,
            "invalid_request_error",
            None,
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": USER,
                    "tools": [
                        {
                            "type": "function",
                            "function": {"name": "f", "parameters": "string"},
                        }
                    ],
                }
            },
            400,
            "invalid_request_error",
            "tools.0.function.parameters",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": USER,
                    "response_format": {
                        "type": "json_schema",
                        "json_schema": {"name": "s", "schema": [5]},
                    },
                }
            },
            400,
            "invalid_request_error",
            "response_format.json_schema.schema",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": USER,
                    "tool_choice": {"function": 5},
                }
            },
            400,
            "invalid_request_error",
            "tool_choice",
        ),
        # A string is not a boolean: "false" would otherwise read as true.
        (
            "post",
            "/v1/chat/completions",
            {"json": {"model": "demo", "messages": USER, "stream": "false"}},
            400,
            "invalid_request_error",
            "stream",
        ),
        (
            "post",
            "/v1/chat/completions",
            {"json": {"model": "demo", "messages": USER, "stream": 0}},
            400,
            "invalid_request_error",
            "stream",
        ),
        (
            "post",
            "/v1/chat/completions",
            {
                "json": {
                    "model": "demo",
                    "messages": USER,
                    "stream": True,
                    "stream_options": {"include_usage": "yes"},
                }
            },
            400,
            "invalid_request_error",
            "stream_options.include_usage",
        ),
        (
            "post",
            "/v1/responses",
            {"json": {"model": "demo", "input": "x", "stream": "true"}},
            400,
            "invalid_request_error",
            "stream",
        ),
        (
            "post",
            "/admin/keys",
            {"json": {"name": "k", "expires_in_days": 1e308}, "headers": ADMIN},
            400,
            "invalid_request_error",
            "expires_in_days",
        ),
        (
            "post",
            "/admin/keys",
            {
                "json": {"name": "k", "expires_at": "9999-12-31T23:59:59-05:00"},
                "headers": ADMIN,
            },
            400,
            "invalid_request_error",
            "expires_at",
        ),
        (
            "get",
            "/admin/requests",
            {"query_string": {"since": "9999-12-31T23:00-05:00"}, "headers": ADMIN},
            400,
            "invalid_request_error",
            "since",
        ),
        (
            "get",
            "/admin/spend",
            {"query_string": {"until": "0001-01-01T00:00+05:00"}, "headers": ADMIN},
            400,
            "invalid_request_error",
            "until",
        ),
        (
            "get",
            "/admin/routing",
            {"query_string": {"hours": "1e308"}, "headers": ADMIN},
            400,
            "invalid_request_error",
            "hours",
        ),
    ],
)
def test_bad_input_gets_a_clear_error_naming_the_field(
    client: Any,
    key: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    error_type: str,
    param: str | None,
) -> None:
    kwargs = {"headers": bearer(key), **kwargs}
    response = getattr(client, method)(path, **kwargs)

    error = assert_error_shape(response, status, error_type)
    assert error["param"] == param


@pytest.mark.parametrize(
    "schema",
    [
        {"anyOf": [5]},
        {"oneOf": "x"},
        {"type": "array", "items": "string"},
        {"type": "array", "items": [{"type": "string"}]},
        {"type": "object", "properties": {"a": 3}},
        {"type": "object", "properties": [1, 2]},
        {"enum": 5},
        {"type": ["null"]},
        {"type": {"nested": True}},
    ],
    ids=repr,
)
def test_the_demo_model_answers_a_malformed_schema(
    client: Any, key: str, schema: dict[str, Any]
) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    response_format = {
        "type": "json_schema",
        "json_schema": {"name": "s", "schema": schema},
    }

    for extra in ({"tools": [tool]}, {"response_format": response_format}):
        body = {"model": "demo", "messages": USER, **extra}
        response = client.post("/v1/chat/completions", json=body, headers=bearer(key))

        assert response.status_code == 200, response.get_data(as_text=True)


def test_the_demo_model_bounds_a_deep_schema(client: Any, key: str) -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(30):
        schema = {"type": "object", "properties": {"a": schema}}
    body = {
        "model": "demo",
        "messages": USER,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "s", "schema": schema},
        },
    }

    response = client.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_bad_routing_header_without_a_key_is_401(client: Any) -> None:
    body = {"model": "demo", "messages": USER}
    headers = {"X-Gateway-Max-Retries": "lots", "X-Gateway-No-Fallback": "maybe"}

    response = client.post("/v1/chat/completions", json=body, headers=headers)

    assert_error_shape(response, 401, "authentication_error")


def test_a_bad_routing_header_with_a_key_is_400_naming_it(
    client: Any, key: str
) -> None:
    body = {"model": "demo", "messages": USER}
    headers = {**bearer(key), "X-Gateway-Max-Retries": "lots"}

    response = client.post("/v1/chat/completions", json=body, headers=headers)

    error = assert_error_shape(response, 400, "invalid_request_error")
    assert error["param"] == "X-Gateway-Max-Retries"


def test_oversized_body_is_413(make_app: Any) -> None:
    app = make_app(env={"GATEWAY_MAX_BODY_BYTES": "1000"})
    client = app.test_client()
    key = client.post("/admin/keys", json={"name": "k"}, headers=ADMIN).get_json()[
        "key"
    ]
    body = {"model": "demo", "messages": [{"role": "user", "content": "x" * 5000}]}

    response = client.post("/v1/chat/completions", json=body, headers=bearer(key))

    assert_error_shape(response, 413, "invalid_request_error")


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer sk-gw-nosuchkey123-secret"}, "invalid_api_key"),
        ({"Authorization": "Bearer not-even-a-key"}, "invalid_api_key"),
        ({"Authorization": "Basic abc"}, "missing_api_key"),
    ],
)
def test_missing_or_wrong_key_is_401(
    client: Any, headers: dict[str, str], code: str
) -> None:
    response = client.post("/v1/chat/completions", json={}, headers=headers)

    error = assert_error_shape(response, 401, "authentication_error")
    assert error["code"] == code


def test_admin_api_errors_use_the_same_shape(client: Any) -> None:
    unauthorised = client.get("/admin/keys", headers={"Authorization": "Bearer wrong"})
    assert_error_shape(unauthorised, 401, "authentication_error")

    invalid = client.post("/admin/keys", json={"name": ""}, headers=ADMIN)
    assert assert_error_shape(invalid, 400, "invalid_request_error")["param"] == "name"

    unknown = client.post(
        "/admin/keys", json={"name": "a", "colour": "red"}, headers=ADMIN
    )
    assert (
        assert_error_shape(unknown, 400, "invalid_request_error")["param"] == "colour"
    )

    missing = client.delete("/admin/keys/doesnotexist", headers=ADMIN)
    assert_error_shape(missing, 404, "not_found_error")


def test_unexpected_exception_is_a_500_without_a_stack_trace(make_app: Any) -> None:
    app = make_app()

    @app.get("/explode-for-test")
    def explode() -> None:
        raise ZeroDivisionError("secret internals sk-abcdefghijklmnop")

    response = app.test_client().get("/explode-for-test")

    error = assert_error_shape(response, 500, "internal_error")
    assert "sk-" not in response.get_data(as_text=True)
    assert error["message"] == "internal error"
