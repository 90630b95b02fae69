"""Fake LLM providers that speak the providers' exact wire formats.

Start one in-process with ``FakeServer`` (a context manager; ``.url`` is its base
URL), or as a process with ``python -m tests.fakes --port 0`` scripted through
``RemoteFake``. Queue behaviours for the next requests with ``fake.queue(...)``;
read what arrived with ``fake.requests()``. Fixtures are in ``tests.fakes.plugin``.
"""

from .behaviours import (
    Behaviour,
    ToolCall,
    Usage,
    cut,
    delay,
    error,
    error_in_body,
    malformed_event,
    malformed_json,
    oversized,
    raw,
    reply,
    reset,
    stall,
    wrong_content_type,
)
from .network import refused_port, unaccepting_port
from .remote import RemoteFake, start_fake_process
from .replies import count_tokens
from .server import DIALECTS, FakeServer
from .wire import RecordedRequest

__all__ = [
    "DIALECTS",
    "Behaviour",
    "FakeServer",
    "RecordedRequest",
    "RemoteFake",
    "ToolCall",
    "Usage",
    "count_tokens",
    "cut",
    "delay",
    "error",
    "error_in_body",
    "malformed_event",
    "malformed_json",
    "oversized",
    "raw",
    "refused_port",
    "reply",
    "reset",
    "stall",
    "start_fake_process",
    "unaccepting_port",
    "wrong_content_type",
]
