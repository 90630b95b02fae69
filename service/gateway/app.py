"""The application factory: settings, logging, storage, providers, blueprints, errors."""

from __future__ import annotations

import atexit

from flask import Flask

from . import demo
from .accounting.pricing import Pricer
from .accounting.tokens import default_cache_dir, install_encodings, warm_encodings
from .api import admin, errors, health, openai
from .config import GatewayConfig, Settings, load_config, load_settings
from .context import Gateway
from .observability import init_logging
from .providers import DEMO_BASE_URL
from .storage.sqlite import SQLiteStore
from .storage.writer import RecordWriter
from .transport import Transport


def create_app(
    settings: Settings | None = None, config: GatewayConfig | None = None
) -> Flask:
    """Build the gateway app. Tests pass settings and config; production reads both
    from the environment."""
    settings = settings or load_settings()
    config = config or load_config(settings.config_path)
    init_logging(settings.log_level)
    install_encodings(default_cache_dir())
    warm_encodings()

    store = SQLiteStore(settings.database)
    store.migrate()
    writer = RecordWriter(settings.database)
    writer.start()
    atexit.register(writer.close)
    transport = Transport(max_connections=settings.worker_connections)
    transport.mount(DEMO_BASE_URL, demo.make_handler(settings.demo_latency_ms))

    app = Flask("gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["gateway"] = Gateway(
        settings=settings,
        config=config,
        store=store,
        writer=writer,
        transport=transport,
        pricer=Pricer(),
    )
    for blueprint in (health.blueprint, openai.blueprint, admin.blueprint):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    return app


def close_app(app: Flask) -> None:
    """Flush the request log and release connections (worker exit, tests)."""
    gateway: Gateway = app.extensions["gateway"]
    gateway.writer.close()
    gateway.transport.close()
    gateway.store.close()
