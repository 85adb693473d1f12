"""Per-workload last activity of Microsoft 365 licenses (the usage reports' sources).

A license whose family counts any workload source (families.toml: microsoft_365, copilot,
teams, exchange, office_apps) gets the last day its holder used each workload; other licenses
get nulls, so a Dynamics row does not look like a mailbox. `mail_only` marks an active suite
whose holder used nothing but Exchange within the product's inactivity window.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from license_analyzer.catalog import Families
from license_analyzer.catalog.families import WORKLOAD_SOURCES
from license_analyzer.pipeline.evidence import USER_KEY, user_key

# source -> facts column
WORKLOAD_COLUMNS = {
    "m365_exchange": "last_exchange_at",
    "m365_teams": "last_teams_at",
    "m365_onedrive": "last_onedrive_at",
    "m365_sharepoint": "last_sharepoint_at",
    "m365_viva_engage": "last_viva_engage_at",
    "m365_office_apps": "last_office_apps_at",
    "m365_copilot": "last_copilot_at",
}
# the suite family whose mail-only holders a cheaper mailbox licence would do for
SUITE_FAMILY = "microsoft_365"
NOT_MAIL = ("m365_teams", "m365_onedrive", "m365_sharepoint", "m365_viva_engage",
            "m365_office_apps")


def workload_columns(state: pl.LazyFrame) -> pl.LazyFrame:
    """Per user (USER_KEY): the latest activity of each workload source, from the activity
    state (one row per channel, so a handful per user)."""
    rows = state.filter(pl.col("source").is_in(list(WORKLOAD_SOURCES)))
    return (rows.select(user_key(), "source", "last_at")
            .group_by(USER_KEY)
            .agg(*(pl.col("last_at").filter(pl.col("source") == source).max()
                   .alias(f"_{column}") for source, column in WORKLOAD_COLUMNS.items())))


def _workload_families(families: Families) -> list[str]:
    return [k for k, f in families.families.items()
            if any(s in WORKLOAD_SOURCES for s in f.sources)]


def mail_only(families: Families, as_of: date) -> list[pl.Expr]:
    """The workload columns (null outside Microsoft 365 families) and mail_only: an active
    suite used for mail alone within its inactivity window (null for other families)."""
    counted = pl.col("family").is_in(_workload_families(families))
    columns = [pl.when(counted).then(pl.col(f"_{c}")).alias(c) for c in WORKLOAD_COLUMNS.values()]

    def recent(source: str) -> pl.Expr:
        day = pl.col(f"_{WORKLOAD_COLUMNS[source]}").dt.date()
        return (day.is_not_null()
                & ((pl.lit(as_of) - day).dt.total_days() < pl.col("inactive_days"))).fill_null(
                    False)

    only_mail = recent("m365_exchange") & ~pl.any_horizontal(*(recent(s) for s in NOT_MAIL))
    flag = (pl.when(pl.col("family") != SUITE_FAMILY).then(pl.lit(None, pl.Boolean))
            .when(pl.col("bucket") != "active").then(pl.lit(False))
            .otherwise(only_mail).alias("mail_only"))
    return [*columns, flag]
