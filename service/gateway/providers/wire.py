"""Wire helpers every translation shares: a provider's JSON body read as an object,
and usage written in OpenAI's shape (what every surface of the gateway answers)."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import ProviderInvalidResponseError
from .types import Usage


def load_json_object(raw: bytes) -> dict[str, Any]:
    """``raw`` parsed as a JSON object, or ProviderInvalidResponseError."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ProviderInvalidResponseError(
            "the provider answered invalid JSON"
        ) from exc
    if not isinstance(data, dict):
        raise ProviderInvalidResponseError(
            "the provider answered JSON that is not an object"
        )

    return data


def usage_body(usage: Usage) -> dict[str, Any]:
    """The OpenAI ``usage`` object for ``usage``."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cached_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }
