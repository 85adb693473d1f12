"""Printing rows as a rich table, JSON or CSV: the three formats of every listing command."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def to_json(rows: Sequence[dict[str, Any]]) -> str:
    return orjson.dumps([{k: _plain(v) for k, v in r.items()} for r in rows],
                        option=orjson.OPT_INDENT_2).decode()


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    buffer = io.StringIO()
    names = list(columns or (rows[0].keys() if rows else []))
    writer = csv.DictWriter(buffer, fieldnames=names, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _plain(row.get(k)) for k in names})
    return buffer.getvalue()


def print_rows(rows: Sequence[dict[str, Any]], fmt: str, columns: Sequence[str] | None = None,
               title: str | None = None) -> None:
    """`columns` picks what the table shows; JSON and CSV always carry every field."""
    if fmt == "json":
        sys.stdout.write(to_json(rows) + "\n")
        return
    if fmt == "csv":
        sys.stdout.write(to_csv(rows))
        return
    table = Table(title=title)
    names = list(columns or (rows[0].keys() if rows else []))
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*("" if row.get(n) is None else str(_plain(row.get(n))) for n in names))
    Console(soft_wrap=True).print(table)
