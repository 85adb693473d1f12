"""The spreadsheet exports: candidates.csv, candidates.xlsx and usage.csv.

Every text cell is neutralized (a leading quote before = + - @ tab CR) so a tenant value can
never run as a formula in Excel or LibreOffice; in XLSX every text is also an inline string
(never a formula cell).
The `decision` and `note` columns are what `candidates import` reads back.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from license_analyzer.report.atomic import atomic_path
from license_analyzer.report.safety import neutralize_cell
from license_analyzer.report.xlsx import write_sheet, write_sheet_frame
from license_analyzer.rules.columnar import iso_text

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


Rows = Sequence[dict[str, Any]] | pl.DataFrame


def cell_frame(columns: Sequence[str], rows: Rows) -> pl.DataFrame | None:
    """The rows as the cells both exports write, column by column in Polars: `_cell_text`
    and `neutralize_cell` as expressions (numbers stay numbers, empty is null). None when a
    column holds what only the per-row path converts (mixed types, mappings)."""
    if isinstance(rows, pl.DataFrame):
        frame = rows
    else:
        try:
            frame = pl.DataFrame(list(rows), infer_schema_length=None)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            return None
    cells: list[pl.Expr] = []
    for name in columns:
        if name not in frame.columns:
            cells.append(pl.lit(None, dtype=pl.String).alias(name))
            continue
        dtype = frame.schema[name]
        column = pl.col(name)
        if dtype.is_numeric() or dtype == pl.Null:
            cells.append(column)
            continue
        if dtype == pl.String:
            text = column
        elif dtype == pl.Boolean:
            text = pl.when(column).then(pl.lit("true")).when(~column).then(pl.lit("false"))
        elif dtype == pl.Date or isinstance(dtype, pl.Datetime):
            text = iso_text(name, dtype)
        elif isinstance(dtype, pl.List) and dtype.inner in (pl.String, pl.Int64, pl.Null):
            text = column.list.eval(pl.element().cast(pl.String)).list.join(",")
        else:
            return None
        risky = text.str.contains(r"^[=+\-@\t\r]")
        cells.append(pl.when(text == "").then(None)
                     .when(risky).then(pl.lit("'") + text).otherwise(text).alias(name))
    return frame.select(cells)


def write_csv(path: Path, columns: Sequence[str], rows: Rows,
              cells: pl.DataFrame | None = None) -> None:
    """`cells`: cell_frame(columns, rows) when the caller has it already."""
    cells = cells if cells is not None else cell_frame(columns, rows)
    # utf-8-sig: Excel reads the names of non-English tenants right only with the BOM
    with atomic_path(path) as tmp:
        if cells is not None:  # Polars writes it (CRLF, quoted where needed, as csv.writer)
            cells.write_csv(tmp, include_bom=True, line_terminator="\r\n")
            return
        with tmp.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            for row in _dicts(rows):
                writer.writerow([neutralize_cell(_cell_text(row.get(c))) for c in columns])


def write_xlsx(path: Path, sheet: str, columns: Sequence[str], rows: Rows,
               cells: pl.DataFrame | None = None) -> None:
    cells = cells if cells is not None else cell_frame(columns, rows)
    with atomic_path(path) as tmp:
        if cells is not None:
            write_sheet_frame(tmp, sheet, cells)
            return
        write_sheet(tmp, sheet, columns, ([_xlsx_value(row.get(c)) for c in columns]
                                          for row in _dicts(rows)))


def _dicts(rows: Rows) -> Sequence[dict[str, Any]]:
    return rows.to_dicts() if isinstance(rows, pl.DataFrame) else rows


def _xlsx_value(value: Any) -> Any:
    value = _cell_text(value)
    return neutralize_cell(value) if isinstance(value, str) else value
