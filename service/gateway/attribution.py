"""Who is calling: workflow, execution, node, user and tags, from request headers.

Header names are documented in docs/api.md. n8n's own identifiers are accepted under
their ``X-N8n-`` names too, and ``X-Gateway-Metadata`` carries them all in one header
for clients that can add only one (n8n's built-in OpenAI credential).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

_MAX_VALUE = 200
_MAX_TAGS = 20

# field -> header names, first found wins.
_HEADERS: dict[str, tuple[str, ...]] = {
    "workflow_id": ("x-workflow-id", "x-n8n-workflow-id"),
    "workflow_name": ("x-workflow-name", "x-n8n-workflow-name"),
    "execution_id": ("x-execution-id", "x-n8n-execution-id"),
    "node_name": ("x-node-name", "x-n8n-node-name"),
    "user": ("x-user-id", "x-end-user-id"),
}
_METADATA_HEADER = "x-gateway-metadata"
_TAGS_HEADER = "x-tags"


def environ_key(header: str) -> str:
    """The WSGI environ key of an HTTP header (``x-tags`` -> ``HTTP_X_TAGS``)."""
    return "HTTP_" + header.upper().replace("-", "_")


# The same, as WSGI environ keys: read straight from the environ, a request costs a
# few dictionary lookups instead of Werkzeug's header-name normalisation per name.
_ENVIRON_KEYS = {
    field: tuple(environ_key(name) for name in names)
    for field, names in _HEADERS.items()
}


@dataclass(frozen=True, slots=True)
class Caller:
    workflow_id: str | None = None
    workflow_name: str | None = None
    execution_id: str | None = None
    node_name: str | None = None
    user: str | None = None
    tags: tuple[str, ...] = ()


def read_caller(environ: Mapping[str, Any]) -> Caller:
    """Build the caller from a request's headers, given its WSGI environ."""
    combined = _parse_metadata(environ.get(environ_key(_METADATA_HEADER), ""))
    values: dict[str, str | None] = {}
    for field, keys in _ENVIRON_KEYS.items():
        value = next((environ[k] for k in keys if environ.get(k)), None)
        values[field] = _clean(value or combined.get(field))

    tags = _parse_tags(environ.get(environ_key(_TAGS_HEADER), ""))
    tags += _parse_tags(combined.get("tags", ""))
    return Caller(**values, tags=tuple(dict.fromkeys(tags))[:_MAX_TAGS])


def with_body_user(caller: Caller, body_user: object) -> Caller:
    """The caller, with the body's ``user`` as the user when no header gave one."""
    if caller.user is not None or not isinstance(body_user, str):
        return caller

    return replace(caller, user=_clean(body_user))


def _parse_metadata(value: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for part in value.split(";"):
        name, sep, item = part.partition("=")
        if sep:
            pairs[name.strip().lower().replace("-", "_")] = item.strip()

    return pairs


def _parse_tags(value: str) -> list[str]:
    return [tag for tag in (_clean(item) for item in value.split(",")) if tag]


def _clean(value: str | None) -> str | None:
    """Percent-decoded, printable, trimmed, length-capped; None when empty.

    HTTP header values are bytes a client may only send as ASCII, so names such as
    "Rechnungen prüfen" arrive percent-encoded (the n8n pack does this).
    """
    if value is None:
        return None
    if "%" in value:
        value = unquote(value)
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()[:_MAX_VALUE]
    return cleaned or None
