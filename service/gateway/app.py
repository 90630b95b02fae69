"""The application factory: settings, logging, storage, providers, blueprints,
errors."""

from __future__ import annotations

import atexit

from flask import Flask

from . import demo
from .accounting.pricing import Pricer
from .accounting.tokens import default_cache_dir, install_encodings, warm_encodings
from .api import admin, errors, health, openai, routing
from .config import GatewayConfig, Settings, load_config, load_settings
from .context import Gateway
from .control.clock import file_clock, system_clock
from .control.setup import init_control
from .errors import Redactor
from .observability import init_logging
from .providers import DEMO_BASE_URL
from .routing.breaker import Breaker
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
    redactor = Redactor([*config.secrets(), settings.master_key or ""])
    init_logging(settings.log_level, redactor.secrets)
    install_encodings(default_cache_dir())
    warm_encodings()

    store = SQLiteStore(settings.database)
    store.migrate()
    writer = RecordWriter(settings.database)
    writer.start()
    atexit.register(writer.close)
    transport = Transport(max_connections=settings.worker_connections)
    transport.mount(DEMO_BASE_URL, demo.make_handler(settings.demo_latency_ms))
    control = init_control(
        settings.database,
        settings.redis_url,
        settings.redis_prefix,
        store,
        writer,
        config.budgets,
    )
    atexit.register(control.close)
    clock = file_clock(settings.clock_file) if settings.clock_file else system_clock

    app = Flask("gateway")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["gateway"] = Gateway(
        settings=settings,
        config=config,
        store=store,
        writer=writer,
        transport=transport,
        pricer=Pricer(),
        breaker=Breaker(store),
        clock=clock,
        control=control,
        redactor=redactor,
    )
    blueprints = (health, openai, admin, routing)
    for blueprint in (module.blueprint for module in blueprints):
        app.register_blueprint(blueprint)
    errors.init_app(app)
    return app


def close_app(app: Flask) -> None:
    """Flush the request log and release connections (worker exit, tests)."""
    gateway: Gateway = app.extensions["gateway"]
    if gateway.control is not None:
        gateway.control.close()
    gateway.writer.close()
    gateway.transport.close()
    gateway.store.close()
