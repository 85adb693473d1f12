"""Reviewing candidates: the list, decisions from the terminal, decisions from a spreadsheet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import select as sql_select
from sqlmodel import Session, col, select

from license_analyzer.errors import ConfigError, ExitCode
from license_analyzer.rules.lifecycle import record
from license_analyzer.rules.versioning import DecisionConflict, compare_and_set
from license_analyzer.rules.writes import table_of
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Candidate

STATUSES = ("proposed", "approved", "rejected", "snoozed", "applied", "partial", "cancelled",
            "restored")
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
        "version": c.version,
        "decided_by": shown_decider(c.status, c.decided_by),
    }


LIST_FIELDS = ("id", "profile", "user_id", "user_principal_name", "sku_id", "sku_part_number",
               "product_name", "rule", "reason", "last_activity", "last_activity_source",
               "days_inactive", "action", "target_sku_part_number", "assigned_via",
               "blocked_reason", "monthly_saving", "status", "version", "decided_by")
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


def decision_values(candidate: Candidate, decision: str, until: date | None,
                    now: datetime, by: str) -> dict[str, Any]:
    """The columns a decision sets on the candidate (written with compare_and_set)."""
    # the analysis day the decision was given on: "60 more idle days" counts from it
    evidence = dict(candidate.evidence or {})
    evidence["decided_as_of"] = evidence.get("as_of")
    return {"status": decision, "decided_evidence_hash": candidate.evidence_hash,
            "decided_by": by,
            "snoozed_until": until if decision == "snoozed" else None, "status_reason": None,
            "evidence": evidence, "updated_at": now}


def _moved(candidate: Candidate, session: Session) -> str:
    """Why a compare-and-set on this candidate failed, said as the reviewer should hear it."""
    fresh = session.exec(select(Candidate.status, Candidate.version)
                         .where(Candidate.id == candidate.id)).one()
    if fresh[1] == candidate.version and fresh[0] == candidate.status:
        return (f"candidate {candidate.id} is being carried out by `candidates apply` right now;"
                " wait for it to finish (use `candidates restore` if it should not have been)")
    return (f"candidate {candidate.id} was changed meanwhile (it is now {fresh[0]}); look at it"
            " again and decide on what it says now")


def decide(store: Store, ids: Sequence[str], decision: str, by: str, note: str | None,
           until: date | None = None, *,
           expected_versions: Mapping[str, int] | None = None,
           expected_evidence: Mapping[str, str] | None = None,
           by_object_id: str | None = None) -> list[str]:
    """Record one decision for every id; nothing is written if one id is unknown, not open,
    being carried out, or changed since its version in `expected_versions` (the version the
    reviewer saw, from `list_candidates`) or its evidence hash in `expected_evidence` (the
    evidence the reviewer saw: propose moves it without a new version while the status stays):
    then DecisionConflict names it. `by_object_id`: the signed-in reviewer's Entra object id.

    The check and the write are one compare-and-set per candidate in one transaction, so two
    reviewers deciding on the same candidate at once cannot both win: the second is told.
    """
    if decision not in DECISIONS:
        raise ConfigError(f"{decision!r} is not a decision; use approve, reject or snooze.")
    if not by.strip():
        raise ConfigError("--by is empty; say who decides, e.g. --by \"Jane Doe\".")
    if decision == "snoozed" and until is None:
        raise ConfigError("snooze needs --until YYYY-MM-DD: the day the candidates come back.")
    expected = dict(expected_versions or {})
    evidence = dict(expected_evidence or {})
    now = utcnow()
    lines: list[str] = []
    with store.session() as session:
        found = {c.id: c for c in session.exec(select(Candidate).where(col(Candidate.id).in_(
            list(ids))))}
        unknown = [i for i in ids if i not in found]
        if unknown:
            raise ConfigError(f"No candidate with id {', '.join(unknown)}; see `candidates list`"
                              " for the ids.")
        for cid in dict.fromkeys(ids):
            candidate = found[cid]
            if cid in expected and expected[cid] != candidate.version:
                raise DecisionConflict(
                    f"Candidate {cid} was changed since you saw it (it is now"
                    f" {candidate.status}); nothing was recorded: look at it again.", [cid])
            if cid in evidence and evidence[cid] != candidate.evidence_hash:
                raise DecisionConflict(
                    f"The evidence of candidate {cid} changed since you saw it (a new analysis"
                    f" says: {candidate.reason}); nothing was recorded: look at it again.",
                    [cid])
            if candidate.status not in DECIDABLE:
                raise ConfigError(f"Candidate {cid} is {candidate.status} and cannot be"
                                  f" {decision}; use `candidates restore` to undo an applied"
                                  " one.")
            if not compare_and_set(session, cid, candidate.version, not_in_flight=True,
                                   evidence_hash=evidence.get(cid),
                                   **decision_values(candidate, decision, until, now, by)):
                raise DecisionConflict(
                    f"Nothing was recorded: {_moved(candidate, session)}.", [cid])
            record(session, candidate, decision, note or "", now, by=by, until=until,
                   by_object_id=by_object_id)
            suffix = f" until {until.isoformat()}" if until else ""
            lines.append(f"{cid} {candidate.user_principal_name} {candidate.sku_part_number}:"
                         f" {decision}{suffix}")
    return lines


def import_decisions(store: Store, file: Path, by: str) -> int:
    """Take the decisions written into an exported candidates.csv / .xlsx; prints what it did."""
    from license_analyzer.output import say
    from license_analyzer.rules.importing import import_file

    result = import_file(store, file, by)
    for line in result.lines():
        say(line)
    # some rows refused: the rest is taken, and the exit code says it was not all
    return int(ExitCode.PARTIAL if result.refused else ExitCode.OK)
