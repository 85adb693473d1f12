"""Doctor's output: aligned text lines (a rich table on a terminal) or JSON."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from license_analyzer.output import to_json
from license_analyzer.terminal import visible

from .result import CheckResult, Status

_COLOURS = {Status.OK: "green", Status.WARNING: "yellow", Status.FAILED: "red",
            Status.SKIPPED: "dim"}
COLUMNS = ("profile", "status", "target", "check")


def _cells(result: CheckResult) -> dict[str, str]:
    """The redacted fields, with the check's label and message-then-fix joined."""
    row = result.as_row()
    row["check"] = result.check.replace("_", " ")
    shows_fix = row["fix"] and result.status in (Status.FAILED, Status.WARNING)
    row["says"] = f"{row['message']} -> {row['fix']}" if shows_fix else row["message"]
    return row


def text_lines(results: Sequence[CheckResult]) -> list[str]:
    rows = [_cells(r) for r in results]
    widths = {key: max((len(row[key]) for row in rows), default=0) for key in COLUMNS}
    return [visible("  ".join([*(row[key].ljust(widths[key]) for key in COLUMNS),
                               row["says"]]).rstrip())
            for row in rows]


def render(results: Sequence[CheckResult], fmt: str, stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    if fmt == "json":
        out.write(to_json([r.as_row() for r in results]) + "\n")
        return
    if not out.isatty():
        out.writelines(line + "\n" for line in text_lines(results))
        return
    table = Table(*COLUMNS, "message -> fix", header_style="bold")
    for result in results:
        row = _cells(result)
        # Text cells: a message with brackets must never be read as rich markup, and
        # discovered names (environments) are the tenant's text
        table.add_row(Text(visible(row["profile"])),
                      Text(row["status"], style=_COLOURS[result.status]),
                      Text(visible(row["target"])), Text(row["check"]),
                      Text(visible(row["says"])))
    Console(file=out, soft_wrap=True, highlight=False).print(table)
