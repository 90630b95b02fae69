"""``gateway budgets ...`` and ``gateway teams ...``: budgets and team limits from the
command line, on the database directly (``cli.py`` registers both groups).

Input goes through the admin API's schemas, so both refuse the same things.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
import orjson
from marshmallow import Schema, ValidationError

from ..api.bodies import first_error
from ..api.schemas import BudgetCreateSchema, BudgetUpdateSchema, RateLimitsSchema
from ..config import load_config, load_settings
from ..errors import ConfigError, GatewayError
from ..storage.sqlite import SQLiteStore
from . import manage
from .budgets import SCOPES, Budget
from .periods import PERIODS
from .ratelimits import RateLimits
from .store import open_control_store


@click.group(name="budgets")
def budgets_group() -> None:
    """Create, list, change and delete budgets (USD per key, team, workflow, model
    or the whole gateway)."""


def budget_options(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", help="A name for people."),
        click.option(
            "--period",
            type=click.Choice(PERIODS),
            help="Calendar period in UTC (default month), or total.",
        ),
        click.option("--limit-usd", "limit_usd", help="The limit in USD."),
        click.option(
            "--alert",
            "alert_thresholds",
            multiple=True,
            help="Alert at this percent of the limit (repeat: --alert 50 --alert 80).",
        ),
        click.option("--webhook-url", help="Where alerts are posted."),
        click.option(
            "--downgrade-to", help="Model alias calls go to past --downgrade-at."
        ),
        click.option("--downgrade-at", help="Percent of the limit to downgrade at."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@budgets_group.command("create")
@click.option("--scope", required=True, type=click.Choice(SCOPES))
@click.option("--subject", help="Key id, team, workflow id or model alias; * for each.")
@budget_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create_budget(as_json: bool, **values: Any) -> None:
    """Create a budget."""
    data = _load(BudgetCreateSchema(), values)
    store, config, _ = _context()
    budget = _or_exit(lambda: manage.create_budget(store, config.routes, data))
    _show(budget, as_json)


@budgets_group.command("update")
@click.argument("budget_id")
@budget_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def update_budget(budget_id: str, as_json: bool, **values: Any) -> None:
    """Change a budget (only the options given)."""
    changes = _load(BudgetUpdateSchema(), values)
    store, config, _ = _context()
    budget = _or_exit(
        lambda: manage.update_budget(store, config.routes, budget_id, changes)
    )
    _show(budget, as_json)


@budgets_group.command("delete")
@click.argument("budget_id")
def delete_budget(budget_id: str) -> None:
    store, _, _ = _context()
    budget = _or_exit(lambda: manage.remove_budget(store, budget_id))
    click.echo(f"deleted {budget.id}")


@budgets_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
def list_budgets(as_json: bool) -> None:
    """Budgets with this period's spend (spent + reserved by calls in flight)."""
    store, _, settings = _context()
    control_store = open_control_store(
        settings.database, settings.redis_url, settings.redis_prefix
    )
    now = datetime.now(UTC)
    for budget in manage.list_budgets(store):
        usage = _or_exit(
            lambda b=budget: manage.budget_usage(store, control_store, b, now)
        )
        if as_json:
            click.echo(orjson.dumps({**budget.to_public(), "usage": usage}).decode())
            continue
        what = (
            budget.scope
            if budget.scope == "global"
            else f"{budget.scope}={budget.subject}"
        )
        spent = f"${usage['spent_usd']:.4f}" if usage else "per subject"
        click.echo(
            f"{budget.id}  {what}  {budget.period}  limit=${budget.limit_usd:g}  "
            f"spent={spent}  {budget.name or ''}".rstrip()
        )
    control_store.close()


@click.group(name="teams")
def teams_group() -> None:
    """Rate limits per team (every key with that team shares them)."""


@teams_group.command("limits")
@click.argument("team")
@click.option("--rpm", "requests_per_minute", type=int, help="Requests per minute.")
@click.option("--tpm", "tokens_per_minute", type=int, help="Tokens per minute.")
@click.option("--max-concurrent", type=int, help="Calls in flight at once.")
@click.option("--clear", is_flag=True, help="Remove the team's limits.")
def team_limits(team: str, clear: bool, **values: Any) -> None:
    """Set (replace) or clear a team's limits."""
    limits = (
        None if clear else RateLimits.from_mapping(_load(RateLimitsSchema(), values))
    )
    store, _, _ = _context()
    manage.set_team_limits(store, team, limits)
    click.echo(
        f"{team}: {orjson.dumps(limits.to_public() if limits else None).decode()}"
    )


@teams_group.command("list")
def list_teams() -> None:
    store, _, _ = _context()
    for row in manage.list_team_limits(store):
        click.echo(f"{row['team']}: {orjson.dumps(row['limits']).decode()}")


def parse_limits(values: dict[str, Any]) -> RateLimits | None:
    """Rate limits from command options (None when none is given); exits on bad
    input, naming the option's field."""
    return RateLimits.from_mapping(_load(RateLimitsSchema(), values))


def _load(schema: Schema, values: dict[str, Any]) -> dict[str, Any]:
    given = {name: value for name, value in values.items() if value not in (None, ())}
    if "alert_thresholds" in given:
        given["alert_thresholds"] = list(given["alert_thresholds"])
    try:
        return schema.load(given)
    except ValidationError as error:
        field, message = first_error(error.messages)
        click.echo(f"gateway: {field.replace('_', '-')}: {message}", err=True)
        raise SystemExit(2) from None


def _context() -> tuple[SQLiteStore, Any, Any]:
    try:
        settings = load_settings()
        config = load_config(settings.config_path)
    except ConfigError as error:
        click.echo(f"gateway: {error.message}", err=True)
        raise SystemExit(2) from None
    store = SQLiteStore(settings.database)
    store.migrate()
    return store, config, settings


def _or_exit(work: Callable[[], Any]) -> Any:
    try:
        return work()
    except GatewayError as error:
        click.echo(f"gateway: {error.message}", err=True)
        raise SystemExit(1) from None


def _show(budget: Budget, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(budget.to_public()).decode())
        return
    what = " ".join(part for part in (budget.scope, budget.subject) if part)
    click.echo(f"budget {budget.id}: {what}, {budget.period}, ${budget.limit_usd:g}")
