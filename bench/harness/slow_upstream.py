"""The slow fake upstream: answers every request with a fixed body after a delay.

Run as a script in the bench venv: `python slow_upstream.py PORT DELAY_S BODY_FILE`.
It speaks just enough HTTP/1.1 for proxies and wrk (Content-Length or chunked request
bodies, keep-alive, pipelining) and holds thousands of connections on one event loop,
with uvloop when it is installed.
"""

import asyncio
import socket
import sys

HEADER_END = b"\r\n\r\n"


class SlowResponder(asyncio.Protocol):
    def __init__(self, response: bytes, delay: float) -> None:
        self.response = response
        self.delay = delay
        self.buffer = b""
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            size = request_size(self.buffer)
            if size is None:
                return
            self.buffer = self.buffer[size:]
            asyncio.get_running_loop().call_later(self.delay, self.answer)

    def answer(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(self.response)


def request_size(buffer: bytes) -> int | None:
    """Bytes taken by the first complete request in buffer, or None if incomplete."""
    end = buffer.find(HEADER_END)
    if end < 0:
        return None

    head = buffer[:end].lower()
    start = end + len(HEADER_END)
    if b"transfer-encoding: chunked" in head:
        return chunked_size(buffer, start)

    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip() == b"content-length":
            length = int(value.strip())

    if len(buffer) < start + length:
        return None
    return start + length


def chunked_size(buffer: bytes, position: int) -> int | None:
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(buffer[position:line_end].split(b";")[0], 16)
        position = line_end + 2
        if size == 0:
            # No trailers are sent by the clients here: the last chunk ends in CRLF.
            if len(buffer) < position + 2:
                return None
            return position + 2
        position += size + 2
        if len(buffer) < position:
            return None


def build_response(body: bytes) -> bytes:
    head = (
        "HTTP/1.1 200 OK\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: keep-alive\r\n\r\n"
    )
    return head.encode() + body


async def serve(port: int, delay: float, body: bytes) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(4096)
    response = build_response(body)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SlowResponder(response, delay), sock=sock, backlog=4096
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    port, delay, body_file = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    with open(body_file, "rb") as f:
        body = f.read().strip()

    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(port, delay, body))
    else:
        uvloop.run(serve(port, delay, body))


if __name__ == "__main__":
    main()
