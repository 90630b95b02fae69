"""A stand-in for our gateway, used only by `--self-test` to check the harness.

It is not the gateway. It mimics the two commands the harness calls,
`serve` and `keys create --name NAME --json`, reads the same environment and config
file, and runs a Flask passthrough under gunicorn with gevent workers that sends the
`x-gateway-overhead-ms` header. Run from the repo root with the bench venv:
`python -m bench.harness.standin serve`.
"""

import json
import os
import secrets
import sqlite3
import sys
import time


def create_key(name: str) -> str:
    key = "sk-standin-" + secrets.token_urlsafe(24)
    with sqlite3.connect(os.environ["GATEWAY_DATABASE"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS keys (name TEXT, key TEXT UNIQUE)")
        db.execute("INSERT INTO keys VALUES (?, ?)", (name, key))

    return key


def is_known_key(key: str, known: set[str]) -> bool:
    """Check the key, rereading the database on a miss: keys are made while serving."""
    if key in known:
        return True

    with sqlite3.connect(os.environ["GATEWAY_DATABASE"]) as db:
        db.execute("CREATE TABLE IF NOT EXISTS keys (name TEXT, key TEXT UNIQUE)")
        known.update(row[0] for row in db.execute("SELECT key FROM keys"))

    return key in known


def create_app():
    import requests
    import yaml
    from flask import Flask, request
    from requests.adapters import HTTPAdapter

    with open(os.environ["GATEWAY_CONFIG"]) as f:
        config = yaml.safe_load(f)
    provider = config["providers"]["upstream"]
    url = provider["base_url"].rstrip("/") + "/chat/completions"
    upstream_headers = {
        "Authorization": f"Bearer {os.environ[provider['api_key_env']]}"
    }
    session = requests.Session()
    session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=1000))
    known: set[str] = set()
    app = Flask(__name__)

    @app.post("/v1/chat/completions")
    def chat_completions():
        started = time.perf_counter()
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not is_known_key(key, known):
            error = {
                "error": {"message": "unknown key", "type": "invalid_request_error"}
            }
            return error, 401

        body = request.get_json()
        body["model"] = config["models"][body["model"]]["model"]
        upstream_started = time.perf_counter()
        answer = session.post(url, json=body, headers=upstream_headers, timeout=60)
        upstream_ms = (time.perf_counter() - upstream_started) * 1000
        payload = json.dumps(answer.json())

        response = app.response_class(payload, answer.status_code)
        response.mimetype = "application/json"
        overhead_ms = (time.perf_counter() - started) * 1000 - upstream_ms
        response.headers["x-gateway-overhead-ms"] = f"{overhead_ms:.3f}"
        return response

    return app


def serve() -> None:
    port = os.environ.get("PORT", "18100")
    argv = [sys.executable, "-m", "gunicorn", "-k", "gevent", "-w", "2"]
    argv += ["--worker-connections", "1000", "--backlog", "2048", "--timeout", "120"]
    argv += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    os.execv(sys.executable, [*argv, "bench.harness.standin:create_app()"])


def main(argv: list[str]) -> None:
    if argv == ["serve"]:
        serve()
    elif argv[:2] == ["keys", "create"] and "--name" in argv:
        name = argv[argv.index("--name") + 1]
        print(json.dumps({"key": create_key(name), "name": name}))
    else:
        sys.exit("usage: standin serve | standin keys create --name NAME --json")


if __name__ == "__main__":
    main(sys.argv[1:])
