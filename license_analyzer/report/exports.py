"""The spreadsheet exports: candidates.csv, candidates.xlsx and usage.csv.

Every text cell is neutralized (a leading quote before = + - @ tab CR) so a tenant value can
never run as a formula in Excel or LibreOffice; in XLSX such values are also written as strings.
The `decision` and `note` columns are what `candidates import` reads back.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill

from license_analyzer.report.atomic import atomic_path
from license_analyzer.report.safety import neutralize_cell

USAGE_COLUMNS = (
    "profile", "sku_id", "sku_part_number", "product_name", "purchased", "warning", "assigned",
    "active", "inactive", "never_used", "in_grace", "no_data", "low_usage",
    "unit_price_monthly", "monthly_cost", "monthly_waste", "reducible_at_renewal",
    "next_renewal",
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
    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    header = []
    for name in columns:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="E8EAF6")
        header.append(cell)
    ws.append(header)
    ws.freeze_panes = "A2"
    for row in rows:
        ws.append([_xlsx_cell(ws, row.get(c)) for c in columns])
    with atomic_path(path) as tmp:
        book.save(tmp)


def _xlsx_cell(ws: Any, value: Any) -> Any:
    value = _cell_text(value)
    if value == "":
        return None
    if isinstance(value, str):
        # an explicit string cell: openpyxl would otherwise store "=..." as a formula
        cell = WriteOnlyCell(ws, value=neutralize_cell(value))
        cell.data_type = "s"
        return cell
    return value
