"""The facts columns (docs/architecture.md) with their types: what rule conditions may name."""

from __future__ import annotations

import polars as pl

from license_analyzer.rules.derive import DERIVED_SCHEMA
from license_analyzer.rules.derive_fo import FO_SCHEMA

UTC_TIME = pl.Datetime("us", "UTC")

FACTS_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(),
    "user_id": pl.String(),
    "user_principal_name": pl.String(),
    "display_name": pl.String(),
    "department": pl.String(),
    "company_name": pl.String(),
    "account_enabled": pl.Boolean(),
    "user_type": pl.String(),
    "created_at": UTC_TIME,
    "sku_id": pl.String(),
    "sku_part_number": pl.String(),
    "product_name": pl.String(),
    "family": pl.String(),
    "applies_to": pl.String(),
    "is_free": pl.Boolean(),
    "is_capacity": pl.Boolean(),
    "is_attach": pl.Boolean(),
    "assigned_since": UTC_TIME,
    "assigned_since_source": pl.String(),
    "assigned_via": pl.String(),
    "via_direct": pl.Boolean(),
    "via_groups": pl.List(pl.String()),
    "disabled_plans": pl.List(pl.String()),
    "last_activity": UTC_TIME,
    "last_activity_source": pl.String(),
    "days_since_activity": pl.Int64(),
    "active_days_30": pl.Int64(),
    "active_days_60": pl.Int64(),
    "active_days_90": pl.Int64(),
    "coverage_start": pl.Date(),
    "coverage_days": pl.Int64(),
    "sufficient_history": pl.Boolean(),
    "last_attempt_at": UTC_TIME,
    "bucket": pl.String(),
    "low_usage": pl.Boolean(),
    "read_only": pl.Boolean(),
    "dataverse_environments": pl.List(pl.String()),
    "fo_enabled": pl.Boolean(),
    "unit_price_monthly": pl.Float64(),
    "as_of": pl.Date(),
    # the Microsoft 365 usage reports' last day per workload (pipeline/workloads.py)
    "last_exchange_at": UTC_TIME,
    "last_teams_at": UTC_TIME,
    "last_onedrive_at": UTC_TIME,
    "last_sharepoint_at": UTC_TIME,
    "last_viva_engage_at": UTC_TIME,
    "last_office_apps_at": UTC_TIME,
    "last_copilot_at": UTC_TIME,
    "mail_only": pl.Boolean(),
}

RULE_FIELDS: dict[str, pl.DataType] = {**FACTS_SCHEMA, **DERIVED_SCHEMA, **FO_SCHEMA}
