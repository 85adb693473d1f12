"""`candidates import FILE --by NAME`: decisions an asset manager wrote into the export.

A row is taken only if its `evidence_hash` still matches the candidate: a decision is bound to
the evidence it was given for, and evidence that changed since the export needs a new look.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from license_analyzer.errors import ConfigError
from license_analyzer.rules.lifecycle import record
from license_analyzer.rules.review import DECIDABLE, apply_decision
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Candidate

_WORDS = {"approve": "approved", "approved": "approved", "reject": "rejected",
          "rejected": "rejected", "snooze": "snoozed", "snoozed": "snoozed"}
_REQUIRED = ("id", "evidence_hash", "decision")


@dataclass
class ImportResult:
    taken: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    blank: int = 0

    def lines(self) -> list[str]:
        out = [f"taken: {line}" for line in self.taken]
        out += [f"refused: {line}" for line in self.refused]
        out.append(f"{len(self.taken)} decisions taken, {len(self.refused)} refused,"
                   f" {self.blank} rows without a decision.")
        return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    # the report neutralizes cells that a spreadsheet would run as formulas with a leading '
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def read_rows(file: Path) -> list[dict[str, str]]:
    """The rows of a CSV or XLSX export, keys lowercased, values as stripped text."""
    if not file.exists():
        raise ConfigError(f"No file at {file}; pass the edited candidates.csv or .xlsx.")
    if file.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        try:
            book = load_workbook(file, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a damaged file
            raise ConfigError(f"{file} is not a readable XLSX workbook; save it again from the"
                              " spreadsheet program.", detail=str(exc)) from None
        sheet = book["candidates"] if "candidates" in book.sheetnames else book.worksheets[0]
        values = [list(r) for r in sheet.iter_rows(values_only=True)]
        book.close()
        if not values:
            return []
        header = [_cell(h).lower() for h in values[0]]
        rows = [{h: _cell(v) for h, v in zip(header, r, strict=False) if h} for r in values[1:]]
    else:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            rows = [{(k or "").strip().lower(): _cell(v) for k, v in r.items()} for r in reader]
    if rows and any(name not in rows[0] for name in _REQUIRED):
        missing = [n for n in _REQUIRED if n not in rows[0]]
        raise ConfigError(f"{file} has no {', '.join(missing)} column; import the candidates"
                          " export of `report` with its decision and note columns filled in.")
    return [r for r in rows if any(r.values())]


def _until(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def import_file(store: Store, file: Path, by: str) -> ImportResult:
    if not by.strip():
        raise ConfigError("--by is empty; say who decides, e.g. --by \"Jane Doe\".")
    rows = read_rows(file)
    result = ImportResult()
    now = utcnow()
    ids = [r.get("id", "") for r in rows]
    with store.session() as session:
        found = {c.id: c for c in session.exec(select(Candidate).where(col(Candidate.id).in_(ids)))}
        for row in rows:
            word = row.get("decision", "").lower()
            cid = row.get("id", "")
            if not word:
                result.blank += 1
                continue
            who = f"{cid} ({row.get('user_principal_name', '')} {row.get('sku_part_number', '')})"
            decision = _WORDS.get(word)
            candidate = found.get(cid)
            until = _until(row.get("snooze_until", ""))
            problem = None
            if decision is None:
                problem = f"decision {word!r} is not approve, reject or snooze"
            elif candidate is None:
                problem = "no candidate has this id"
            elif candidate.evidence_hash != row.get("evidence_hash"):
                problem = (f"its evidence changed since the export (now: {candidate.reason});"
                           " review it again in a new export")
            elif candidate.status not in DECIDABLE:
                problem = f"it is {candidate.status} already"
            elif decision == "snoozed" and until is None:
                problem = "snooze needs a snooze_until date (YYYY-MM-DD)"
            if problem is not None or candidate is None or decision is None:
                result.refused.append(f"{who}: {problem}")
                continue
            apply_decision(candidate, decision, until, by)
            candidate.updated_at = now
            record(session, candidate, decision, row.get("note", ""), now, by=by,
                   until=until if decision == "snoozed" else None)
            result.taken.append(f"{who}: {decision}")
    return result
