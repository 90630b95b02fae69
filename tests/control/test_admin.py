"""Budgets and limits through the admin API and the CLI: the bad-input table, the
life of a budget, config-file budgets, key and team limits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ADMIN, MASTER_KEY, VENV_BIN, bearer, create_key

SHAPE_KEYS = {"message", "type", "param", "code", "request_id"}


@pytest.fixture
def key_id(client: Any) -> str:
    return create_key(client).split("-")[2]


def budget_body(**fields: Any) -> dict[str, Any]:
    return {"scope": "global", "period": "month", "limit_usd": 10, **fields}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (budget_body(limit_usd=-1), "limit_usd"),
        (budget_body(limit_usd="ten"), "limit_usd"),
        (budget_body(limit_usd=True), "limit_usd"),
        (budget_body(limit_usd=None), "limit_usd"),
        ({"scope": "global", "period": "month"}, "limit_usd"),
        (budget_body(period="fortnight"), "period"),
        (budget_body(scope="planet"), "scope"),
        (budget_body(scope="key"), "subject"),
        (budget_body(scope="key", subject="nosuchkey123"), "subject"),
        (budget_body(scope="model", subject="no-such-model"), "subject"),
        (budget_body(subject="x"), "subject"),
        (budget_body(webhook_url="not a url"), "webhook_url"),
        (budget_body(webhook_url="ftp://example.com/hook"), "webhook_url"),
        (budget_body(alert_thresholds=[50, 150]), "alert_thresholds.1"),
        (budget_body(alert_thresholds=[0]), "alert_thresholds.0"),
        (budget_body(alert_thresholds="80"), "alert_thresholds"),
        (budget_body(downgrade_to="no-such-model"), "downgrade_to"),
        (budget_body(downgrade_at=120, downgrade_to="demo"), "downgrade_at"),
        (budget_body(colour="red"), "colour"),
    ],
)
def test_bad_budget_input_is_a_400_naming_the_field(
    client: Any, body: dict[str, Any], param: str
) -> None:
    response = client.post("/admin/budgets", json=body, headers=ADMIN)

    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert SHAPE_KEYS <= set(error) and error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert error["message"].startswith(param.split(".")[0])


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "param"),
    [
        ("patch", "/admin/budgets/{budget}", {"limit_usd": -5}, 400, "limit_usd"),
        ("patch", "/admin/budgets/{budget}", {"scope": "team"}, 400, "scope"),
        (
            "patch",
            "/admin/budgets/{budget}",
            {"webhook_url": "hook"},
            400,
            "webhook_url",
        ),
        ("patch", "/admin/budgets/bud_nope", {"limit_usd": 1}, 404, None),
        ("delete", "/admin/budgets/bud_nope", None, 404, None),
        (
            "put",
            "/admin/keys/{key}/limits",
            {"requests_per_minute": 0},
            400,
            "requests_per_minute",
        ),
        (
            "put",
            "/admin/keys/{key}/limits",
            {"requests_per_minute": "5"},
            400,
            "requests_per_minute",
        ),
        (
            "put",
            "/admin/keys/{key}/limits",
            {"tokens_per_minute": -1},
            400,
            "tokens_per_minute",
        ),
        ("put", "/admin/keys/{key}/limits", {"burst": 3}, 400, "burst"),
        ("put", "/admin/keys/nosuchkey123/limits", {"max_concurrent": 2}, 404, None),
        (
            "put",
            "/admin/teams/ops/limits",
            {"max_concurrent": 1.5},
            400,
            "max_concurrent",
        ),
        (
            "post",
            "/admin/keys",
            {"name": "k", "limits": {"requests_per_minute": -3}},
            400,
            "limits.requests_per_minute",
        ),
        ("get", "/admin/budgets?scope=planet", None, 400, "scope"),
    ],
)
def test_bad_limit_and_budget_changes_are_refused_in_the_one_error_shape(
    client: Any,
    key_id: str,
    method: str,
    path: str,
    body: Any,
    status: int,
    param: str | None,
) -> None:
    budget = client.post("/admin/budgets", json=budget_body(), headers=ADMIN).get_json()
    url = path.format(budget=budget["id"], key=key_id)

    response = getattr(client, method)(url, json=body, headers=ADMIN)

    assert response.status_code == status, response.get_json()
    assert SHAPE_KEYS <= set(response.get_json()["error"])
    assert response.get_json()["error"]["param"] == param


def test_budgets_need_the_master_key(client: Any) -> None:
    key = create_key(client)

    response = client.get("/admin/budgets", headers=bearer(key))

    assert response.status_code == 401


def test_a_budget_is_created_listed_changed_and_deleted(
    client: Any, key_id: str
) -> None:
    created = client.post(
        "/admin/budgets",
        json={
            "scope": "key",
            "subject": key_id,
            "period": "week",
            "limit_usd": 25,
            "name": "ops key",
            "alert_thresholds": [80, 50],
            "downgrade_to": "fast",
        },
        headers=ADMIN,
    )
    budget = created.get_json()
    changed = client.patch(
        f"/admin/budgets/{budget['id']}",
        json={"limit_usd": 30, "webhook_url": "http://127.0.0.1:9/hook"},
        headers=ADMIN,
    ).get_json()
    listed = client.get(f"/admin/budgets?scope=key&subject={key_id}", headers=ADMIN)
    deleted = client.delete(f"/admin/budgets/{budget['id']}", headers=ADMIN)
    gone = client.get(f"/admin/budgets/{budget['id']}", headers=ADMIN)

    assert created.status_code == 201
    assert budget["id"].startswith("bud_") and budget["alert_thresholds"] == [
        50.0,
        80.0,
    ]
    assert budget["downgrade_to"] == "fast" and budget["downgrade_at"] == 100.0
    assert budget["usage"]["spent_usd"] == 0 and budget["usage"]["remaining_usd"] == 25
    assert (
        changed["limit_usd"] == 30
        and changed["webhook_url"] == "http://127.0.0.1:9/hook"
    )
    assert changed["name"] == "ops key" and changed["period"] == "week"
    assert [b["id"] for b in listed.get_json()["data"]] == [budget["id"]]
    assert deleted.get_json() == {
        "id": budget["id"],
        "object": "budget",
        "deleted": True,
    }
    assert gone.status_code == 404


def test_an_each_budget_reports_usage_per_subject(client: Any, key_id: str) -> None:
    budget = client.post(
        "/admin/budgets", json=budget_body(scope="key", subject="*"), headers=ADMIN
    ).get_json()

    whole = client.get(f"/admin/budgets/{budget['id']}", headers=ADMIN).get_json()
    one = client.get(f"/admin/budgets/{budget['id']}?subject={key_id}", headers=ADMIN)

    assert whole["usage"] is None
    assert one.get_json()["usage"]["subject"] == key_id


CONFIG_WITH_BUDGETS = """
models:
  cheap: {provider: demo, model: demo}
budgets:
  monthly-total:
    scope: global
    period: month
    limit_usd: 500
    alert_thresholds: [50, 80, 100]
    webhook_url: https://n8n.example.com/webhook/budget
  each-workflow:
    scope: workflow
    subject: "*"
    period: day
    limit_usd: 5
    downgrade_to: cheap
    downgrade_at: 80
"""


def test_config_file_budgets_are_listed_and_can_only_change_in_the_file(
    make_app: Any,
) -> None:
    client = make_app(CONFIG_WITH_BUDGETS).test_client()

    listed = client.get("/admin/budgets", headers=ADMIN).get_json()["data"]
    patched = client.patch(
        "/admin/budgets/cfg_monthly-total", json={"limit_usd": 1}, headers=ADMIN
    )
    deleted = client.delete("/admin/budgets/cfg_each-workflow", headers=ADMIN)

    assert {b["id"]: b["source"] for b in listed} == {
        "cfg_monthly-total": "config",
        "cfg_each-workflow": "config",
    }
    assert patched.status_code == 403 and deleted.status_code == 403
    assert patched.get_json()["error"]["code"] == "budget_from_config"


def test_restarting_with_a_changed_config_replaces_its_budgets(make_app: Any) -> None:
    make_app(CONFIG_WITH_BUDGETS)
    changed = CONFIG_WITH_BUDGETS.replace("limit_usd: 500", "limit_usd: 400")
    client = make_app(changed.split("  each-workflow:")[0]).test_client()

    listed = client.get("/admin/budgets", headers=ADMIN).get_json()["data"]

    assert [(b["id"], b["limit_usd"]) for b in listed] == [("cfg_monthly-total", 400)]


def test_a_config_budget_naming_an_unknown_model_stops_the_start(make_app: Any) -> None:
    bad = CONFIG_WITH_BUDGETS.replace("downgrade_to: cheap", "downgrade_to: nowhere")

    with pytest.raises(Exception, match=r"budgets\.each-workflow\.downgrade_to"):
        make_app(bad)


def test_key_limits_are_set_at_creation_and_replaced_later(client: Any) -> None:
    created = client.post(
        "/admin/keys",
        json={"name": "k", "limits": {"requests_per_minute": 60}},
        headers=ADMIN,
    ).get_json()

    replaced = client.put(
        f"/admin/keys/{created['id']}/limits",
        json={"tokens_per_minute": 1000, "max_concurrent": 2},
        headers=ADMIN,
    ).get_json()
    cleared = client.put(f"/admin/keys/{created['id']}/limits", json={}, headers=ADMIN)

    assert created["limits"] == {
        "requests_per_minute": 60,
        "tokens_per_minute": None,
        "max_concurrent": None,
    }
    assert replaced["limits"] == {
        "requests_per_minute": None,
        "tokens_per_minute": 1000,
        "max_concurrent": 2,
    }
    assert cleared.get_json()["limits"] is None


def test_team_limits_are_set_listed_and_removed(client: Any) -> None:
    put = client.put(
        "/admin/teams/ops/limits", json={"requests_per_minute": 100}, headers=ADMIN
    )
    listed = client.get("/admin/teams", headers=ADMIN).get_json()["data"]
    removed = client.delete("/admin/teams/ops/limits", headers=ADMIN)
    missing = client.get("/admin/teams/ops/limits", headers=ADMIN)

    assert put.get_json()["limits"]["requests_per_minute"] == 100
    assert [row["team"] for row in listed] == ["ops"]
    assert removed.status_code == 200 and missing.status_code == 404


def gateway_cli(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GATEWAY_DATABASE": database, "GATEWAY_MASTER_KEY": MASTER_KEY}
    env.pop("GATEWAY_CONFIG", None)
    return subprocess.run(
        [str(VENV_BIN / "gateway"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_manages_budgets_and_limits(tmp_path: Path) -> None:
    database = str(tmp_path / "cli.db")
    key = orjson.loads(
        gateway_cli(
            database, "keys", "create", "--name", "k", "--rpm", "30", "--json"
        ).stdout
    )

    created = gateway_cli(
        database,
        "budgets",
        "create",
        "--scope",
        "key",
        "--subject",
        key["id"],
        "--period",
        "day",
        "--limit-usd",
        "2.5",
        "--alert",
        "50",
        "--alert",
        "90",
        "--json",
    )
    budget = orjson.loads(created.stdout)
    updated = gateway_cli(
        database, "budgets", "update", budget["id"], "--limit-usd", "3", "--json"
    )
    listed = gateway_cli(database, "budgets", "list")
    limits = gateway_cli(database, "keys", "limits", key["id"], "--tpm", "5000")
    team = gateway_cli(database, "teams", "limits", "ops", "--max-concurrent", "4")
    deleted = gateway_cli(database, "budgets", "delete", budget["id"])

    assert key["limits"]["requests_per_minute"] == 30
    assert budget["limit_usd"] == 2.5 and budget["alert_thresholds"] == [50, 90]
    assert orjson.loads(updated.stdout)["limit_usd"] == 3
    assert budget["id"] in listed.stdout and "spent=$0.0000" in listed.stdout
    assert '"tokens_per_minute":5000' in limits.stdout
    assert '"max_concurrent":4' in team.stdout
    assert deleted.returncode == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "global", "--limit-usd", "-1"], "limit-usd"),
        (["--scope", "global", "--limit-usd", "ten"], "limit-usd"),
        (["--scope", "key", "--subject", "nosuchkey123", "--limit-usd", "1"], "no key"),
        (
            ["--scope", "global", "--limit-usd", "1", "--webhook-url", "nope"],
            "webhook-url",
        ),
    ],
)
def test_the_cli_refuses_bad_budgets_naming_the_option(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = gateway_cli(str(tmp_path / "cli.db"), "budgets", "create", *args)

    assert result.returncode != 0
    assert message in result.stderr
