"""The budget fields as marshmallow validates them: for the config file's
``budgets:`` section here, and for the admin API (``api/schemas.py`` builds on
``BudgetFieldsSchema``), so both accept exactly the same budgets.

    budgets:
      monthly-total:            # the name; its id is cfg_monthly-total
        scope: global
        period: month
        limit_usd: 500
        alert_thresholds: [50, 80, 100]
        webhook_url: https://n8n.example.com/webhook/budget
      each-workflow-daily:
        scope: workflow
        subject: "*"            # every workflow separately
        period: day
        limit_usd: 5
        downgrade_to: fast      # past 80 %, calls for other models go to fast
        downgrade_at: 80
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

from .budgets import SCOPES, Budget, config_budget_id, new_budget
from .periods import PERIODS

_PERCENT = validate.Range(min=0, max=100, min_inclusive=False)


class BudgetFieldsSchema(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(validate=validate.Length(min=1, max=200), allow_none=True)
    period = fields.String(validate=validate.OneOf(PERIODS))
    limit_usd = fields.Float(validate=validate.Range(min=0, max=1_000_000_000))
    alert_thresholds = fields.List(
        fields.Float(validate=_PERCENT), validate=validate.Length(max=20)
    )
    webhook_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, allow_none=True
    )
    downgrade_to = fields.String(
        validate=validate.Length(min=1, max=200), allow_none=True
    )
    downgrade_at = fields.Float(validate=_PERCENT, allow_none=True)


class BudgetDefinitionSchema(BudgetFieldsSchema):
    """A whole budget: what it limits and the fields above."""

    scope = fields.String(required=True, validate=validate.OneOf(SCOPES))
    subject = fields.String(validate=validate.Length(min=1, max=200))
    limit_usd = fields.Float(
        required=True, validate=validate.Range(min=0, max=1_000_000_000)
    )

    @validates_schema
    def check_subject(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("scope") == "global" and data.get("subject"):
            raise ValidationError("a global budget has no subject", "subject")
        if data.get("scope") not in (None, "global") and not data.get("subject"):
            raise ValidationError(
                "required for this scope (an id, a name, or * for each)", "subject"
            )


def build_config_budgets(
    declared: Mapping[str, dict[str, Any]], routes: Mapping[str, Any]
) -> tuple[Budget, ...]:
    """Budgets from the config file's loaded ``budgets:`` mapping (name -> fields);
    raise ValidationError (the config loader names the place) for an unknown model."""
    budgets = []
    for name, data in declared.items():
        for field in ("downgrade_to", "subject"):
            is_model = field == "downgrade_to" or data["scope"] == "model"
            value = data.get(field)
            if is_model and value and value != "*" and value not in routes:
                raise ValidationError(
                    {"budgets": {name: {field: [f"no model {value!r}"]}}}
                )
        budgets.append(
            new_budget({"name": name, **data}, "config", config_budget_id(name))
        )

    return tuple(budgets)
