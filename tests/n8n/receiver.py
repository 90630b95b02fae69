"""A local chat webhook (Slack-style incoming webhook) that records what it is sent."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class WebhookReceiver:
    def __init__(self, server: ThreadingHTTPServer):
        self._server = server
        self._lock = threading.Lock()
        self._posts: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/spend-report"

    def record(self, path: str, body: bytes) -> None:
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = body.decode(errors="replace")
        with self._lock:
            self._posts.append({"path": path, "body": payload})

    def posts(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._posts)

    def clear(self) -> None:
        with self._lock:
            self._posts.clear()


@contextlib.contextmanager
def run_receiver() -> Iterator[WebhookReceiver]:
    holder: list[WebhookReceiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server hook name)
            length = int(self.headers.get("Content-Length") or 0)
            holder[0].record(self.path, self.rfile.read(length))
            answer = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(WebhookReceiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
