"""An OpenAI-compatible AI gateway for automation builders.

``create_app`` is imported lazily: gunicorn's master loads ``gateway.gunicorn_conf``
before forking gevent workers, and must not import the transport (and the ssl
bindings under it) before the workers monkey-patch the standard library.
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
