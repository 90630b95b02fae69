"""marshmallow schemas for every request body and query the API accepts.

Proxy schemas validate what the gateway relies on and let provider-specific
parameters through (``unknown = INCLUDE``); the original body is forwarded, so
validation never rewrites what the client sent. Admin schemas reject unknown fields.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from ..control.budget_config import BudgetDefinitionSchema, BudgetFieldsSchema
from ..control.budgets import SCOPES
from ..keys import MAX_EXPIRY_DAYS

# Times the gateway can store and compare: converted to UTC, a time outside these
# would overflow Python's datetime.
TIME_RANGE = validate.Range(
    min=datetime(1970, 1, 1, tzinfo=UTC), max=datetime(9999, 1, 1, tzinfo=UTC)
)


def time_field() -> fields.AwareDateTime:
    """An ISO 8601 time; one without a zone is UTC."""
    return fields.AwareDateTime(default_timezone=UTC, validate=TIME_RANGE)


ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")


class StrictBoolean(fields.Boolean):
    """JSON true or false only. marshmallow's Boolean takes "false", 0 or "no" too,
    but the original body is forwarded: a provider (and the gateway's own checks)
    would read the string "false" as true."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool):
            return value
        raise ValidationError("must be true or false")


class StringOrStrings(fields.Field):
    """A string, or a list of strings (``stop``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ValidationError("must be a string or a list of strings")


class Messages(fields.Field):
    """The chat messages, checked in one pass.

    Nested schemas cost ~20 µs per message on every call (bench/RESULTS.md); this
    field checks the same rules directly and reports errors under the same paths
    (``messages.<index>.<field>``).
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError("must be a list of messages")
        if not value:
            raise ValidationError("must contain at least one message")

        errors: dict[int, dict[str, list[str]]] = {}
        for index, message in enumerate(value):
            problem = _message_problem(message)
            if problem is not None:
                errors[index] = {problem[0]: [problem[1]]}
        if errors:
            raise ValidationError(errors)

        return value


def _message_problem(message: Any) -> tuple[str, str] | None:
    """(field, problem) of the first rule ``message`` breaks, or None."""
    if not isinstance(message, dict):
        return "_schema", "must be an object"
    role = message.get("role")
    if role not in ROLES:
        return "role", f"must be one of: {', '.join(ROLES)}"

    content = message.get("content")
    if content is not None and not isinstance(content, str):
        problem = _content_problem(content)
        if problem is not None:
            return "content", problem
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        return "tool_call_id", "a tool message needs tool_call_id"
    if role in ("user", "system", "developer", "tool") and content is None:
        return "content", f"a {role} message needs content"
    tool_calls = message.get("tool_calls")
    if tool_calls is not None and not (
        isinstance(tool_calls, list) and all(isinstance(c, dict) for c in tool_calls)
    ):
        return "tool_calls", "must be a list of tool calls"
    if role == "assistant" and content is None and not tool_calls:
        return "content", "an assistant message needs content or tool_calls"
    name = message.get("name")
    if name is not None and not isinstance(name, str):
        return "name", "must be a string"

    return None


def _content_problem(content: Any) -> str | None:
    if not isinstance(content, list):
        return "must be a string, null or a list of content parts"
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
            return (
                f"part {index} must be an object whose type is one of "
                f"{', '.join(PART_TYPES)}"
            )
        kind = part["type"]
        if kind == "text" and not isinstance(part.get("text"), str):
            return f"part {index} of type text needs a string 'text'"
        if kind == "image_url":
            image = part.get("image_url")
            if not isinstance(image, dict) or not isinstance(image.get("url"), str):
                return f"part {index} of type image_url needs image_url.url"

    return None


class Tools(fields.Field):
    """Function tools: ``[{"type": "function", "function": {"name": ...}}]``."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            raise ValidationError("must be a list of tools")

        errors: dict[int, dict[str, list[str]]] = {}
        for index, tool in enumerate(value):
            problem = _tool_problem(tool)
            if problem is not None:
                errors[index] = {problem[0]: [problem[1]]}
        if errors:
            raise ValidationError(errors)

        return value


def _tool_problem(tool: Any) -> tuple[str, str] | None:
    if not isinstance(tool, dict):
        return "_schema", "must be an object"
    if tool.get("type") != "function":
        return "type", "must be 'function'"
    function = tool.get("function")
    if not isinstance(function, dict):
        return "function", "must be an object with a name"
    name = function.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        return "function", "needs a name of 1 to 64 characters"
    if "parameters" in function and not isinstance(function["parameters"], dict):
        return "function.parameters", "must be a JSON schema object"

    return None


class ToolChoice(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value in ("none", "auto", "required"):
            return value
        function = value.get("function") if isinstance(value, dict) else None
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return value
        raise ValidationError(
            "must be 'none', 'auto', 'required' or {'type': 'function', "
            "'function': {'name': ...}}"
        )


class JSONSchemaFormat(Schema):
    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    schema = fields.Dict()
    strict = StrictBoolean(allow_none=True)


class ResponseFormatSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(
        required=True, validate=validate.OneOf(["text", "json_object", "json_schema"])
    )
    json_schema = fields.Nested(JSONSchemaFormat)

    @validates_schema
    def check_schema_given(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") == "json_schema" and "json_schema" not in data:
            raise ValidationError(
                "json_schema is required for this type", "json_schema"
            )


class StreamOptionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    include_usage = StrictBoolean(allow_none=True)


class ChatCompletionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1, max=200))
    messages = Messages(required=True)
    stream = StrictBoolean(allow_none=True)
    stream_options = fields.Nested(StreamOptionsSchema, allow_none=True)
    max_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    max_completion_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    top_p = fields.Float(validate=validate.Range(min=0, max=1), allow_none=True)
    n = fields.Integer(strict=True, validate=validate.Range(min=1, max=128))
    stop = StringOrStrings(allow_none=True)
    tools = Tools()
    tool_choice = ToolChoice()
    parallel_tool_calls = StrictBoolean()
    response_format = fields.Nested(ResponseFormatSchema)
    presence_penalty = fields.Float(
        validate=validate.Range(min=-2, max=2), allow_none=True
    )
    frequency_penalty = fields.Float(
        validate=validate.Range(min=-2, max=2), allow_none=True
    )
    seed = fields.Integer(allow_none=True)
    user = fields.String()
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class EmbeddingInput(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value:
            return value
        if (
            isinstance(value, list)
            and value
            and all(_is_embedding_item(v) for v in value)
        ):
            return value
        raise ValidationError(
            "must be a non-empty string, or a non-empty list of strings or token ids"
        )


def _is_embedding_item(value: Any) -> bool:
    if isinstance(value, str | int) and not isinstance(value, bool):
        return True

    return isinstance(value, list) and all(isinstance(v, int) for v in value)


class EmbeddingsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1, max=200))
    input = EmbeddingInput(required=True)
    encoding_format = fields.String(validate=validate.OneOf(["float", "base64"]))
    dimensions = fields.Integer(strict=True, validate=validate.Range(min=1))
    user = fields.String()


class KeyCreateSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    team = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)
    owner = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)
    models = fields.List(
        fields.String(validate=validate.Length(min=1)),
        allow_none=True,
        validate=validate.Length(min=1),
    )
    metadata = fields.Dict(keys=fields.String(), allow_none=True)
    expires_at = fields.AwareDateTime(
        allow_none=True, default_timezone=UTC, validate=TIME_RANGE
    )
    expires_in_days = fields.Float(
        validate=validate.Range(min=0, max=MAX_EXPIRY_DAYS, min_inclusive=False)
    )
    limits = fields.Nested(lambda: RateLimitsSchema(), allow_none=True)

    @validates_schema
    def check_one_expiry(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("expires_at") and data.get("expires_in_days"):
            raise ValidationError(
                "give expires_at or expires_in_days, not both", "expires_in_days"
            )


class RequestQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    key_id = fields.String()
    team = fields.String()
    model = fields.String()
    provider = fields.String()
    workflow_id = fields.String()
    execution_id = fields.String()
    user = fields.String()
    tag = fields.String()
    status = fields.Integer(validate=validate.Range(min=100, max=599))
    error_type = fields.String()
    endpoint = fields.String(
        validate=validate.OneOf(["chat", "embeddings", "responses"])
    )
    since = time_field()
    until = time_field()
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = fields.String()


SPEND_GROUPS = (
    "key",
    "team",
    "model",
    "route",
    "provider",
    "workflow",
    "execution",
    "user",
    "day",
    "tag",
)
PERIODS = ("day", "week", "month", "total")


class CommaSeparated(fields.List):
    """A query argument holding a comma-separated list."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        return super()._deserialize(value, attr, data, **kwargs)


class SpendQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    group_by = CommaSeparated(
        fields.String(validate=validate.OneOf(SPEND_GROUPS)),
        load_default=list,
        validate=validate.Length(max=3),
    )
    period = fields.String(validate=validate.OneOf(PERIODS))
    since = time_field()
    until = time_field()
    format = fields.String(
        load_default="json", validate=validate.OneOf(["json", "csv"])
    )
    key_id = fields.String()
    team = fields.String()
    model = fields.String()
    provider = fields.String()
    workflow_id = fields.String()
    execution_id = fields.String()
    user = fields.String()
    tag = fields.String()
    endpoint = fields.String(
        validate=validate.OneOf(["chat", "embeddings", "responses"])
    )

    @validates_schema
    def check_period_or_range(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("period") and (data.get("since") or data.get("until")):
            raise ValidationError("give period or since/until, not both", "period")


class ResponsesInput(fields.Field):
    """A non-empty string, or a non-empty list of input items (objects)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value:
            return value
        is_items = isinstance(value, list) and all(isinstance(v, dict) for v in value)
        if is_items and value:
            return value
        raise ValidationError("must be a non-empty string or a non-empty list of items")


class ResponsesFormatSchema(Schema):
    """``text.format`` of the Responses API: flat, unlike chat's ``response_format``."""

    class Meta:
        unknown = INCLUDE

    type = fields.String(
        required=True, validate=validate.OneOf(["text", "json_object", "json_schema"])
    )
    name = fields.String(validate=validate.Length(min=1, max=64))
    schema = fields.Dict()
    description = fields.String(allow_none=True)
    strict = StrictBoolean(allow_none=True)

    @validates_schema
    def check_schema_given(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") != "json_schema":
            return
        for name in ("name", "schema"):
            if name not in data:
                raise ValidationError(f"{name} is required for json_schema", name)


class ResponsesTextSchema(Schema):
    class Meta:
        unknown = INCLUDE

    format = fields.Nested(ResponsesFormatSchema, allow_none=True)
    verbosity = fields.String(
        validate=validate.OneOf(["low", "medium", "high"]), allow_none=True
    )


class ResponsesSchema(Schema):
    """``POST /v1/responses``. Items, tools and unsupported features are checked
    while translating (``responses_api``), which names the offending parameter."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1, max=200))
    input = ResponsesInput(required=True)
    instructions = fields.String(allow_none=True)
    stream = StrictBoolean(allow_none=True)
    max_output_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    top_p = fields.Float(validate=validate.Range(min=0, max=1), allow_none=True)
    tools = fields.List(fields.Dict(), allow_none=True)
    tool_choice = fields.Raw(allow_none=True)
    parallel_tool_calls = StrictBoolean(allow_none=True)
    text = fields.Nested(ResponsesTextSchema, allow_none=True)
    reasoning = fields.Dict(allow_none=True)
    user = fields.String(allow_none=True)
    metadata = fields.Dict(
        keys=fields.String(), values=fields.String(), allow_none=True
    )
    store = StrictBoolean(allow_none=True)
    background = StrictBoolean(allow_none=True)


_LIMIT_RANGE = validate.Range(min=1, max=1_000_000_000)


class RateLimitsSchema(Schema):
    """A key's or team's rate limits; a missing or null field means no limit."""

    class Meta:
        unknown = RAISE

    requests_per_minute = fields.Integer(
        strict=True, validate=_LIMIT_RANGE, allow_none=True
    )
    tokens_per_minute = fields.Integer(
        strict=True, validate=_LIMIT_RANGE, allow_none=True
    )
    max_concurrent = fields.Integer(strict=True, validate=_LIMIT_RANGE, allow_none=True)


class BudgetCreateSchema(BudgetDefinitionSchema):
    """``POST /admin/budgets``: the config file's budget fields (budget_config)."""


class BudgetUpdateSchema(BudgetFieldsSchema):
    """``PATCH /admin/budgets/<id>``: what it limits (scope, subject) is fixed."""


class BudgetQuerySchema(Schema):
    class Meta:
        unknown = RAISE

    scope = fields.String(validate=validate.OneOf(SCOPES))
    subject = fields.String(validate=validate.Length(min=1, max=200))


class EstimateSchema(Schema):
    """``POST /v1/estimate``: a chat body, with ``models`` to compare several."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(validate=validate.Length(min=1, max=200))
    models = fields.List(
        fields.String(validate=validate.Length(min=1, max=200)),
        validate=validate.Length(min=1, max=20),
    )
    messages = Messages(required=True)
    max_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    max_completion_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    n = fields.Integer(strict=True, validate=validate.Range(min=1, max=128))
    tools = Tools()

    @validates_schema
    def check_models_given(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("model") and not data.get("models"):
            raise ValidationError("give model, or models to compare", "models")
