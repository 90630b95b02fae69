"""gunicorn settings for ``gateway serve`` (``-c python:gateway.gunicorn_conf``).

gevent workers: an LLM call waits seconds on its provider, and a gevent worker holds
hundreds of such calls at once, where sync and thread workers cap in-flight calls at
workers x threads (bench/RESULTS.md has the measurements behind this choice).
"""

from __future__ import annotations

from typing import Any

from gateway.accounting.tokens import (
    default_cache_dir,
    install_encodings,
    warm_encodings,
)
from gateway.config import load_settings

_settings = load_settings()
# Loaded once in the master, so the forked workers share the encodings' memory.
install_encodings(default_cache_dir())
warm_encodings()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
# gunicorn's gevent worker, but a graceful stop closes idle keep-alive connections at
# once instead of waiting graceful_timeout for them.
worker_class = "gateway.worker.GatewayWorker"
worker_connections = _settings.worker_connections
backlog = 4096
# Worker heartbeat: gevent keeps it alive while calls wait, so long calls are fine.
timeout = 120
# How long a graceful stop (SIGTERM) waits for the calls in flight.
graceful_timeout = 30
keepalive = 75
accesslog = None
errorlog = "-"
loglevel = "warning"
proc_name = "ai-gateway"


def worker_exit(server: Any, worker: Any) -> None:
    """Flush the request log before the worker process ends (SIGTERM included)."""
    from gateway.app import close_app

    app = getattr(worker, "wsgi", None)
    if app is not None and "gateway" in getattr(app, "extensions", {}):
        close_app(app)
