"""`candidates import FILE --by NAME`: decisions an asset manager wrote into the export.

A row is taken only if its `evidence_hash` still matches the candidate (a decision is bound to
the evidence it was given for) and its `version` is still the candidate's (a decision made
after the export, by anyone, is never overruled by the older file). An id written twice with a
decision is refused: which one was meant cannot be known. What is printed names the user and
SKU as the database has them, not as the file says. The import holds the job lock and writes
each decision with compare-and-set, so nothing decided meanwhile is overwritten.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from license_analyzer.errors import ConfigError
from license_analyzer.rules.lifecycle import record
from license_analyzer.rules.review import DECIDABLE, decision_values
from license_analyzer.rules.versioning import compare_and_set
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.lock import JobLockHolder
from license_analyzer.store.models import Candidate

_WORDS = {"approve": "approved", "approved": "approved", "reject": "rejected",
          "rejected": "rejected", "snooze": "snoozed", "snoozed": "snoozed"}
_REQUIRED = ("id", "evidence_hash", "version", "decision")


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
                          " export of this version's `report` with its decision and note"
                          " columns filled in.")
    return [r for r in rows if any(r.values())]


def _until(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if text else None
    except ValueError:
        return None


def _version(text: str) -> int | None:
    """A spreadsheet may have turned 3 into 3.0."""
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def _problem(row: dict[str, str], candidate: Candidate | None, decision: str | None,
             word: str, repeated: int) -> str | None:
    """Why the row's decision is not taken (None: take it)."""
    if repeated > 1:
        return f"the id is written {repeated} times with a decision; keep one row per candidate"
    if decision is None:
        return f"decision {word!r} is not approve, reject or snooze"
    if candidate is None:
        return "no candidate has this id"
    if candidate.evidence_hash != row.get("evidence_hash"):
        return (f"its evidence changed since the export (now: {candidate.reason}); review it"
                " again in a new export")
    version = _version(row.get("version", ""))
    if version is None:
        return "its version cell is empty or not a number; take the row from a new export"
    if version != candidate.version:
        return (f"it was decided after this export was written (it is now {candidate.status});"
                " export again and decide on the new file")
    if candidate.status not in DECIDABLE:
        return f"it is {candidate.status} already"
    if decision == "snoozed" and _until(row.get("snooze_until", "")) is None:
        return "snooze needs a snooze_until date (YYYY-MM-DD)"
    return None


def import_file(store: Store, file: Path, by: str) -> ImportResult:
    """Take the file's decisions; holds the job lock while it writes."""
    if not by.strip():
        raise ConfigError("--by is empty; say who decides, e.g. --by \"Jane Doe\".")
    rows = read_rows(file)
    with JobLockHolder(store):
        return _take(store, rows, by)


def _take(store: Store, rows: list[dict[str, str]], by: str) -> ImportResult:
    result = ImportResult()
    now = utcnow()
    decided = [r for r in rows if r.get("decision", "")]
    result.blank = len(rows) - len(decided)
    times = Counter(r.get("id", "") for r in decided)
    with store.session() as session:
        found = {c.id: c for c in session.exec(select(Candidate).where(
            col(Candidate.id).in_(list(times))))}
        for row in decided:
            word = row.get("decision", "").lower()
            cid = row.get("id", "")
            candidate = found.get(cid)
            # the database's user and SKU: the file's cells may have been edited
            who = (f"{cid} ({candidate.user_principal_name} {candidate.sku_part_number})"
                   if candidate is not None else cid)
            decision = _WORDS.get(word)
            problem = _problem(row, candidate, decision, word, times[cid])
            if problem is None and candidate is not None and decision is not None:
                until = _until(row.get("snooze_until", "")) if decision == "snoozed" else None
                if compare_and_set(session, cid, candidate.version, not_in_flight=True,
                                   **decision_values(candidate, decision, until, now, by)):
                    record(session, candidate, decision, row.get("note", ""), now, by=by,
                           until=until)
                    result.taken.append(f"{who}: {decision}")
                    continue
                problem = "it was changed or is being applied at this moment; import again"
            result.refused.append(f"{who}: {problem}")
    return result
