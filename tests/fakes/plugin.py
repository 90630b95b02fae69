"""Pytest fixtures for the fakes.

Enable them with ``pytest_plugins = ["tests.fakes.plugin"]`` in the root conftest or
in a test module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .network import refused_port, unaccepting_port
from .remote import RemoteFake, start_fake_process
from .server import FakeServer


@pytest.fixture
def fake_provider() -> Iterator[FakeServer]:
    """A fresh in-process fake provider speaking every dialect."""
    with FakeServer() as fake:
        yield fake


@pytest.fixture(scope="session")
def fake_provider_process() -> Iterator[RemoteFake]:
    """One fake provider process for the session; prefer ``remote_fake_provider``,
    which resets it for each test."""
    with start_fake_process() as remote:
        yield remote


@pytest.fixture
def remote_fake_provider(fake_provider_process: RemoteFake) -> RemoteFake:
    """The session's fake provider process, reset for this test."""
    fake_provider_process.reset()
    return fake_provider_process


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A base URL where connecting is refused at once."""
    with refused_port() as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def unaccepting_url() -> Iterator[str]:
    """A base URL where connecting hangs until the client's connect timeout."""
    with unaccepting_port() as port:
        yield f"http://127.0.0.1:{port}"
