"""marshmallow schemas for every request body and query the API accepts.

Proxy schemas validate what the gateway relies on and let provider-specific
parameters through (``unknown = INCLUDE``); the original body is forwarded, so
validation never rewrites what the client sent. Admin schemas reject unknown fields.
"""

from __future__ import annotations

from datetime import UTC
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

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
PART_TYPES = ("text", "image_url", "input_audio", "file", "refusal")


class StringOrStrings(fields.Field):
    """A string, or a list of strings (``stop``)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        raise ValidationError("must be a string or a list of strings")


class MessageContent(fields.Field):
    """A string, null, or a list of typed content parts."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if not isinstance(value, list):
            raise ValidationError("must be a string, null or a list of content parts")
        for index, part in enumerate(value):
            _check_part(part, index)

        return value


def _check_part(part: Any, index: int) -> None:
    if not isinstance(part, dict) or part.get("type") not in PART_TYPES:
        raise ValidationError(
            f"part {index} must be an object whose type is one of {', '.join(PART_TYPES)}"
        )
    kind = part["type"]
    if kind == "text" and not isinstance(part.get("text"), str):
        raise ValidationError(f"part {index} of type text needs a string 'text'")
    if kind == "image_url":
        image = part.get("image_url")
        if not isinstance(image, dict) or not isinstance(image.get("url"), str):
            raise ValidationError(f"part {index} of type image_url needs image_url.url")


class MessageSchema(Schema):
    class Meta:
        unknown = INCLUDE

    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    content = MessageContent(allow_none=True)
    name = fields.String()
    tool_calls = fields.List(fields.Dict())
    tool_call_id = fields.String()

    @validates_schema
    def check_role_fields(self, data: dict[str, Any], **_: Any) -> None:
        role = data.get("role")
        if role == "tool" and not data.get("tool_call_id"):
            raise ValidationError("a tool message needs tool_call_id", "tool_call_id")
        if role in ("user", "system", "developer", "tool") and data.get("content") is None:
            raise ValidationError(f"a {role} message needs content", "content")
        if role == "assistant" and data.get("content") is None and not data.get("tool_calls"):
            raise ValidationError("an assistant message needs content or tool_calls", "content")


class FunctionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String()
    parameters = fields.Dict()


class ToolSchema(Schema):
    class Meta:
        unknown = INCLUDE

    type = fields.String(required=True, validate=validate.Equal("function"))
    function = fields.Nested(FunctionSchema, required=True)


class ToolChoice(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if value in ("none", "auto", "required"):
            return value
        if isinstance(value, dict) and isinstance(
            (value.get("function") or {}).get("name"), str
        ):
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
    strict = fields.Boolean(allow_none=True)


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
            raise ValidationError("json_schema is required for this type", "json_schema")


class StreamOptionsSchema(Schema):
    class Meta:
        unknown = INCLUDE

    include_usage = fields.Boolean()


class ChatCompletionSchema(Schema):
    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=validate.Length(min=1, max=200))
    messages = fields.List(
        fields.Nested(MessageSchema), required=True, validate=validate.Length(min=1)
    )
    stream = fields.Boolean()
    stream_options = fields.Nested(StreamOptionsSchema, allow_none=True)
    max_tokens = fields.Integer(strict=True, validate=validate.Range(min=1), allow_none=True)
    max_completion_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    top_p = fields.Float(validate=validate.Range(min=0, max=1), allow_none=True)
    n = fields.Integer(strict=True, validate=validate.Range(min=1, max=128))
    stop = StringOrStrings(allow_none=True)
    tools = fields.List(fields.Nested(ToolSchema))
    tool_choice = ToolChoice()
    parallel_tool_calls = fields.Boolean()
    response_format = fields.Nested(ResponseFormatSchema)
    presence_penalty = fields.Float(validate=validate.Range(min=-2, max=2), allow_none=True)
    frequency_penalty = fields.Float(validate=validate.Range(min=-2, max=2), allow_none=True)
    seed = fields.Integer(allow_none=True)
    user = fields.String()
    metadata = fields.Dict(keys=fields.String(), values=fields.String())


class EmbeddingInput(fields.Field):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str) and value:
            return value
        if isinstance(value, list) and value and all(_is_embedding_item(v) for v in value):
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
    expires_at = fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    expires_in_days = fields.Float(validate=validate.Range(min=0, min_inclusive=False))

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
    endpoint = fields.String(validate=validate.OneOf(["chat", "embeddings", "responses"]))
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=1000))
    cursor = fields.String()


SPEND_GROUPS = (
    "key", "team", "model", "route", "provider", "workflow", "execution", "user",
    "day", "tag",
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
    since = fields.AwareDateTime(default_timezone=UTC)
    until = fields.AwareDateTime(default_timezone=UTC)
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv"]))
    key_id = fields.String()
    team = fields.String()
    model = fields.String()
    provider = fields.String()
    workflow_id = fields.String()
    execution_id = fields.String()
    user = fields.String()
    tag = fields.String()
    endpoint = fields.String(validate=validate.OneOf(["chat", "embeddings", "responses"]))

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
        raise ValidationError(
            "must be a non-empty string or a non-empty list of items"
        )


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
    strict = fields.Boolean(allow_none=True)

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
    stream = fields.Boolean(allow_none=True)
    max_output_tokens = fields.Integer(
        strict=True, validate=validate.Range(min=1), allow_none=True
    )
    temperature = fields.Float(validate=validate.Range(min=0, max=2), allow_none=True)
    top_p = fields.Float(validate=validate.Range(min=0, max=1), allow_none=True)
    tools = fields.List(fields.Dict(), allow_none=True)
    tool_choice = fields.Raw(allow_none=True)
    parallel_tool_calls = fields.Boolean(allow_none=True)
    text = fields.Nested(ResponsesTextSchema, allow_none=True)
    reasoning = fields.Dict(allow_none=True)
    user = fields.String(allow_none=True)
    metadata = fields.Dict(
        keys=fields.String(), values=fields.String(), allow_none=True
    )
    store = fields.Boolean(allow_none=True)
    background = fields.Boolean(allow_none=True)
