"""The WSGI entry point gunicorn loads (``gateway.wsgi:app``)."""

from .app import create_app

app = create_app()
