"""Logging: one JSON object per line, fields passed as data, secrets scrubbed.

Handlers are installed only when the host (gunicorn, a test runner) has not
configured the ``gateway`` logger already. Prompts, completions and keys are never
logged; ``RedactingFilter`` scrubs key-shaped strings and the configured provider
keys from every record as a last line of defence.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable
from typing import Any

import orjson

from .errors import Redactor, redact_secrets


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:
            entry["exception"] = redact_secrets(self.formatException(record.exc_info))

        return orjson.dumps(entry, default=str).decode()


class RedactingFilter(logging.Filter):
    """Scrub secrets (see ``Redactor``) from the message, its arguments, its fields
    and its exception."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        redactor = self.redactor
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = redactor.redact(str(record.msg))
        fields = getattr(record, "fields", None)
        if fields and redactor.has_secret(
            "\n".join(value for value in fields.values() if isinstance(value, str))
        ):
            record.fields = {
                name: redactor.redact(value) if isinstance(value, str) else value
                for name, value in fields.items()
            }
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redactor.redact(self._format_exception(record))
            record.exc_info = None

        return True

    @staticmethod
    def _format_exception(record: logging.LogRecord) -> str:
        return logging.Formatter().formatException(record.exc_info)  # type: ignore[arg-type]


def init_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send the gateway's logs to stderr as JSON lines, unless already configured;
    scrub ``secrets`` from them either way."""
    logger = logging.getLogger("gateway")
    logger.setLevel(level.upper())
    secrets = list(secrets)
    for installed in logger.handlers:
        for log_filter in installed.filters:
            if isinstance(log_filter, RedactingFilter):
                log_filter.redactor = log_filter.redactor.including(secrets)
    if logger.handlers:
        return

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler.addFilter(RedactingFilter(Redactor(secrets)))
    logger.addHandler(handler)
    logger.propagate = False
