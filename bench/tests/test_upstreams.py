import pytest

from bench.harness.errors import BenchError
from bench.harness.slow_upstream import request_size
from bench.harness.upstreams import render_nginx_config


def test_nginx_config_quotes_the_body_and_stays_on_loopback(tmp_path):
    config = render_nginx_config(tmp_path, 18190, """{"a":"it's"}""")

    assert "listen 127.0.0.1:18190" in config
    assert """return 200 '{"a":"it\\'s"}';""" in config
    assert "keepalive_requests 1000000;" in config
    assert "worker_processes 1;" in config


def test_nginx_config_refuses_a_body_nginx_would_expand(tmp_path):
    with pytest.raises(BenchError):
        render_nginx_config(tmp_path, 18190, '{"price": "$5"}')


CHUNKED = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"


@pytest.mark.parametrize(
    ("buffer", "is_complete"),
    [
        (b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nbo", False),
        (b"POST / HTTP/1.1\r\nContent-Len", False),
        (CHUNKED + b"4\r\nbody\r\n0\r\n\r\n", True),
        (CHUNKED + b"4\r\nbody\r\n", False),
    ],
)
def test_slow_upstream_finds_where_a_request_ends(buffer, is_complete):
    assert request_size(buffer) == (len(buffer) if is_complete else None)


def test_slow_upstream_leaves_a_pipelined_request_in_the_buffer():
    first = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
    second = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n"

    assert request_size(first + second) == len(first)
