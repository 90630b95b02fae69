"""Virtual keys through the admin API and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from tests.conftest import ADMIN, bearer, create_key

CHAT = {"model": "demo", "messages": [{"role": "user", "content": "hi"}]}


def test_created_key_is_shown_once_and_stored_only_as_a_hash(
    client: Any, app: Any
) -> None:
    response = client.post(
        "/admin/keys",
        json={
            "name": "n8n prod",
            "team": "ops",
            "owner": "ana",
            "metadata": {"env": "prod"},
        },
        headers=ADMIN,
    )

    created = response.get_json()
    assert response.status_code == 201
    assert created["key"].startswith(f"sk-gw-{created['id']}-")
    secret = created["key"].rsplit("-", 1)[1]
    listed = client.get("/admin/keys", headers=ADMIN).get_json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]
    stored = app.extensions["gateway"].store.get_key(created["id"])
    assert secret not in orjson.dumps(stored).decode()
    assert (listed[0]["team"], listed[0]["owner"], listed[0]["metadata"]) == (
        "ops",
        "ana",
        {"env": "prod"},
    )


def test_revoked_key_is_refused_at_once(client: Any) -> None:
    key = create_key(client)
    key_id = key.split("-")[2]
    assert (
        client.post("/v1/chat/completions", json=CHAT, headers=bearer(key)).status_code
        == 200
    )

    revoked = client.delete(f"/admin/keys/{key_id}", headers=ADMIN).get_json()

    assert revoked["status"] == "revoked"
    refused = client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "key_revoked"
    assert client.get("/admin/keys", headers=ADMIN).get_json()["data"] == []


def test_expired_key_is_refused(client: Any) -> None:
    key = create_key(client, expires_at="2020-01-01T00:00:00Z")

    refused = client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))

    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "key_expired"


def test_wrong_secret_for_a_real_key_id_is_refused(client: Any) -> None:
    key = create_key(client)

    response = client.post(
        "/v1/chat/completions", json=CHAT, headers=bearer(key[:-3] + "abc")
    )

    assert response.status_code == 401


def test_model_allow_list_limits_calls_and_the_model_list(client: Any) -> None:
    key = create_key(client, models=["fast"])

    models = client.get("/v1/models", headers=bearer(key)).get_json()["data"]
    forbidden = client.post("/v1/chat/completions", json=CHAT, headers=bearer(key))
    allowed = client.post(
        "/v1/chat/completions", json={**CHAT, "model": "fast"}, headers=bearer(key)
    )

    assert [m["id"] for m in models] == ["fast"]
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"]["code"] == "model_not_allowed"
    assert allowed.status_code == 200


def test_key_via_x_api_key_header(client: Any, key: str) -> None:
    response = client.post(
        "/v1/chat/completions", json=CHAT, headers={"x-api-key": key}
    )

    assert response.status_code == 200


def test_healthz_needs_no_key(client: Any) -> None:
    assert client.get("/healthz").get_json() == {"status": "ok"}


def run_cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE": database}
    gateway = Path(sys.executable).parent / "gateway"
    return subprocess.run(
        [str(gateway), *args], capture_output=True, text=True, env=env
    )


def test_cli_creates_lists_and_revokes_keys(tmp_path: Path) -> None:
    database = str(tmp_path / "cli.db")

    created = run_cli(
        database,
        "keys",
        "create",
        "--name",
        "zap",
        "--team",
        "growth",
        "--model",
        "fast",
        "--json",
    )
    key = orjson.loads(created.stdout)
    listed = run_cli(database, "keys", "list")
    revoked = run_cli(database, "keys", "revoke", key["id"])
    after = run_cli(database, "keys", "list", "--all")
    missing = run_cli(database, "keys", "revoke", "nosuchkey")

    assert created.returncode == 0, created.stderr
    assert key["key"].startswith("sk-gw-") and key["models"] == ["fast"]
    assert key["id"] in listed.stdout and "team=growth" in listed.stdout
    assert key["key"] not in listed.stdout
    assert revoked.returncode == 0 and "revoked" in after.stdout
    assert missing.returncode == 1


def test_cli_check_config_reports_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  fast:\n    provider: nowhere\n    model: x\n")
    env = {**os.environ, "GATEWAY_CONFIG": str(bad)}
    gateway = Path(sys.executable).parent / "gateway"

    result = subprocess.run(
        [str(gateway), "check-config"], capture_output=True, text=True, env=env
    )

    assert result.returncode == 2
    assert f"config file {bad} at models.fast.provider" in result.stderr


def test_cli_refuses_an_expiry_past_what_a_date_can_hold(tmp_path: Path) -> None:
    database = str(tmp_path / "cli.db")

    huge = run_cli(
        database, "keys", "create", "--name", "n", "--expires-in-days", "1e308"
    )
    longest = run_cli(
        database, "keys", "create", "--name", "n", "--expires-in-days", "36500"
    )

    assert huge.returncode == 2
    assert "--expires-in-days" in huge.stderr and "Traceback" not in huge.stderr
    assert longest.returncode == 0, longest.stderr
