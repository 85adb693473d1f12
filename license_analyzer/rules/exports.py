"""The rows of the report's candidates.csv / candidates.xlsx, which `candidates import` reads back.

Every `candidates list` field, plus who and what evidence, the evidence hash the decision will be
bound to, and empty `decision`, `note` and `snooze_until` columns for the asset manager.
"""

from __future__ import annotations

from typing import Any

from license_analyzer.rules.review import _ordered, candidate_row
from license_analyzer.store.db import Store

EVIDENCE_COLUMNS = ("bucket", "active_days_30", "active_days_60", "active_days_90",
                    "coverage_start", "coverage_days", "assigned_since", "read_only")
DECISION_COLUMNS = ("decision", "note", "snooze_until")


def candidate_export_rows(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    """One dict per candidate, columns in a fixed order (the same for CSV and XLSX)."""
    rows: list[dict[str, Any]] = []
    for c in _ordered(store, status):
        evidence = c.evidence or {}
        row = candidate_row(c)
        row |= {
            "display_name": c.display_name,
            "department": c.department,
            "also_matching": ",".join(c.also_matching or []),
            "status_reason": c.status_reason,
            "snoozed_until": c.snoozed_until.isoformat() if c.snoozed_until else None,
        }
        row |= {f"evidence_{name}": evidence.get(name) for name in EVIDENCE_COLUMNS}
        row["evidence_hash"] = c.evidence_hash
        row |= dict.fromkeys(DECISION_COLUMNS, "")
        rows.append(row)
    return rows
