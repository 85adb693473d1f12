"""The rows of the report's candidates.csv / candidates.xlsx, which `candidates import` reads back.

Every `candidates list` field, plus who and what evidence, the evidence hash the decision will be
bound to, and empty `decision`, `note` and `snooze_until` columns for the asset manager.
"""

from __future__ import annotations

from typing import Any

import orjson
import polars as pl
from sqlalchemy import Text, cast
from sqlalchemy import select as sql_select

from license_analyzer.rules.review import LIST_FIELDS, ordered_rows
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store
from license_analyzer.store.models import Candidate

EVIDENCE_COLUMNS = ("bucket", "active_days_30", "active_days_60", "active_days_90",
                    "coverage_start", "coverage_days", "assigned_since", "read_only")
DECISION_COLUMNS = ("decision", "note", "snooze_until")
_EXTRA = ("display_name", "department", "also_matching", "status_reason", "snoozed_until",
          "evidence_hash", "evidence")


def candidate_export_rows(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """One dict per candidate, columns in a fixed order (the same for CSV and XLSX)."""
    table = table_of(Candidate)
    # the JSON columns as text, decoded with orjson: the driver's json.loads per row was most
    # of the export's time
    rows = ordered_rows(store, status, _EXTRA, {
        "also_matching": cast(table.c.also_matching, Text),
        "evidence": cast(table.c.evidence, Text)})
    out: list[dict[str, Any]] = []
    for row in rows:
        evidence = orjson.loads(row.pop("evidence") or "null") or {}
        hash_ = row.pop("evidence_hash")
        also = orjson.loads(row["also_matching"] or "null") or []
        snoozed = row["snoozed_until"]
        row |= {"also_matching": ",".join(also),
                "snoozed_until": snoozed.isoformat() if snoozed else None}
        row |= {f"evidence_{name}": evidence.get(name) for name in EVIDENCE_COLUMNS}
        row["evidence_hash"] = hash_
        row |= dict.fromkeys(DECISION_COLUMNS, "")
        out.append(row)
    return out


_TEXT = ("also_matching", "evidence", "last_activity", "snoozed_until")
_NUMBERS = {"days_inactive": pl.Int64, "monthly_saving": pl.Float64, "version": pl.Int64}
_EVIDENCE_NUMBERS = ("active_days_30", "active_days_60", "active_days_90", "coverage_days")


def candidate_export_frame(store: Store) -> pl.DataFrame:
    """candidate_export_rows() as one frame, the same columns in the same order, built by
    Polars (JSON picked apart by JSON path, not decoded per row in Python): the report's
    exports of 300,000 candidates."""
    table = table_of(Candidate)
    names = (*LIST_FIELDS, *_EXTRA)
    stmt = (sql_select(*(cast(table.c[n], Text) if n in _TEXT else table.c[n] for n in names))
            .order_by(table.c.monthly_saving.desc(), table.c.user_principal_name,
                      table.c.sku_part_number))
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).fetchall()  # one fetchall, not a fetch per row
    frame = pl.DataFrame(rows, orient="row", schema={
        n: _NUMBERS.get(n, pl.String) for n in names})
    return frame.select(
        *(n for n in LIST_FIELDS if n != "decided_by"),
        pl.when(pl.col("status").is_in(["proposed", "cancelled"])).then(None)
        .otherwise(pl.col("decided_by")).alias("decided_by"),
        "display_name", "department",
        pl.col("also_matching").str.json_decode(pl.List(pl.String)).list.join(",")
        .fill_null(""),
        "status_reason", "snoozed_until",
        *(_evidence_field(name) for name in EVIDENCE_COLUMNS),
        "evidence_hash",
        *(pl.lit("").alias(name) for name in DECISION_COLUMNS))


def _evidence_field(name: str) -> pl.Expr:
    value = pl.col("evidence").str.json_path_match(f"$.{name}")
    if name in _EVIDENCE_NUMBERS:
        value = value.cast(pl.Int64, strict=False)
    elif name == "read_only":
        value = pl.when(value == "true").then(True).when(value == "false").then(False)
    return value.alias(f"evidence_{name}")
