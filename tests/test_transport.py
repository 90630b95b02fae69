"""The transport: every lower-level error maps to a ProviderError; connections are
pooled and reused; the size limit holds."""

from __future__ import annotations

import inspect

import pytest
import urllib3
from urllib3 import exceptions as u3

from gateway import errors
from gateway.providers.types import ProviderCall
from gateway.routing.policy import Timeouts
from gateway.transport import Transport, map_transport_error
from tests.fakes import FakeServer
from tests.fakes.behaviours import oversized

pytest_plugins = ["tests.fakes.plugin"]

# urllib3 errors that are warnings, or that our calls cannot raise (proxies, redirects
# and retries are off; bodies are bytes).
NOT_RAISED = {
    "HTTPWarning",
    "SecurityWarning",
    "InsecureRequestWarning",
    "SystemTimeWarning",
    "InsecurePlatformWarning",
    "NotOpenSSLWarning",
    "DependencyWarning",
}


def urllib3_errors() -> list[type[BaseException]]:
    # urllib3.exceptions also re-exports http.client's IncompleteRead and
    # email's MessageDefect; the first can surface while reading, the second cannot.
    return [
        cls
        for name, cls in inspect.getmembers(u3, inspect.isclass)
        if issubclass(cls, BaseException)
        and name not in NOT_RAISED
        and cls.__module__ != "email.errors"
    ]


def instance(cls: type[BaseException]) -> BaseException:
    for args in ((), ("message",), (None, "message"), (None, None, "message"), (0, 0)):
        try:
            return cls(*args)
        except (TypeError, AttributeError):
            continue
    return cls.__new__(cls)


@pytest.mark.parametrize("cls", urllib3_errors(), ids=lambda c: c.__name__)
def test_every_urllib3_error_maps_to_a_provider_error(cls: type[BaseException]) -> None:
    assert isinstance(map_transport_error(instance(cls)), errors.ProviderError)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (TimeoutError(), errors.ProviderTimeoutError),
        (ConnectionResetError(), errors.ProviderConnectionError),
        (u3.NewConnectionError(None, "refused"), errors.ProviderConnectionError),
        (u3.ConnectTimeoutError(), errors.ProviderTimeoutError),
        (u3.ReadTimeoutError(None, None, "slow"), errors.ProviderTimeoutError),
        (u3.ProtocolError("reset"), errors.ProviderConnectionError),
        (u3.DecodeError(), errors.ProviderInvalidResponseError),
    ],
)
def test_transport_errors_map_to_the_most_specific_class(
    raised: BaseException, expected: type
) -> None:
    assert type(map_transport_error(raised)) is expected


def test_connections_are_pooled_and_reused(fake_provider: FakeServer) -> None:
    transport = Transport()
    call = ProviderCall(
        "POST",
        fake_provider.url + "/v1/chat/completions",
        {"Content-Type": "application/json", "Authorization": "Bearer k"},
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
    )

    for _ in range(5):
        response = transport.send(call, Timeouts())
        assert response.status == 200
        response.read(1 << 20)
        response.close()

    assert {r.connection for r in fake_provider.requests()} == {
        fake_provider.requests()[0].connection
    }
    transport.close()


def test_response_larger_than_the_limit_is_refused(fake_provider: FakeServer) -> None:
    fake_provider.queue(oversized(1))
    transport = Transport()
    call = ProviderCall(
        "POST",
        fake_provider.url + "/v1/chat/completions",
        {"Authorization": "Bearer k", "Content-Type": "application/json"},
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
    )

    response = transport.send(call, Timeouts())
    with pytest.raises(errors.ProviderResponseTooLargeError):
        response.read(64 * 1024)
    response.close()
    transport.close()


def test_urllib3_is_pinned_to_the_version_these_tests_cover() -> None:
    assert urllib3.__version__ == "2.8.0"
