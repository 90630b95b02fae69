"""The ``gateway`` command: serve, manage virtual keys, check the config."""

from __future__ import annotations

import os
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
import orjson

from . import keys
from .config import load_config, load_settings
from .control.commands import budgets_group, parse_limits, teams_group
from .errors import ConfigError
from .storage.sqlite import SQLiteStore


@click.group()
def main() -> None:
    """An OpenAI-compatible AI gateway for automation builders."""


@main.command()
def serve() -> None:
    """Start the gateway under gunicorn (settings from the environment)."""
    settings, config = _load_or_exit()
    if not settings.master_key:
        os.environ["GATEWAY_MASTER_KEY"] = _stored_master_key(settings.database)
        master_note = f"the master key is in {_master_key_path(settings.database)}"
    else:
        master_note = "the master key is GATEWAY_MASTER_KEY"
    SQLiteStore(settings.database).migrate()

    shown_host = "127.0.0.1" if settings.host == "0.0.0.0" else settings.host
    click.echo(
        f"AI gateway on http://{shown_host}:{settings.port}/v1 "
        f"({settings.workers} gevent workers)",
        err=True,
    )
    click.echo(f"  database:  {os.path.abspath(settings.database)}", err=True)
    click.echo(
        f"  config:    {config.source}; models: {', '.join(sorted(config.routes))}",
        err=True,
    )
    click.echo(f"  admin API: {master_note}", err=True)
    click.echo("  create a key:  .venv/bin/gateway keys create --name me", err=True)
    sys.stderr.flush()
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:gateway.gunicorn_conf",
            "gateway.wsgi:app",
        ],
    )


def _load_or_exit() -> tuple[Any, Any]:
    try:
        settings = load_settings()
        return settings, load_config(settings.config_path)
    except ConfigError as error:
        click.echo(f"gateway: {error.message}", err=True)
        raise SystemExit(2) from None


def _master_key_path(database: str) -> str:
    return os.path.join(os.path.dirname(os.path.abspath(database)), "master-key")


def _stored_master_key(database: str) -> str:
    """Read the generated master key, making one (mode 0600) on first start."""
    path = _master_key_path(database)
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    value = "mk-" + secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value


@main.group(name="keys")
def keys_group() -> None:
    """Create, list and revoke virtual keys (works on the database directly)."""


def _store() -> SQLiteStore:
    settings = load_settings()
    store = SQLiteStore(settings.database)
    store.migrate()
    return store


def limit_options(command: Any) -> Any:
    """``--rpm``, ``--tpm`` and ``--max-concurrent``: a key's rate limits."""
    options = [
        click.option("--rpm", "requests_per_minute", type=int, help="Requests/minute."),
        click.option("--tpm", "tokens_per_minute", type=int, help="Tokens/minute."),
        click.option("--max-concurrent", type=int, help="Calls in flight at once."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@keys_group.command("create")
@click.option("--name", required=True, help="What the key is for.")
@click.option("--team", help="Team the key's spend is attributed to.")
@click.option("--owner", help="Who is responsible for the key.")
@click.option("--model", "models", multiple=True, help="A model it may use (repeat).")
@click.option(
    "--expires-in-days",
    type=click.FloatRange(min=0, max=keys.MAX_EXPIRY_DAYS, min_open=True),
)
@limit_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create_key(
    name: str,
    team: str | None,
    owner: str | None,
    models: tuple[str, ...],
    expires_in_days: float | None,
    as_json: bool,
    **limits: int | None,
) -> None:
    """Create a key and print it (this is the only time it is shown)."""
    expires_at = None
    if expires_in_days:
        expires_at = keys.format_time(
            datetime.now(UTC) + timedelta(days=expires_in_days)
        )
    full_key, row = keys.new_key(
        name,
        team=team,
        owner=owner,
        models=list(models) or None,
        expires_at=expires_at,
        limits=parse_limits(limits),
    )
    _store().insert_key(row)
    public = keys.key_from_row(row).to_public()
    if as_json:
        click.echo(orjson.dumps({**public, "key": full_key}).decode())
        return
    click.echo(f"created key {public['id']} ({name})")
    click.echo(full_key)
    click.echo("store it now: it will not be shown again", err=True)


@keys_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
def list_keys(include_revoked: bool) -> None:
    """List keys (never their secrets)."""
    for row in _store().list_keys(include_revoked):
        key = keys.key_from_row(row)
        models = ",".join(key.models) if key.models else "*"
        click.echo(
            f"{key.id}  {key.status():8}  {key.name}  team={key.team or '-'}  "
            f"models={models}  expires={key.expires_at or '-'}"
        )


@keys_group.command("revoke")
@click.argument("key_id")
def revoke_key(key_id: str) -> None:
    """Revoke a key by id; every worker refuses it from the next request on."""
    store = _store()
    if store.get_key(key_id) is None:
        click.echo(f"no key with id {key_id}", err=True)
        raise SystemExit(1)
    store.revoke_key(key_id, keys.utc_now())
    click.echo(f"revoked {key_id}")


@keys_group.command("limits")
@click.argument("key_id")
@limit_options
@click.option("--clear", is_flag=True, help="Remove the key's limits.")
def set_key_limits(key_id: str, clear: bool, **limits: int | None) -> None:
    """Set (replace) or clear a key's rate limits; they apply from its next call."""
    store = _store()
    if store.get_key(key_id) is None:
        click.echo(f"no key with id {key_id}", err=True)
        raise SystemExit(1)
    key = keys.set_key_limits(store, key_id, None if clear else parse_limits(limits))
    click.echo(f"{key_id}: {orjson.dumps(key.to_public()['limits']).decode()}")


main.add_command(budgets_group)
main.add_command(teams_group)


@main.command("check-config")
def check_config() -> None:
    """Validate the config file and print the models it serves."""
    _, config = _load_or_exit()
    for name, route in sorted(config.routes.items()):
        targets = " -> ".join(
            " | ".join(target.id for target in level) for level in route.levels
        )
        click.echo(f"{name}: {targets}")
