"""Incremental server-sent-events parsing (pure: bytes in, events out).

Follows the WHATWG event-stream rules the providers use: lines end in LF, CR or CRLF,
``data:`` lines of one event are joined with LF, ``:`` starts a comment, a blank line
dispatches the event. https://html.spec.whatwg.org/multipage/server-sent-events.html
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from .types import SSEEvent


class SSEDecoder:
    """Feed raw chunks, get complete events. Holds the partial line between chunks."""

    __slots__ = ("_buffer", "_data", "_event")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Return the events completed by ``chunk`` (possibly none)."""
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")

        lines = buffer.split(b"\n")
        self._buffer = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            event = self._take_line(line.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)

        return events

    def flush(self) -> list[SSEEvent]:
        """Dispatch what is pending when the stream ends without a final blank line."""
        events = self.feed(b"\n") if self._buffer else []
        if self._data:
            events.append(self._dispatch())

        return events

    def _take_line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch() if self._data else None

        if line.startswith(":"):
            return None

        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value

        return None

    def _dispatch(self) -> SSEEvent:
        event = SSEEvent(event=self._event, data="\n".join(self._data))
        self._data = []
        self._event = None
        return event


def iter_events(chunks: Iterable[bytes]) -> Iterator[SSEEvent]:
    """Yield the events of a whole stream of byte chunks."""
    decoder = SSEDecoder()
    for chunk in chunks:
        yield from decoder.feed(chunk)

    yield from decoder.flush()
