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


Column = tuple[str, str]  # (field, header shown in the table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    return str(_plain(value))


def print_rows(rows: Sequence[dict[str, Any]], fmt: str,
               columns: Sequence[Column] | None = None, title: str | None = None) -> None:
    """`columns` picks what the table shows, with short headers; JSON and CSV always carry
    every field under its contract name."""
    if fmt == "json":
        sys.stdout.write(to_json(rows) + "\n")
        return
    if fmt == "csv":
        sys.stdout.write(to_csv(rows))
        return
    chosen = list(columns or [(k, k) for k in (rows[0].keys() if rows else [])])
    if len({r.get("profile") for r in rows}) <= 1:  # one profile: the column says nothing
        chosen = [c for c in chosen if c[0] != "profile"]
    table = Table(title=title, title_justify="left")
    for field, header in chosen:
        numeric = any(isinstance(r.get(field), int | float) for r in rows[:50])
        table.add_column(header, justify="right" if numeric else "left",
                         no_wrap=numeric, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(field)) for field, _ in chosen))
    # piped output is not squeezed into 80 columns: it is read in files and wide terminals
    console = Console() if sys.stdout.isatty() else Console(width=220)
    console.print(table)
    if not rows:
        console.print("(none)")
