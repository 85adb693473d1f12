"""Microsoft 365 licences by workload: how many holders used each workload lately, read from
the facts' per-workload last activity (the usage reports, pipeline/workloads.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import polars as pl

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.report.activity import _facts, latest_analysis
from license_analyzer.store.db import Store

log = logging.getLogger(__name__)

RECENT_DAYS = 30
# facts column -> the workload's name on the page
WORKLOADS = {
    "last_exchange_at": "Exchange",
    "last_teams_at": "Teams",
    "last_office_apps_at": "Office apps",
    "last_onedrive_at": "OneDrive",
    "last_sharepoint_at": "SharePoint",
    "last_viva_engage_at": "Viva Engage",
    "last_copilot_at": "Copilot",
}


@dataclass(frozen=True)
class WorkloadRow:
    product_name: str
    sku_part_number: str
    holders: int
    used: dict[str, int]  # workload name -> holders who used it in the last RECENT_DAYS days
    mail_only: int
    signed_in_only: int  # signed in lately, used no workload: Entra alone would call them active
    no_data: int


def workload_activity(store: Store, as_of: date) -> list[WorkloadRow]:
    with store.session() as session:
        analysis = latest_analysis(session, as_of)
    if analysis is None:
        return []
    try:
        facts = _facts(store, analysis)
        schema = facts.collect_schema()
        if "last_exchange_at" not in schema:
            return []
        return _rows(facts, analysis.as_of)
    except (OSError, pl.exceptions.PolarsError, LicenseAnalyzerError) as exc:
        log.warning("cannot read the workload activity of analysis %s: %s", analysis.id, exc)
        return []


def _rows(facts: pl.LazyFrame, as_of: date) -> list[WorkloadRow]:
    def recent(column: str) -> pl.Expr:
        days = (pl.lit(as_of) - pl.col(column).dt.date()).dt.total_days()
        return (pl.col(column).is_not_null() & (days < RECENT_DAYS)).fill_null(False)

    any_workload = pl.any_horizontal(*(pl.col(c).is_not_null() for c in WORKLOADS))
    recent_attempt = recent("last_attempt_at")
    table = (
        facts.filter(pl.col("family").is_in(["microsoft_365", "copilot", "teams", "exchange",
                                               "office_apps"]))
        .group_by("product_name", "sku_part_number")
        .agg(pl.len().alias("holders"),
             *(recent(c).sum().alias(c) for c in WORKLOADS),
             pl.col("mail_only").fill_null(False).sum().alias("mail_only"),
             (recent_attempt & ~any_workload & (pl.col("bucket") != "no_data")).sum()
             .alias("signed_in_only"),
             (pl.col("bucket") == "no_data").sum().alias("no_data"))
        .sort("holders", descending=True)
        .collect())
    return [WorkloadRow(r["product_name"] or r["sku_part_number"], r["sku_part_number"],
                        r["holders"], {name: r[c] for c, name in WORKLOADS.items()},
                        r["mail_only"], r["signed_in_only"], r["no_data"])
            for r in table.iter_rows(named=True)]
