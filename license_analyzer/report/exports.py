"""The spreadsheet exports: candidates.csv, candidates.xlsx and usage.csv.

Every text cell is neutralized (a leading quote before = + - @ tab CR) so a tenant value can
never run as a formula in Excel or LibreOffice; in XLSX every text is also an inline string
(never a formula cell).
The `decision` and `note` columns are what `candidates import` reads back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from license_analyzer.report.atomic import atomic_path
from license_analyzer.report.safety import neutralize_cell
from license_analyzer.report.xlsx import write_sheet

USAGE_COLUMNS = (
    "profile", "sku_id", "sku_part_number", "product_name", "purchased", "warning", "assigned",
    "active", "inactive", "never_used", "in_grace", "no_data", "low_usage",
    "unit_price_monthly", "monthly_cost", "monthly_waste", "reducible_at_renewal",
    "next_renewal", "assignment_errors",
)


def _cell_text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return value


def columns_of(rows: Sequence[dict[str, Any]], default: Sequence[str]) -> list[str]:
    if not rows:
        return list(default)
    seen = dict.fromkeys(rows[0])
    for row in rows[1:50]:
        seen.update(dict.fromkeys(row))
    return list(seen)


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> None:
    # utf-8-sig: Excel reads the names of non-English tenants right only with the BOM
    with atomic_path(path) as tmp, tmp.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([neutralize_cell(_cell_text(row.get(c))) for c in columns])


def write_xlsx(path: Path, sheet: str, columns: Sequence[str],
               rows: Iterable[dict[str, Any]]) -> None:
    cells = ([_xlsx_value(row.get(c)) for c in columns] for row in rows)
    with atomic_path(path) as tmp:
        write_sheet(tmp, sheet, columns, cells)


def _xlsx_value(value: Any) -> Any:
    value = _cell_text(value)
    return neutralize_cell(value) if isinstance(value, str) else value
