"""OpenAI's chat completions and embeddings dialect: pure translation functions.

Serves the ``openai`` type, every ``openai-compatible`` server (Mistral, Groq, DeepSeek,
Together, OpenRouter, vLLM, LM Studio, Ollama's OpenAI API) and the built-in ``demo``.
Since the gateway's own wire shape is OpenAI's, requests pass through with the model id
replaced. https://platform.openai.com/docs/api-reference/chat
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import (
    ContentPolicyError,
    ContextWindowExceededError,
    ProviderAuthError,
    ProviderError,
    ProviderInvalidResponseError,
    ProviderQuotaError,
    ProviderRateLimitError,
    ProviderRejectedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    redact_secrets,
)
from .retry_after import parse_retry_after
from .types import Completion, Endpoint, ProviderCall, SSEEvent, Usage
from .wire import load_json_object

_CONTEXT_CODES = {"context_length_exceeded", "string_above_max_length"}
_POLICY_CODES = {"content_policy_violation", "content_filter", "invalid_prompt"}


def build_chat_call(
    endpoint: Endpoint, model: str, body: dict[str, Any], stream: bool
) -> ProviderCall:
    """Build the chat call. Streams always ask for usage, so every stream is priced."""
    payload = dict(body)
    payload["model"] = model
    if stream:
        payload["stream"] = True
        options = dict(body.get("stream_options") or {})
        options["include_usage"] = True
        payload["stream_options"] = options
    else:
        payload.pop("stream_options", None)

    return ProviderCall(
        "POST",
        endpoint.base_url.rstrip("/") + "/chat/completions",
        build_headers(endpoint),
        orjson.dumps(payload),
    )


def build_embeddings_call(
    endpoint: Endpoint, model: str, body: dict[str, Any]
) -> ProviderCall:
    payload = dict(body)
    payload["model"] = model
    return ProviderCall(
        "POST",
        endpoint.base_url.rstrip("/") + "/embeddings",
        build_headers(endpoint),
        orjson.dumps(payload),
    )


def build_headers(endpoint: Endpoint) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    headers.update(endpoint.headers)
    return headers


def parse_chat_response(model: str, raw: bytes) -> Completion:
    """Parse a chat.completion; a 200 that carries an error object raises."""
    data = load_json_object(raw)
    if not isinstance(data.get("choices"), list):
        raise _not_a(data, "chat completion")

    return Completion(body=data, usage=parse_usage(data.get("usage")))


def parse_embeddings_response(model: str, raw: bytes) -> Completion:
    data = load_json_object(raw)
    if not isinstance(data.get("data"), list):
        raise _not_a(data, "list of embeddings")

    return Completion(body=data, usage=parse_usage(data.get("usage")))


def _not_a(data: dict[str, Any], what: str) -> ProviderError:
    """The error for a 200 whose body is not ``what``: the provider's own error if
    the body is one, else an invalid response."""
    if "error" in data:
        return error_from_body(data, 200)

    return ProviderInvalidResponseError(f"the provider answered something not a {what}")


def parse_error(status: int, headers: Mapping[str, str], raw: bytes) -> ProviderError:
    """Map an HTTP error status and OpenAI error body to our error class."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        data = {"error": {"message": raw[:200].decode("utf-8", "replace").strip()}}

    error = error_from_body(data, status)
    error.retry_after = parse_retry_after(headers)
    return error


def error_from_body(data: dict[str, Any], status: int) -> ProviderError:
    """Build the error an OpenAI-style error body describes.

    Decided by status and the structured ``code``/``type``, never by message text.
    """
    detail = data.get("error")
    if not isinstance(detail, dict):
        detail = {"message": detail if isinstance(detail, str) else None}
    message = redact_secrets(str(detail.get("message") or f"HTTP {status}"))
    code = detail.get("code")
    code = str(code) if code is not None else None
    kind = str(detail.get("type") or "")
    param = detail.get("param") if isinstance(detail.get("param"), str) else None
    cls = _error_class(status, code, kind)
    return cls(
        message,
        upstream_status=status,
        param=param if issubclass(cls, ProviderRejectedError) else None,
        details={"provider_code": code or kind or None},
    )


# An error object inside a 200 (a body or a stream event) has no status of its own:
# its type says which status it would have had.
_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "requests": 429,
    "tokens": 429,
    "insufficient_quota": 429,
}


def _error_class(status: int, code: str | None, kind: str) -> type[ProviderError]:
    if status == 200:
        status = _STATUS_OF_TYPE.get(kind) or _STATUS_OF_TYPE.get(code or "") or 500
    if code in _CONTEXT_CODES:
        return ContextWindowExceededError
    if code in _POLICY_CODES:
        return ContentPolicyError
    if status == 429:
        if code == "insufficient_quota" or kind == "insufficient_quota":
            return ProviderQuotaError
        return ProviderRateLimitError
    if status in (401, 403):
        return ProviderAuthError
    if status == 408:
        return ProviderTimeoutError
    if status == 404:
        return ProviderError
    if status == 409 or status >= 500:
        return ProviderUnavailableError
    if status >= 400:
        return ProviderRejectedError

    return ProviderInvalidResponseError


def parse_usage(usage: Any) -> Usage | None:
    """Read OpenAI's usage object (chat and embeddings); None when absent."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens")
    if not isinstance(prompt, int):
        return None

    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=usage.get("completion_tokens") or 0,
        cached_tokens=prompt_details.get("cached_tokens") or 0,
        cache_write_tokens=prompt_details.get("cache_write_tokens") or 0,
        reasoning_tokens=completion_details.get("reasoning_tokens") or 0,
    )


class OpenAIStream:
    """Passes chunks through; withholds usage, which the gateway reports itself."""

    __slots__ = ("finished", "usage")

    def __init__(self) -> None:
        self.finished = False
        self.usage: Usage | None = None

    def feed(self, event: SSEEvent) -> list[dict[str, Any]]:
        data = event.data
        if data == "[DONE]":
            self.finished = True
            return []
        if not data.strip():
            return []

        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ProviderInvalidResponseError(
                "the provider sent a malformed chunk"
            ) from exc
        if not isinstance(chunk, dict):
            raise ProviderInvalidResponseError("the provider sent a malformed chunk")
        if "error" in chunk:
            raise error_from_body(chunk, 200)

        if "usage" in chunk:
            self.usage = parse_usage(chunk.pop("usage")) or self.usage
        choices = chunk.get("choices")
        if not choices:
            return []

        return [chunk]


def open_stream(model: str) -> OpenAIStream:
    return OpenAIStream()
