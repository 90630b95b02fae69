"""The two contexts a call runs in: the per-app ``Gateway`` (long-lived objects) and
the per-request ``CallContext`` (everything the request row will record)."""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .accounting.pricing import PriceCard, Pricer
from .attribution import Caller
from .config import GatewayConfig, Settings, Target
from .control.admission import Admission
from .control.setup import Control
from .errors import GatewayError, Redactor
from .keys import VirtualKey
from .providers.types import Usage
from .routing.breaker import Breaker
from .routing.policy import Overrides, TargetLoad
from .storage.sqlite import SQLiteStore
from .storage.writer import RecordWriter
from .transport import Transport


def new_request_id() -> str:
    """``req_`` + 12 hex digits of milliseconds + 12 random: ids sort by time, so the
    request log's primary key grows at its end instead of at random pages."""
    return f"req_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(6)}"


@dataclass(slots=True)
class Gateway:
    """Everything a worker shares between requests; lives in app.extensions."""

    settings: Settings
    config: GatewayConfig
    store: SQLiteStore
    writer: RecordWriter
    transport: Transport
    pricer: Pricer
    breaker: Breaker
    rng: random.Random = field(default_factory=random.Random)
    load: dict[str, TargetLoad] = field(default_factory=dict)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    control: Control | None = None
    redactor: Redactor = field(default_factory=Redactor)

    def now(self) -> datetime:
        return self.clock()


@dataclass(slots=True)
class AttemptRecord:
    number: int
    target: Target
    kind: str
    wait_ms: float
    latency_ms: float = 0.0
    status: int | None = None
    error_type: str | None = None
    outcome: str = "success"
    created_at: str = ""


@dataclass(slots=True)
class CallContext:
    """One request through the gateway, from arrival to its row in the log."""

    endpoint: str
    request_id: str = field(default_factory=new_request_id)
    started: float = field(default_factory=time.perf_counter)
    created_at: str = ""
    key: VirtualKey | None = None
    caller: Caller = field(default_factory=Caller)
    model_requested: str | None = None
    overrides: Overrides = field(default_factory=Overrides)
    stream: bool = False
    upstream_seconds: float = 0.0
    downstream_seconds: float = 0.0
    first_byte_seconds: float | None = None
    attempts: list[AttemptRecord] = field(default_factory=list)
    target: Target | None = None
    model_used: str | None = None
    usage: Usage | None = None
    price: PriceCard | None = None
    cost_usd: float = 0.0
    status: int = 0
    error: GatewayError | None = None
    finish_reason: str | None = None
    recorded: bool = False
    waiting_upstream: bool = False
    client_gone: bool = False
    watch: Any = None
    admission: Admission | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def overhead_ms(self) -> float:
        """Time the gateway itself spent: total minus waiting on provider and client."""
        waiting = self.upstream_seconds + self.downstream_seconds
        return max(0.0, self.elapsed_ms() - waiting * 1000)

    @property
    def provider(self) -> str | None:
        return self.target.provider if self.target else None

    def attempts_made(self) -> list[AttemptRecord]:
        """The attempts sent to a provider (not the targets skipped unasked)."""
        return [attempt for attempt in self.attempts if attempt.outcome != "skipped"]
