"""The transport: every lower-level error maps to a ProviderError naming the limit
that fired; connections are pooled and reused; bodies are read piece by piece as
they arrive; the request on the wire is exactly the call; the size limit holds."""

from __future__ import annotations

import contextlib
import gzip
import inspect
import socket
import ssl
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import brotli
import geventhttpclient
import pytest
from geventhttpclient import _parser, response

from gateway import errors
from gateway.providers.types import ProviderCall
from gateway.routing.policy import Timeouts
from gateway.transport import Transport, map_transport_error
from tests.fakes import FakeServer
from tests.fakes.behaviours import cut, delay, oversized, stall

pytest_plugins = ["tests.fakes.plugin"]

PHASES = ("connect", "first_byte", "body")

# What the socket layer under the pool, the parser and the body decoders raise,
# besides the parser's own classes (collected below).
LOWER_LEVEL_ERRORS = [
    TimeoutError,
    socket.gaierror,
    ConnectionRefusedError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    OSError,
    ssl.SSLError,
    ssl.SSLCertVerificationError,
    ssl.SSLEOFError,
    ssl.CertificateError,
    zlib.error,
    brotli.error,
]


def parser_errors() -> list[type[BaseException]]:
    return [
        cls
        for module in (_parser, response)
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException)
    ]


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize(
    "cls", LOWER_LEVEL_ERRORS + parser_errors(), ids=lambda c: c.__name__
)
def test_every_lower_level_error_maps_to_a_provider_error(
    cls: type[BaseException], phase: str
) -> None:
    assert isinstance(map_transport_error(cls("message"), phase), errors.ProviderError)


@pytest.mark.parametrize(
    ("raised", "phase", "expected", "message"),
    [
        (TimeoutError(), "connect", errors.ProviderTimeoutError, "connecting"),
        (TimeoutError(), "first_byte", errors.ProviderTimeoutError, "did not answer"),
        (TimeoutError(), "body", errors.ProviderTimeoutError, "did not answer"),
        (
            ConnectionRefusedError(),
            "connect",
            errors.ProviderConnectionError,
            "connect",
        ),
        (socket.gaierror(), "connect", errors.ProviderConnectionError, "resolve"),
        (RuntimeError("no address"), "connect", errors.ProviderConnectionError, ""),
        (ConnectionResetError(), "body", errors.ProviderConnectionError, "broke"),
        (
            ssl.SSLCertVerificationError(),
            "connect",
            errors.ProviderConnectionError,
            "TLS",
        ),
        (
            response.HTTPConnectionClosed(),
            "first_byte",
            errors.ProviderConnectionError,
            "",
        ),
        (_parser.HTTPParseError(), "body", errors.ProviderInvalidResponseError, "HTTP"),
    ],
)
def test_transport_errors_map_to_the_most_specific_class(
    raised: BaseException, phase: str, expected: type, message: str
) -> None:
    mapped = map_transport_error(raised, phase)

    assert type(mapped) is expected
    assert message in mapped.message


def test_an_error_of_our_own_code_is_not_disguised_as_a_provider_error() -> None:
    with pytest.raises(KeyError):
        map_transport_error(KeyError("bug"), "body")


def chat_call(base_url: str, **headers: str) -> ProviderCall:
    return ProviderCall(
        "POST",
        base_url + "/v1/chat/completions",
        {"Content-Type": "application/json", "Authorization": "Bearer k", **headers},
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}',
    )


@pytest.fixture
def transport() -> Iterator[Transport]:
    transport = Transport()
    yield transport
    transport.close()


def test_connections_are_pooled_and_reused(
    fake_provider: FakeServer, transport: Transport
) -> None:
    for _ in range(5):
        answer = transport.send(chat_call(fake_provider.url), Timeouts())
        assert answer.status == 200
        answer.read(1 << 20)
        answer.close()

    assert {r.connection for r in fake_provider.requests()} == {
        fake_provider.requests()[0].connection
    }


def test_a_half_read_body_does_not_go_back_to_the_pool(
    fake_provider: FakeServer, transport: Transport
) -> None:
    fake_provider.queue(oversized(1))
    answer = transport.send(chat_call(fake_provider.url), Timeouts())
    next(answer.iter_chunks())
    answer.close()

    answer = transport.send(chat_call(fake_provider.url), Timeouts())
    answer.read(1 << 20)
    answer.close()

    first, second = fake_provider.requests()
    assert first.connection != second.connection


def test_response_larger_than_the_limit_is_refused(
    fake_provider: FakeServer, transport: Transport
) -> None:
    fake_provider.queue(oversized(1))

    answer = transport.send(chat_call(fake_provider.url), Timeouts())
    with pytest.raises(errors.ProviderResponseTooLargeError):
        answer.read(64 * 1024)
    answer.close()


def timeout_limit(send: Callable[[], object]) -> str:
    with pytest.raises(errors.ProviderTimeoutError) as caught:
        send()
    return caught.value.details["limit"]


@pytest.mark.parametrize(
    ("timeouts", "expected"),
    [(Timeouts(first_byte=0.2), "first_byte"), (Timeouts(total=0.2), "total")],
    ids=["first-byte", "total-is-nearer"],
)
def test_a_slow_first_byte_times_out_naming_the_nearer_limit(
    fake_provider: FakeServer, transport: Transport, timeouts: Timeouts, expected: str
) -> None:
    fake_provider.queue(delay(5))
    call = chat_call(fake_provider.url)

    assert timeout_limit(lambda: transport.send(call, timeouts)) == expected


def test_a_stalled_body_times_out_naming_its_limit(
    fake_provider: FakeServer, transport: Transport
) -> None:
    fake_provider.queue(stall(5, after_bytes=10))
    answer = transport.send(chat_call(fake_provider.url), Timeouts(stall=0.2))

    assert timeout_limit(lambda: answer.read(1 << 20)) == "stall"
    answer.close()


def test_a_connect_timeout_names_its_limit(
    unaccepting_url: str, transport: Transport
) -> None:
    call = chat_call(unaccepting_url)

    limit = timeout_limit(lambda: transport.send(call, Timeouts(connect=0.2)))

    assert limit == "connect"


def test_a_refused_connection_is_a_connection_error(
    refused_url: str, transport: Transport
) -> None:
    with pytest.raises(errors.ProviderConnectionError, match="could not connect"):
        transport.send(chat_call(refused_url), Timeouts())


def test_a_body_cut_short_is_a_connection_error(
    fake_provider: FakeServer, transport: Transport
) -> None:
    fake_provider.queue(cut(after_bytes=10))
    answer = transport.send(chat_call(fake_provider.url), Timeouts())

    with pytest.raises(errors.ProviderConnectionError, match="broke"):
        answer.read(1 << 20)
    answer.close()


def test_a_malformed_url_is_refused_before_any_connection(
    transport: Transport,
) -> None:
    call = chat_call("http://127.0.0.1:notaport")

    with pytest.raises(errors.ProviderError, match="not a valid URL"):
        transport.send(call, Timeouts())


@pytest.mark.parametrize("value", ["a\r\nX-Smuggled: 1", "a\nb", "a\x00"])
def test_a_header_value_with_a_line_break_is_never_sent(
    fake_provider: FakeServer, transport: Transport, value: str
) -> None:
    call = chat_call(fake_provider.url, **{"X-Custom": value})

    with pytest.raises(errors.ProviderError, match="X-Custom"):
        transport.send(call, Timeouts())
    assert fake_provider.requests() == []


class RawServer:
    """One connection, scripted by the test: what the client sent, and answers
    written when the test says so."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = b""
        self.connection: socket.socket | None = None
        self._accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.connection, _ = self.listener.accept()
        self._accepted.set()

    def read_request(self) -> bytes:
        assert self._accepted.wait(5)
        while b"\r\n\r\n" not in self.received:
            self.received += self.connection.recv(65536)
        head, _, body = self.received.partition(b"\r\n\r\n")
        length = int(
            next(
                line.split(b":")[1]
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
        )
        while len(body) < length:
            body += self.connection.recv(65536)
        return head + b"\r\n\r\n" + body

    def write(self, data: bytes) -> None:
        self.connection.sendall(data)

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.listener.close()


@pytest.fixture
def raw_server() -> Iterator[RawServer]:
    server = RawServer()
    yield server
    server.close()


def send_and_answer(
    server: RawServer, transport: Transport, call: ProviderCall, reply: bytes
) -> tuple[bytes, Any]:
    """Send ``call`` from a thread and answer it with ``reply``: the request the
    server read, and what ``send`` returned or raised."""
    outcome: list[Any] = []

    def send() -> None:
        try:
            outcome.append(transport.send(call, Timeouts(total=5)))
        except errors.ProviderError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    request = server.read_request()
    server.write(reply)
    sender.join()
    return request, outcome[0]


def test_the_request_on_the_wire_is_exactly_the_call(
    raw_server: RawServer, transport: Transport
) -> None:
    call = ProviderCall(
        "POST",
        raw_server.url + "/v1/chat/completions?api-version=2024-10-21",
        {"api-key": "k", "Content-Type": "application/json"},
        b'{"a": 1}',
    )

    request, _ = send_and_answer(
        raw_server, transport, call, b"HTTP/1.1 204 No Content\r\n\r\n"
    )

    port = raw_server.url.rsplit(":", 1)[1]
    assert request == (
        b"POST /v1/chat/completions?api-version=2024-10-21 HTTP/1.1\r\n"
        b"Host: 127.0.0.1:" + port.encode() + b"\r\n"
        b"api-key: k\r\nContent-Type: application/json\r\n"
        b"Content-Length: 8\r\n\r\n"
        b'{"a": 1}'
    )


def test_each_chunk_of_a_stream_is_yielded_as_soon_as_it_arrives(
    raw_server: RawServer, transport: Transport
) -> None:
    _, answer = send_and_answer(
        raw_server,
        transport,
        chat_call(raw_server.url),
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
        b"7\r\ndata: 1\r\n7\r\ndata: 2\r\n",
    )
    chunks = answer.iter_chunks()

    # Two chunks that arrived together are still two pieces; the third has not
    # been sent when the first two are read.
    assert next(chunks) == b"data: 1"
    assert next(chunks) == b"data: 2"
    raw_server.write(b"7\r\ndata: 3\r\n0\r\n\r\n")
    assert list(chunks) == [b"data: 3"]


def test_a_body_delimited_by_the_close_is_read_whole(
    raw_server: RawServer, transport: Transport
) -> None:
    _, answer = send_and_answer(
        raw_server,
        transport,
        chat_call(raw_server.url),
        b'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"ok": ',
    )
    raw_server.write(b"true}")
    raw_server.connection.close()

    assert answer.read(1 << 20) == b'{"ok": true}'


def test_a_response_that_is_not_http_is_an_invalid_response(
    raw_server: RawServer, transport: Transport
) -> None:
    _, failure = send_and_answer(
        raw_server, transport, chat_call(raw_server.url), b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
    )

    assert type(failure) is errors.ProviderInvalidResponseError


def compressed(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.compress(data)
    if encoding == "deflate":
        return zlib.compress(data)
    return brotli.compress(data)


def encoded_reply(encoding: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Encoding: {encoding}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_a_compressed_body_is_decoded(
    raw_server: RawServer, transport: Transport, encoding: str
) -> None:
    body = compressed(encoding, b'{"ok": true}' * 100)

    _, answer = send_and_answer(
        raw_server, transport, chat_call(raw_server.url), encoded_reply(encoding, body)
    )

    assert answer.read(1 << 20) == b'{"ok": true}' * 100


def test_a_compressed_stream_is_decoded_as_it_arrives(
    raw_server: RawServer, transport: Transport
) -> None:
    encoder = zlib.compressobj(wbits=31)
    first = encoder.compress(b"data: 1\n\n") + encoder.flush(zlib.Z_SYNC_FLUSH)
    _, answer = send_and_answer(
        raw_server,
        transport,
        chat_call(raw_server.url),
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n%s\r\n" % (len(first), first),
    )
    chunks = answer.iter_chunks()

    assert next(chunks) == b"data: 1\n\n"
    rest = encoder.compress(b"data: 2\n\n") + encoder.flush()
    raw_server.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(rest), rest))
    assert b"".join(chunks) == b"data: 2\n\n"


@pytest.mark.parametrize(
    ("encoding", "body", "message"),
    [("gzip", b"not gzip at all", "did not decode"), ("zstd", b"x", "zstd-encoded")],
)
def test_a_body_that_cannot_be_decoded_is_an_invalid_response(
    raw_server: RawServer,
    transport: Transport,
    encoding: str,
    body: bytes,
    message: str,
) -> None:
    _, answer = send_and_answer(
        raw_server, transport, chat_call(raw_server.url), encoded_reply(encoding, body)
    )

    with pytest.raises(errors.ProviderInvalidResponseError, match=message):
        answer.read(1 << 20)
    answer.close()


def test_geventhttpclient_is_pinned_to_the_version_these_tests_cover() -> None:
    # The transport reads geventhttpclient's response through its parser hooks.
    assert geventhttpclient.__version__ == "2.6.1"


@pytest.fixture
def untrusted_tls_url(tmp_path: Path) -> Iterator[str]:
    """An HTTPS server whose self-signed certificate no trust store holds."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))

    def handshake() -> None:
        connection, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):
            context.wrap_socket(connection, server_side=True).recv(1)
        connection.close()

    threading.Thread(target=handshake, daemon=True).start()
    yield f"https://localhost:{listener.getsockname()[1]}"
    listener.close()


def test_a_provider_certificate_that_is_not_trusted_is_refused(
    untrusted_tls_url: str, transport: Transport
) -> None:
    with pytest.raises(errors.ProviderConnectionError, match="TLS"):
        transport.send(chat_call(untrusted_tls_url), Timeouts(total=5))
