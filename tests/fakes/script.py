"""The script of a fake: its queued behaviours, its recorded requests, and the control
API through which another process edits them.

The control API lives under ``/__fake__/``: ``POST /__fake__/queue`` with
``{"behaviours": [...]}``, ``PUT /__fake__/default`` with one behaviour,
``GET /__fake__/requests``, ``GET /__fake__/pending`` and ``POST /__fake__/reset``.
Behaviours travel as ``Behaviour.to_json`` output, requests as
``RecordedRequest.to_json`` output.
"""

from __future__ import annotations

import collections
import json
import threading
from typing import Any

from .behaviours import Behaviour
from .wire import RecordedRequest, Response, json_response

CONTROL_PREFIX = "/__fake__/"


class Script:
    """The queued behaviours and the recorded requests; safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._default = Behaviour()
        self._requests: list[RecordedRequest] = []

    def queue(self, *behaviours: Behaviour) -> None:
        """Queue behaviours for the next requests, first in first out."""
        with self._lock:
            self._queue.extend(behaviours)

    def set_default(self, behaviour: Behaviour) -> None:
        """Set what requests do when no queued behaviour is meant for them."""
        with self._lock:
            self._default = behaviour

    def take(self, path: str) -> Behaviour:
        """Remove and return the first queued behaviour for ``path``, or the default."""
        with self._lock:
            for position, behaviour in enumerate(self._queue):
                if behaviour.path in (None, path):
                    del self._queue[position]
                    return behaviour
            return self._default

    def record(self, **fields: Any) -> RecordedRequest:
        """Record a request, numbering it in arrival order."""
        with self._lock:
            request = RecordedRequest(index=len(self._requests), **fields)
            self._requests.append(request)
            return request

    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def pending(self) -> int:
        """Return how many queued behaviours no request has taken yet."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued behaviours, the default and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._default = Behaviour()
            self._requests.clear()


def answer_control(script: Script, method: str, path: str, body: bytes) -> Response:
    """Answer a control API request (see the module docstring)."""
    action = path.removeprefix(CONTROL_PREFIX)
    if (method, action) == ("GET", "requests"):
        recorded = [request.to_json() for request in script.requests()]
        return json_response(200, {"requests": recorded})
    if (method, action) == ("GET", "pending"):
        return json_response(200, {"pending": script.pending()})
    if (method, action) == ("POST", "reset"):
        script.reset()
        return json_response(200, {"reset": True})

    try:
        if (method, action) == ("POST", "queue"):
            data = json.loads(body)["behaviours"]
            script.queue(*(Behaviour.from_json(item) for item in data))
            return json_response(
                200, {"queued": len(data), "pending": script.pending()}
            )
        if (method, action) == ("PUT", "default"):
            script.set_default(Behaviour.from_json(json.loads(body)))
            return json_response(200, {"default": True})
    except (KeyError, TypeError, ValueError) as exc:
        return json_response(400, {"error": {"message": f"bad control request: {exc}"}})

    return json_response(
        404, {"error": {"message": f"no control action {method} {path}"}}
    )
