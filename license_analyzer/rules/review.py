"""Reviewing candidates: the list, decisions from the terminal, decisions from a spreadsheet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, CursorResult, update
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from license_analyzer.errors import ConfigError, ExitCode
from license_analyzer.rules.lifecycle import record
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Candidate

STATUSES = ("proposed", "approved", "rejected", "snoozed", "applied", "cancelled", "restored")
DECISIONS = ("approved", "rejected", "snoozed")
# which statuses a reviewer may decide on (applied ones are undone with `restore`)
DECIDABLE = ("proposed", "approved", "rejected", "snoozed")


def candidate_row(c: Candidate) -> dict[str, Any]:
    """The CONTRACT.md fields of `candidates list --format json`, in order."""
    return {
        "id": c.id,
        "profile": c.profile,
        "user_id": c.user_id,
        "user_principal_name": c.user_principal_name,
        "sku_id": c.sku_id,
        "sku_part_number": c.sku_part_number,
        "product_name": c.product_name,
        "rule": c.rule,
        "reason": c.reason,
        "last_activity": c.last_activity.isoformat() if c.last_activity else None,
        "last_activity_source": c.last_activity_source,
        "days_inactive": c.days_inactive,
        "action": c.action,
        "target_sku_part_number": c.target_sku_part_number,
        "assigned_via": c.assigned_via,
        "blocked_reason": c.blocked_reason,
        "monthly_saving": c.monthly_saving,
        "status": c.status,
        "decided_by": shown_decider(c.status, c.decided_by),
    }


LIST_FIELDS = ("id", "profile", "user_id", "user_principal_name", "sku_id", "sku_part_number",
               "product_name", "rule", "reason", "last_activity", "last_activity_source",
               "days_inactive", "action", "target_sku_part_number", "assigned_via",
               "blocked_reason", "monthly_saving", "status", "decided_by")
# statuses no person's decision stands behind: open again (reopened), or cancelled by a run
_UNDECIDED = ("proposed", "cancelled")


def shown_decider(status: str, decided_by: str | None) -> str | None:
    """Who took the decision the candidate stands on, or None while nobody's decision does."""
    return None if status in _UNDECIDED else decided_by


def check_status(status: str | None) -> None:
    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status {status!r} is not a candidate status; use one of"
                          f" {', '.join(STATUSES)}.")


def ordered_rows(store: Store, status: str | None, extra: Sequence[str] = (),
                 computed: Mapping[str, ColumnElement[Any]] | None = None
                 ) -> list[dict[str, Any]]:
    """The candidates as plain dicts of LIST_FIELDS and `extra` columns, best saving first;
    `computed` replaces a column by an expression of it (a cast, say).

    One Core select of the named columns: loading ORM objects (evidence JSON and all) cost
    seconds per hundred thousand candidates.
    """
    check_status(status)
    table = table_of(Candidate)
    computed = dict(computed or {})
    names = (*LIST_FIELDS, *extra)
    stmt = sql_select(*(computed.get(n, table.c[n]) for n in names))
    if status is not None:
        stmt = stmt.where(table.c.status == status)
    stmt = stmt.order_by(table.c.monthly_saving.desc(),
                         table.c.user_principal_name, table.c.sku_part_number)
    with store.engine.connect() as conn:
        rows = [dict(zip(names, r, strict=True)) for r in conn.execute(stmt)]
    for row in rows:
        last = row["last_activity"]
        row["last_activity"] = last.isoformat() if last else None
        row["decided_by"] = shown_decider(row["status"], row["decided_by"])
    return rows


def list_candidates(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    return ordered_rows(store, status)


def apply_decision(candidate: Candidate, decision: str, until: date | None, by: str) -> None:
    candidate.status = decision
    candidate.decided_by = by
    candidate.decided_evidence_hash = candidate.evidence_hash
    candidate.snoozed_until = until if decision == "snoozed" else None
    candidate.status_reason = None
    # the analysis day the decision was given on: "60 more idle days" counts from it
    evidence = dict(candidate.evidence or {})
    evidence["decided_as_of"] = evidence.get("as_of")
    candidate.evidence = evidence


@dataclass(frozen=True)
class Shown:
    """What a reviewer saw of a candidate when deciding: the decision stands only if the
    candidate is still so (compare-and-set), else someone else decided or the evidence moved."""

    status: str
    evidence_hash: str


class StaleDecision(ConfigError):
    """Candidates changed since they were shown; nothing was written. `ids` names them."""

    def __init__(self, message: str, ids: Sequence[str]) -> None:
        super().__init__(message)
        self.ids = list(ids)


def _claim(session: Session, expected: Mapping[str, Shown], decision: str) -> None:
    """Move each candidate to `decision` only where it is still as shown, in the decision's
    transaction: the UPDATE's WHERE is what makes two reviewers at once safe (PostgreSQL
    re-checks it after waiting for the other's row lock; SQLite runs writers one at a time)."""
    table = table_of(Candidate)
    changed = []
    for cid, shown in expected.items():
        moved: CursorResult[Any] = session.connection().execute(
            update(table).where(table.c.id == cid, table.c.status == shown.status,
                                table.c.evidence_hash == shown.evidence_hash)
            .values(status=decision))
        if moved.rowcount != 1:
            changed.append(cid)
    if changed:
        session.rollback()
        raise StaleDecision(f"{', '.join(changed)} changed since it was shown (someone else"
                            " decided, or a new analysis changed its evidence); nothing was"
                            " recorded: look at it again and decide anew.", changed)


def decide(store: Store, ids: Sequence[str], decision: str, by: str, note: str | None,
           until: date | None = None, *, by_object_id: str | None = None,
           expected: Mapping[str, Shown] | None = None) -> list[str]:
    """Record one decision for every id; nothing is written if one id is unknown or not open,
    or (with `expected`) if one is no longer as the reviewer saw it."""
    if decision not in DECISIONS:
        raise ConfigError(f"{decision!r} is not a decision; use approve, reject or snooze.")
    if not by.strip():
        raise ConfigError("--by is empty; say who decides, e.g. --by \"Jane Doe\".")
    if decision == "snoozed" and until is None:
        raise ConfigError("snooze needs --until YYYY-MM-DD: the day the candidates come back.")
    now = utcnow()
    lines: list[str] = []
    with store.session() as session:
        known = set(session.exec(select(Candidate.id).where(col(Candidate.id).in_(list(ids)))))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ConfigError(f"No candidate with id {', '.join(unknown)}; see `candidates list`"
                              " for the ids.")
        if expected is not None:
            _claim(session, {cid: expected[cid] for cid in dict.fromkeys(ids)
                             if cid in expected}, decision)
        found = {c.id: c for c in session.exec(select(Candidate).where(col(Candidate.id).in_(
            list(ids))))}
        closed = [c for c in found.values() if c.status not in DECIDABLE]
        if closed:
            c = closed[0]
            raise ConfigError(f"Candidate {c.id} is {c.status} and cannot be {decision}; "
                              "use `candidates restore` to undo an applied one.")
        for cid in dict.fromkeys(ids):
            candidate = found[cid]
            apply_decision(candidate, decision, until, by)
            candidate.updated_at = now
            record(session, candidate, decision, note or "", now, by=by, until=until,
                   by_object_id=by_object_id)
            suffix = f" until {until.isoformat()}" if until else ""
            lines.append(f"{cid} {candidate.user_principal_name} {candidate.sku_part_number}:"
                         f" {decision}{suffix}")
    return lines


def import_decisions(store: Store, file: Path, by: str) -> int:
    """Take the decisions written into an exported candidates.csv / .xlsx; prints what it did."""
    from license_analyzer.rules.importing import import_file

    result = import_file(store, file, by)
    for line in result.lines():
        print(line)
    # some rows refused: the rest is taken, and the exit code says it was not all
    return int(ExitCode.PARTIAL if result.refused else ExitCode.OK)
