"""Virtual keys: the only keys clients ever hold.

A key reads ``sk-gw-<id>-<secret>``. The 12-character id is public: it is how a key is
looked up, listed and shown in logs and reports. Only the SHA-256 of the 32-character
secret is stored; the whole key is shown once, when it is created. Every request reads
the key's row, so a revocation takes effect at once in every worker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from .control.ratelimits import RateLimits
from .errors import AuthenticationError, NotFoundError, PermissionDeniedError

KEY_PREFIX = "sk-gw-"
# The longest lifetime a key can be given (100 years); past it a date overflows.
MAX_EXPIRY_DAYS = 36_500
_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_LENGTH = 12


@dataclass(frozen=True, slots=True)
class VirtualKey:
    id: str
    name: str
    team: str | None
    owner: str | None
    models: tuple[str, ...] | None
    metadata: dict[str, Any]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    limits: RateLimits | None = None

    def allows_model(self, model: str) -> bool:
        return self.models is None or model in self.models

    def to_public(self) -> dict[str, Any]:
        """The key as the admin API and CLI show it (never the secret)."""
        return {
            "id": self.id,
            "name": self.name,
            "team": self.team,
            "owner": self.owner,
            "models": list(self.models) if self.models is not None else None,
            "metadata": self.metadata,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "status": self.status(),
            "limits": self.limits.to_public() if self.limits else None,
        }

    def status(self, now: str | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utc_now()):
            return "expired"

        return "active"


def utc_now() -> str:
    """Now as the gateway stores times: ISO 8601, UTC, milliseconds, ``Z``."""
    return format_time(datetime.now(UTC))


def format_time(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return f"{moment.isoformat(timespec='milliseconds')[:23]}Z"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_key(
    name: str,
    *,
    team: str | None = None,
    owner: str | None = None,
    models: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
    expires_at: str | None = None,
    limits: RateLimits | None = None,
) -> tuple[str, dict[str, Any]]:
    """Make a key: return the full key (show it once) and the row to store."""
    key_id = "".join(secrets.choice(_ID_ALPHABET) for _ in range(_ID_LENGTH))
    secret = secrets.token_urlsafe(24)
    row = {
        "id": key_id,
        "secret_hash": hash_secret(secret),
        "name": name,
        "team": team,
        "owner": owner,
        "models": orjson.dumps(models).decode() if models is not None else None,
        "metadata": orjson.dumps(metadata or {}).decode(),
        "created_at": utc_now(),
        "expires_at": expires_at,
        "revoked_at": None,
        "limits": limits_json(limits),
    }
    return f"{KEY_PREFIX}{key_id}-{secret}", row


def key_from_row(row: dict[str, Any]) -> VirtualKey:
    models = orjson.loads(row["models"]) if row["models"] else None
    return VirtualKey(
        id=row["id"],
        name=row["name"],
        team=row["team"],
        owner=row["owner"],
        models=tuple(models) if models is not None else None,
        metadata=orjson.loads(row["metadata"] or "{}"),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        limits=_limits_from_row(row),
    )


def limits_json(limits: RateLimits | None) -> str | None:
    """A key's or team's rate limits as stored (JSON), None when there are none."""
    return orjson.dumps(limits.to_public()).decode() if limits else None


def _limits_from_row(row: dict[str, Any]) -> RateLimits | None:
    raw = row.get("limits")
    return RateLimits.from_mapping(orjson.loads(raw)) if raw else None


def set_key_limits(store: Any, key_id: str, limits: RateLimits | None) -> VirtualKey:
    """Replace a key's rate limits (None removes them); they apply from its next
    request, in every worker. 404 for an unknown key."""
    find_key(store, key_id)
    store.execute(
        "UPDATE keys SET limits = ? WHERE id = ?", (limits_json(limits), key_id)
    )
    return find_key(store, key_id)


def split_key(presented: str) -> tuple[str, str] | None:
    """(id, secret) of a well-formed key, or None."""
    if not presented.startswith(KEY_PREFIX):
        return None
    rest = presented[len(KEY_PREFIX) :]
    key_id, dash, secret = (
        rest[:_ID_LENGTH],
        rest[_ID_LENGTH : _ID_LENGTH + 1],
        rest[_ID_LENGTH + 1 :],
    )
    if dash != "-" or not secret or len(key_id) != _ID_LENGTH:
        return None

    return key_id, secret


def authenticate(store: Any, presented: str | None) -> VirtualKey:
    """Return the active key ``presented`` names.

    Raises AuthenticationError (401) for a missing, unknown, wrong, revoked or expired
    key; the message never echoes the key.
    """
    if not presented:
        raise AuthenticationError(
            "no API key: send it as 'Authorization: Bearer sk-gw-...'",
            code="missing_api_key",
        )

    parts = split_key(presented)
    row = store.get_key(parts[0]) if parts else None
    if row is None or not hmac.compare_digest(
        row["secret_hash"], hash_secret(parts[1])
    ):
        raise AuthenticationError("invalid API key")

    key = key_from_row(row)
    status = key.status()
    if status != "active":
        raise AuthenticationError(f"this API key is {status}", code=f"key_{status}")

    return key


def check_model_allowed(key: VirtualKey, model: str) -> None:
    if not key.allows_model(model):
        raise PermissionDeniedError(
            f"this key may not use model {model!r}",
            param="model",
            code="model_not_allowed",
        )


def find_key(store: Any, key_id: str) -> VirtualKey:
    row = store.get_key(key_id)
    if row is None:
        raise NotFoundError(f"no key with id {key_id!r}", code="key_not_found")

    return key_from_row(row)
