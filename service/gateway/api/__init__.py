"""The HTTP surfaces, one blueprint each. Views parse, call one function, serialize."""

from __future__ import annotations

from flask import current_app

from ..context import Gateway


def current_gateway() -> Gateway:
    gateway: Gateway = current_app.extensions["gateway"]
    return gateway
