"""The OpenAI dialect: pure translation, tested without a network."""

from __future__ import annotations

import orjson
import pytest

from gateway import errors
from gateway.providers import openai
from gateway.providers.types import Endpoint, SSEEvent, Usage

ENDPOINT = Endpoint(
    "openai", "openai", "https://api.example.com/v1/", "sk-provider-secret"
)


def test_openai_build_chat_call_replaces_model_and_keeps_unknown_params() -> None:
    body = {"model": "fast", "messages": [], "logit_bias": {"1": 2}, "seed": 3}

    call = openai.build_chat_call(ENDPOINT, "gpt-4o-mini", body, stream=False)

    assert call.url == "https://api.example.com/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer sk-provider-secret"
    sent = orjson.loads(call.body)
    assert sent == {**body, "model": "gpt-4o-mini"}
    assert body["model"] == "fast"


def test_openai_stream_call_always_asks_for_usage() -> None:
    body = {"model": "m", "messages": [], "stream": True, "stream_options": {"x": 1}}

    sent = orjson.loads(openai.build_chat_call(ENDPOINT, "m", body, stream=True).body)

    assert sent["stream_options"] == {"x": 1, "include_usage": True}


def test_openai_parse_usage_reads_cached_and_reasoning_tokens() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 50,
        "prompt_tokens_details": {"cached_tokens": 40},
        "completion_tokens_details": {"reasoning_tokens": 20},
    }

    assert openai.parse_usage(usage) == Usage(100, 50, 40, 0, 20)
    assert openai.parse_usage(None) is None
    assert openai.parse_usage({"total_tokens": 3}) is None


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (
            400,
            {
                "error": {
                    "message": "bad",
                    "type": "invalid_request_error",
                    "param": "x",
                }
            },
            errors.ProviderRejectedError,
            False,
        ),
        (
            400,
            {"error": {"message": "too long", "code": "context_length_exceeded"}},
            errors.ContextWindowExceededError,
            False,
        ),
        (
            400,
            {"error": {"message": "no", "code": "content_policy_violation"}},
            errors.ContentPolicyError,
            False,
        ),
        (
            401,
            {"error": {"message": "Incorrect API key provided: sk-abc***xyz"}},
            errors.ProviderAuthError,
            False,
        ),
        (403, {"error": {"message": "forbidden"}}, errors.ProviderAuthError, False),
        (404, {"error": {"message": "no model"}}, errors.ProviderError, False),
        (408, {"error": {"message": "timeout"}}, errors.ProviderTimeoutError, True),
        (
            429,
            {"error": {"message": "slow down", "type": "requests"}},
            errors.ProviderRateLimitError,
            True,
        ),
        (
            429,
            {"error": {"message": "pay", "code": "insufficient_quota"}},
            errors.ProviderQuotaError,
            False,
        ),
        (500, {"error": {"message": "oops"}}, errors.ProviderUnavailableError, True),
        (
            503,
            {"error": {"message": "overloaded"}},
            errors.ProviderUnavailableError,
            True,
        ),
    ],
)
def test_openai_parse_error_maps_status_and_code(
    status: int, body: dict, cls: type, retryable: bool
) -> None:
    error = openai.parse_error(status, {"retry-after": "2"}, orjson.dumps(body))

    assert type(error) is cls
    assert error.retryable is retryable
    assert error.upstream_status == status
    assert error.retry_after == 2.0
    assert "sk-abc" not in error.message


def test_openai_server_error_with_room_left_in_its_rate_limits_asks_no_wait() -> None:
    # OpenAI sends its x-ratelimit-* headers on every response, errors included.
    headers = {
        "x-ratelimit-remaining-requests": "9999",
        "x-ratelimit-reset-requests": "6ms",
        "x-ratelimit-remaining-tokens": "29999000",
        "x-ratelimit-reset-tokens": "0s",
    }
    body = orjson.dumps({"error": {"message": "The server had an error"}})

    error = openai.parse_error(500, headers, body)

    assert error.retry_after is None


def test_openai_parse_error_survives_a_non_json_body() -> None:
    error = openai.parse_error(502, {}, b"<html>Bad Gateway</html>")

    assert isinstance(error, errors.ProviderUnavailableError)
    assert "Bad Gateway" in error.message


@pytest.mark.parametrize(
    ("raw", "cls"),
    [
        (b"{not json", errors.ProviderInvalidResponseError),
        (b"[1, 2]", errors.ProviderInvalidResponseError),
        (b'{"object": "list"}', errors.ProviderInvalidResponseError),
        (b'{"error": {"message": "hidden failure"}}', errors.ProviderUnavailableError),
        (
            b'{"error": {"message": "x", "type": "server_error"}}',
            errors.ProviderUnavailableError,
        ),
        (
            b'{"error": {"message": "x", "type": "requests"}}',
            errors.ProviderRateLimitError,
        ),
        (
            b'{"error": {"message": "x", "type": "invalid_request_error"}}',
            errors.ProviderRejectedError,
        ),
        (
            b'{"error": {"message": "x", "code": "context_length_exceeded"}}',
            errors.ContextWindowExceededError,
        ),
    ],
)
def test_openai_parse_chat_response_rejects_bodies_that_are_not_completions(
    raw: bytes, cls: type
) -> None:
    with pytest.raises(cls):
        openai.parse_chat_response("m", raw)


def test_openai_stream_withholds_usage_and_finishes_on_done() -> None:
    stream = openai.open_stream("m")
    content = {"id": "c", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    usage_chunk = {
        "id": "c",
        "choices": [],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1},
    }

    assert stream.feed(SSEEvent(None, orjson.dumps(content).decode())) == [content]
    assert stream.feed(SSEEvent(None, orjson.dumps(usage_chunk).decode())) == []
    assert stream.usage == Usage(3, 1)
    assert not stream.finished
    assert stream.feed(SSEEvent(None, "[DONE]")) == []
    assert stream.finished


def test_openai_stream_raises_on_malformed_chunk_and_error_event() -> None:
    stream = openai.open_stream("m")

    with pytest.raises(errors.ProviderInvalidResponseError):
        stream.feed(SSEEvent(None, "{broken"))
    with pytest.raises(errors.ProviderError, match="server had an error"):
        stream.feed(SSEEvent(None, '{"error": {"message": "server had an error"}}'))
