"""The gateway's one error tree and its one JSON shape.

    GatewayError                      500 internal_error
    ├── InvalidRequestError           400 invalid_request_error
    │   ├── BodyTooLargeError         413
    │   └── UnsupportedMediaTypeError 415
    ├── AuthenticationError           401 authentication_error
    ├── PermissionDeniedError         403 permission_error
    ├── NotFoundError                 404 not_found_error
    ├── MethodNotAllowedError         405 invalid_request_error
    ├── BudgetExceededError           402 budget_exceeded
    ├── RateLimitedError              429 rate_limit_exceeded
    ├── ControlUnavailableError       503 control_unavailable (budget store down)
    ├── ClientDisconnectedError       499 client_disconnected (never sent; recorded)
    ├── ProviderError                 502 provider_error
    │   ├── ProviderConnectionError   502 provider_connection_error   retryable
    │   ├── ProviderTimeoutError      504 provider_timeout            retryable
    │   ├── ProviderUnavailableError  502 provider_unavailable        retryable (5xx)
    │   ├── ProviderRateLimitError    429 provider_rate_limited       retryable
    │   ├── ProviderInvalidResponseError 502 provider_invalid_response retryable
    │   │   └── ProviderResponseTooLargeError  (not retried: it would be as large again)
    │   ├── ProviderStreamError       502 provider_stream_error (after the first byte)
    │   ├── ProviderAuthError         502 provider_auth_error (our provider key)
    │   ├── ProviderQuotaError        502 provider_quota_exceeded (its account is empty)
    │   └── ProviderRejectedError     400 invalid_request_error (the provider said no)
    │       ├── ContextWindowExceededError  code context_length_exceeded
    │       └── ContentPolicyError          code content_policy_violation
    └── ConfigError                   500 config_error (start-up only)

Every class carries its HTTP ``status``, its ``type`` (a closed vocabulary) and whether
it is ``retryable`` on the same target. The routing policy reads those attributes; it
never catches broad exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Key-shaped strings: OpenAI/Anthropic/ours (sk-...), Groq (gsk_), Google (AIza...),
# bearer tokens and key query parameters. Used on provider messages and log records.
_KEY_SHAPES = (
    r"sk-[A-Za-z0-9_\-*.]{6,}|gsk_[A-Za-z0-9]{8,}|AIza[0-9A-Za-z_\-]{20,}"
    r"|(?i:bearer)\s+[A-Za-z0-9_\-.=*]{8,}|(?<=[?&]key=)[^&\s\"']+"
)
# Shorter configured values are not scrubbed: a header value like "1" or "true" is
# no secret, and scrubbing it would blank every occurrence in every message.
MIN_SECRET_LENGTH = 8


class Redactor:
    """Scrubs secrets from text: anything key-shaped, and, character for character,
    the secrets it is given (provider keys such as Mistral's or Together's have no
    telling prefix, so only knowing them finds them)."""

    __slots__ = ("secrets", "_pattern")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = frozenset(
            secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH
        )
        # Longest first, so a secret containing another is scrubbed whole.
        literal = sorted(self.secrets, key=len, reverse=True)
        self._pattern = re.compile(
            "|".join([*(re.escape(secret) for secret in literal), _KEY_SHAPES])
        )

    def including(self, secrets: Iterable[str]) -> Redactor:
        return Redactor(self.secrets | set(secrets))

    def has_secret(self, text: str) -> bool:
        return self._pattern.search(text) is not None

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``."""
        return self._pattern.sub("[redacted]", text)

    def redact_error(self, error: GatewayError) -> None:
        """Scrub ``error``'s message, param and details in place (they may carry a
        provider's words, and a provider may echo the key it was sent)."""
        error.message = self.redact(error.message)
        error.args = (error.message,)
        if error.param is not None:
            error.param = self.redact(error.param)
        if error.details is not None:
            error.details = self._redact_value(error.details)

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {name: self._redact_value(item) for name, item in value.items()}
        if isinstance(value, list):
            return [self._redact_value(item) for item in value]

        return value


_KEY_SHAPED = Redactor()


def has_secret(text: str) -> bool:
    return _KEY_SHAPED.has_secret(text)


def redact_secrets(text: str) -> str:
    """Replace anything key-shaped in ``text`` with ``[redacted]``."""
    return _KEY_SHAPED.redact(text)


class GatewayError(Exception):
    """Root of every error the gateway answers with."""

    status = 500
    type = "internal_error"
    retryable = False
    default_code: str | None = None

    def __init__(
        self,
        message: str = "internal error",
        *,
        param: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code or self.default_code
        self.details = details
        self.headers = headers or {}

    def to_body(self, request_id: str | None) -> dict[str, Any]:
        """Render the OpenAI-compatible error JSON every surface answers with."""
        error: dict[str, Any] = {
            "message": self.message,
            "type": self.type,
            "param": self.param,
            "code": self.code,
            "request_id": request_id,
        }
        if self.details is not None:
            error["details"] = self.details

        return {"error": error}


class InvalidRequestError(GatewayError):
    status = 400
    type = "invalid_request_error"


class BodyTooLargeError(InvalidRequestError):
    status = 413
    default_code = "body_too_large"


class UnsupportedMediaTypeError(InvalidRequestError):
    status = 415
    default_code = "unsupported_media_type"


class AuthenticationError(GatewayError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    status = 403
    type = "permission_error"


class NotFoundError(GatewayError):
    status = 404
    type = "not_found_error"


class MethodNotAllowedError(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


class BudgetExceededError(GatewayError):
    status = 402
    type = "budget_exceeded"
    default_code = "budget_exceeded"


class RateLimitedError(GatewayError):
    status = 429
    type = "rate_limit_exceeded"
    default_code = "rate_limit_exceeded"


class ControlUnavailableError(GatewayError):
    """The budget and rate-limit store cannot be reached in time. Calls are refused
    rather than let through unchecked, so budgets still hold."""

    status = 503
    type = "control_unavailable"


class ClientDisconnectedError(GatewayError):
    """The client went away; recorded on the request row, never sent."""

    status = 499
    type = "client_disconnected"


class ConfigError(GatewayError):
    type = "config_error"


class ProviderError(GatewayError):
    """An upstream call failed. ``provider`` names the provider config entry."""

    status = 502
    type = "provider_error"

    def __init__(
        self,
        message: str = "the provider failed",
        *,
        provider: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.provider = provider
        self.upstream_status = upstream_status
        self.retry_after = retry_after

    def to_body(self, request_id: str | None) -> dict[str, Any]:
        body = super().to_body(request_id)
        body["error"]["provider"] = self.provider
        return body


class ProviderConnectionError(ProviderError):
    type = "provider_connection_error"
    retryable = True


class ProviderTimeoutError(ProviderError):
    status = 504
    type = "provider_timeout"
    retryable = True


class ProviderUnavailableError(ProviderError):
    type = "provider_unavailable"
    retryable = True


class ProviderRateLimitError(ProviderError):
    status = 429
    type = "provider_rate_limited"
    retryable = True


class ProviderInvalidResponseError(ProviderError):
    type = "provider_invalid_response"
    retryable = True


class ProviderResponseTooLargeError(ProviderInvalidResponseError):
    retryable = False
    default_code = "response_too_large"


class ProviderStreamError(ProviderError):
    type = "provider_stream_error"


class ProviderAuthError(ProviderError):
    type = "provider_auth_error"


class ProviderQuotaError(ProviderError):
    """The gateway's provider account is out of credit (not a rate limit)."""

    type = "provider_quota_exceeded"


class ProviderRejectedError(ProviderError):
    status = 400
    type = "invalid_request_error"


class ContextWindowExceededError(ProviderRejectedError):
    default_code = "context_length_exceeded"


class ContentPolicyError(ProviderRejectedError):
    default_code = "content_policy_violation"


def all_error_classes() -> list[type[GatewayError]]:
    """Every class in the tree, root first (used by the error-shape test)."""
    found: list[type[GatewayError]] = []
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())

    return found
