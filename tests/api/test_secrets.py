"""Provider keys never leave the gateway, even keys with no telling prefix that a
provider echoes in its error: not in the response, the request row or the logs."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import Any

import orjson

from gateway.errors import ProviderAuthError, Redactor
from tests.conftest import bearer, create_key
from tests.fakes import FakeServer, error, error_in_body, raw

pytest_plugins = ["tests.fakes.plugin"]

# Shaped like Mistral's (32 letters and digits), Together's and a self-hosted hex key:
# none matches the key-shaped patterns, so only knowing them can scrub them.
MISTRAL_KEY = "Zq8pR2vN6tY4wK1mB9xC3dF7gH5jL0sA"
TOGETHER_KEY = "tgp_v1_Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9LzXc"
HEX_KEY = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
HEADER_SECRET = "tenant-token-5d41402abc4b2a76"
SECRETS = (MISTRAL_KEY, TOGETHER_KEY, HEX_KEY, HEADER_SECRET)

CONFIG = """
providers:
  mistral:
    type: openai-compatible
    base_url: {url}/v1
    api_key_env: MISTRAL_STYLE_KEY
  together:
    type: openai-compatible
    base_url: {url}/v1
    api_key_env: TOGETHER_STYLE_KEY
  vllm:
    type: openai-compatible
    base_url: {url}/v1
    api_key_env: HEX_STYLE_KEY
    headers:
      X-Tenant-Token: {header}
models:
  mistral: {{provider: mistral, model: mistral-large-latest}}
  together: {{provider: together, model: llama-3.3-70b}}
  vllm: {{provider: vllm, model: llama3}}
"""

ENV = {
    "MISTRAL_STYLE_KEY": MISTRAL_KEY,
    "TOGETHER_STYLE_KEY": TOGETHER_KEY,
    "HEX_STYLE_KEY": HEX_KEY,
}


@contextlib.contextmanager
def gateway_log() -> Iterator[io.StringIO]:
    """What the gateway's own log handler (installed by the app) writes meanwhile."""
    captured = io.StringIO()
    handlers = logging.getLogger("gateway").handlers
    assert handlers, "build an app first: it installs the handler"
    previous = [handler.setStream(captured) for handler in handlers]
    try:
        yield captured
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def chat(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}], **extra}


def test_an_echoed_unprefixed_key_is_scrubbed_everywhere(
    make_app: Any, fake_provider: FakeServer
) -> None:
    app = make_app(CONFIG.format(url=fake_provider.url, header=HEADER_SECRET), ENV)
    client = app.test_client()
    key = create_key(client)
    fake_provider.queue(
        error(401, f"Incorrect API key provided: {MISTRAL_KEY}."),
        raw(403, f"<html>key {TOGETHER_KEY} is not allowed here</html>", "text/html"),
        error(400, f"X-Tenant-Token {HEADER_SECRET} is not a tenant of {HEX_KEY}"),
        error_in_body(f"the key {HEX_KEY} was revoked mid-stream", after_events=2),
    )

    with gateway_log() as log:
        answers = [
            client.post("/v1/chat/completions", json=chat(model), headers=bearer(key))
            for model in ("mistral", "together", "vllm")
        ]
        stream = client.post(
            "/v1/chat/completions", json=chat("vllm", stream=True), headers=bearer(key)
        )
        streamed = stream.get_data(as_text=True)
        logging.getLogger("gateway.test").warning(
            "a careless line: %s", MISTRAL_KEY, extra={"fields": {"key": HEX_KEY}}
        )
    gateway = app.extensions["gateway"]
    gateway.writer.flush()
    rows = gateway.store.query("SELECT * FROM requests ORDER BY id")

    # The provider did receive the keys, and did echo them.
    sent = [request.headers for request in fake_provider.requests()]
    assert sent[0]["authorization"] == f"Bearer {MISTRAL_KEY}"
    assert sent[2]["x-tenant-token"] == HEADER_SECRET
    assert [answer.status_code for answer in answers] == [502, 502, 400]
    messages = [answer.get_json()["error"]["message"] for answer in answers]
    assert all("[redacted]" in message for message in messages), messages
    assert "[redacted] was revoked" in streamed
    assert [row["status"] for row in rows] == [502, 502, 400, 502]
    assert all("[redacted]" in row["error_message"] for row in rows)
    logged = log.getvalue()
    assert logged.count('"message":"request"') == 4
    assert "a careless line: [redacted]" in logged
    everything = "".join(
        [
            *(answer.get_data(as_text=True) for answer in answers),
            streamed,
            orjson.dumps(rows).decode(),
            logged,
        ]
    )
    for secret in SECRETS:
        assert secret not in everything


def test_the_redactor_scrubs_given_secrets_and_key_shapes() -> None:
    redactor = Redactor([MISTRAL_KEY, "short", MISTRAL_KEY + "-longer"])
    error = ProviderAuthError(
        f"bad key {MISTRAL_KEY}-longer",
        param=MISTRAL_KEY,
        details={"echo": [f"x{MISTRAL_KEY}y", 3], "gsk": "gsk_abcdefgh12345"},
    )

    redactor.redact_error(error)

    assert error.message == "bad key [redacted]"
    assert error.args == (error.message,)
    assert error.param == "[redacted]"
    assert error.details == {"echo": ["x[redacted]y", 3], "gsk": "[redacted]"}
    # Too short to be a secret, and too common to blank out.
    assert redactor.redact("short answers") == "short answers"
