"""Printing rows as a rich table, JSON or CSV: the three formats of every listing command.

Tenant text (user, group, SKU and department names) is hostile until shown safely: the table
gets it as plain rich Text, never as markup (a group named "[/]" would crash the table,
"[link=...]" would become a clickable link), control and direction characters are shown as
escapes rather than sent to the terminal, and CSV cells a spreadsheet would run as formulas get
the report's leading quote.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import orjson

from license_analyzer.report.safety import neutralize_cell
from license_analyzer.terminal import say, visible

if TYPE_CHECKING:
    from rich.text import Text

__all__ = ["print_rows", "say", "to_csv", "to_json", "visible"]

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
        writer.writerow({k: _csv_cell(row.get(k)) for k in names})
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    value = _plain(value)
    return neutralize_cell(visible(value)) if isinstance(value, str) else value


Column = tuple[str, str]  # (field, header shown in the table)


def _cell(value: Any) -> Text:
    """Plain text, never rich markup."""
    from rich.text import Text  # rich loads for tables only, not for JSON or CSV

    if value is None:
        return Text("")
    if isinstance(value, float):
        return Text(f"{value:,.2f}")
    return Text(visible(str(_plain(value))))


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
    from rich.console import Console
    from rich.table import Table

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
