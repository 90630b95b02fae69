from __future__ import annotations

import pytest

from gateway.providers.sse import SSEDecoder, iter_events
from gateway.providers.types import SSEEvent


def test_sse_joins_data_lines_and_keeps_event_names() -> None:
    stream = [b'event: message_start\ndata: {"a":\n', b"data: 1}\n\n: ping\n\n"]

    assert list(iter_events(stream)) == [SSEEvent("message_start", '{"a":\n1}')]


@pytest.mark.parametrize("split", [1, 2, 3, 7, 100])
def test_sse_events_survive_any_chunk_boundary(split: int) -> None:
    raw = b"data: one\r\n\r\ndata: two\r\rdata: three\n\n"
    chunks = [raw[i : i + split] for i in range(0, len(raw), split)]

    assert [e.data for e in iter_events(chunks)] == ["one", "two", "three"]


def test_sse_flush_dispatches_an_event_without_its_final_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: partial") == []

    assert decoder.flush() == [SSEEvent(None, "partial")]


def test_sse_ignores_comments_and_unknown_fields() -> None:
    events = list(iter_events([b": keep-alive\nid: 7\nretry: 10\ndata: x\n\n"]))

    assert events == [SSEEvent(None, "x")]
