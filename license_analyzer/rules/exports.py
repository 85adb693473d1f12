"""The rows of the report's candidates.csv / candidates.xlsx, which `candidates import` reads back.

Every `candidates list` field, plus who and what evidence, the evidence hash the decision will be
bound to, and empty `decision`, `note` and `snooze_until` columns for the asset manager.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Text, cast

from license_analyzer.rules.review import ordered_rows
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
