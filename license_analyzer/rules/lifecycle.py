"""The life of a candidate across runs.

    proposed -> approved | rejected | snoozed -> applied (-> restored)
    approved  reopens (back to proposed) when its action, target or evidence changes
    rejected  comes back only when its evidence changes materially or after `idle_days` more
    snoozed   comes back after its date
    any open candidate whose row no rule matches any more is cancelled, with the reason

Every automatic transition writes a Decision row by "license-analyzer".
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import polars as pl
from sqlalchemy import Text, cast, func
from sqlalchemy import select as sql_select
from sqlmodel import Session, col

from license_analyzer.store.models import Candidate, Decision

OPEN = ("proposed", "approved", "rejected", "snoozed")
SYSTEM = "license-analyzer"
SHOWN_CHANGES = ("rule", "action", "target_sku_part_number", "assigned_via", "last_activity",
                 "last_activity_source")


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return None


def record(session: Session, candidate: Candidate, decision: str, note: str, at: datetime,
           by: str = SYSTEM, until: date | None = None, by_object_id: str | None = None) -> None:
    session.add(Decision(candidate_id=candidate.id, decision=decision, by=by,
                         by_object_id=by_object_id, os_user=os_user(),
                         at=at, note=note, until=until, action=candidate.action,
                         target=candidate.target_sku_part_number,
                         evidence_hash=candidate.evidence_hash))


@dataclass
class Stored:
    """The parts of a stored candidate the life cycle looks at."""

    id: str
    status: str
    evidence_hash: str
    decided_evidence_hash: str | None
    snoozed_until: date | None
    decided_as_of: str | None
    shown: dict[str, Any]  # the SHOWN_CHANGES fields as stored
    version: int = 0  # as read: propose writes back only while it is unchanged



@dataclass
class Outcome:
    """What merge() decided: the columns to write, and the automatic decision if any."""

    update: dict[str, Any]
    decision: str | None = None
    reason: str | None = None


def _what_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    changes = [f"{name} {old.get(name)!s} -> {new.get(name)!s}"
               for name in SHOWN_CHANGES if old.get(name) != new.get(name)]
    return "; ".join(changes) or "the evidence changed"


def last_decision_days(session: Session, candidate_ids: list[str]
                       ) -> dict[tuple[str, str], date]:
    """The day of each candidate's last decision of each kind: (id, kind) -> day (older
    stores kept no decided_as_of in the evidence)."""
    out: dict[tuple[str, str], date] = {}
    for start in range(0, len(candidate_ids), 5_000):
        chunk = candidate_ids[start:start + 5_000]
        stmt = (sql_select(col(Decision.candidate_id), col(Decision.decision),
                           func.max(col(Decision.at)))
                .where(col(Decision.candidate_id).in_(chunk))
                .group_by(col(Decision.candidate_id), col(Decision.decision)))
        for cid, kind, at in session.execute(stmt):
            if at is not None:
                out[(cid, kind)] = at.date()
    return out


def merge(stored: Stored, proposal: Mapping[str, Any], as_of: date, idle_days: int,
          decided_day: Callable[[str, str], date | None]) -> Outcome:
    """The stored candidate brought up to date with this run's proposal for the same row.

    `decided_day(id, kind)`: the day of its last decision of that kind (older stores kept no
    decided_as_of in the evidence).
    """
    update = {k: v for k, v in proposal.items() if k not in ("status", "proposed_at")}
    # `version` is the one read: the write matches only while it is still the stored one
    update |= {"id": stored.id, "status": stored.status, "snoozed_until": stored.snoozed_until,
               "version": stored.version}
    if stored.decided_as_of:
        update["evidence"] = {**proposal["evidence"], "decided_as_of": stored.decided_as_of}
    changed = stored.decided_evidence_hash != proposal["evidence_hash"]
    reason: str | None = None
    if stored.status == "cancelled":
        reason = f"matches {proposal['rule']} again"
    elif stored.status == "approved" and changed:
        reason = ("the approval was given for other evidence: "
                  + _what_changed(stored.shown, proposal))
    elif stored.status in ("rejected", "restored"):
        decided = (date.fromisoformat(stored.decided_as_of) if stored.decided_as_of
                   else decided_day(stored.id, stored.status))
        if changed:
            reason = f"the evidence changed since it was {stored.status}"
        elif decided is not None and (as_of - decided).days >= idle_days:
            reason = f"still idle {idle_days} days after it was {stored.status}"
    elif stored.status == "snoozed" and (stored.snoozed_until is None
                                         or as_of > stored.snoozed_until):
        reason = f"snooze ended on {stored.snoozed_until}"
        update["snoozed_until"] = None
    if reason is None:
        return Outcome(update)
    update |= {"status": "proposed", "status_reason": reason}
    return Outcome(update, "reopened", reason)


def decision_row(candidate: Mapping[str, Any], decision: str, note: str, at: datetime,
                 by: str = SYSTEM) -> dict[str, Any]:
    """A Decision row (as a dict, for bulk insert) for an automatic transition."""
    return {"candidate_id": candidate["id"], "decision": decision, "by": by,
            "os_user": os_user(), "at": at, "note": note, "until": None,
            "action": candidate.get("action"), "target": candidate.get("target_sku_part_number"),
            "evidence_hash": candidate.get("evidence_hash")}


# read back as stored, beside the key: what the life cycle and the change test look at
_STORED = {"id": pl.String, "status": pl.String, "version": pl.Int64,
           "decided_evidence_hash": pl.String, "snoozed_until": pl.Date,
           "user_principal_name": pl.String, "display_name": pl.String,
           "search_key": pl.String, "department": pl.String, "sku_part_number": pl.String,
           "product_name": pl.String, "rule": pl.String, "reason": pl.String,
           "action": pl.String, "target_sku_part_number": pl.String,
           "assigned_via": pl.String, "blocked_reason": pl.String,
           "monthly_saving": pl.Float64, "last_activity": pl.Date,
           "last_activity_source": pl.String, "days_inactive": pl.Int64,
           "evidence_hash": pl.String}
_DECIDED = ("approved", "rejected", "snoozed", "restored")


def _evidence_texts(session: Session, where: Any) -> pl.DataFrame:
    table = Candidate.__table__  # type: ignore[attr-defined]
    rows = session.execute(sql_select(table.c.id, cast(table.c.evidence, Text))
                           .where(where)).fetchall()
    return pl.DataFrame(rows, orient="row", schema={"id": pl.String, "_evidence": pl.String})


def stored_frame(session: Session, profiles: list[str]) -> pl.DataFrame:
    """Every candidate of `profiles` as a frame: the key, the columns in _STORED,
    `also_matching` as JSON text and `decided_as_of` (the day a decided candidate was decided
    on, kept in its evidence). The evidence itself, the widest column, is read only for the
    decided ones here (stored_evidence reads it for others that need it)."""
    table = Candidate.__table__  # type: ignore[attr-defined]
    key = {"profile": pl.String, "user_id": pl.String, "sku_id": pl.String}
    names = [*key, *_STORED]
    stmt = sql_select(*(table.c[n] for n in names), cast(table.c.also_matching, Text)
                      ).where(table.c.profile.in_(profiles))
    rows = session.execute(stmt).fetchall()
    schema = {**key, **_STORED, "also_matching": pl.String}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    decided = _evidence_texts(session, table.c.profile.in_(profiles)
                              & table.c.status.in_(_DECIDED)).select(
        "id", decided_as_of=pl.col("_evidence").str.json_path_match("$.decided_as_of"))
    return frame.join(decided, on="id", how="left", maintain_order="left")


def stored_evidence(session: Session, ids: list[str]) -> pl.DataFrame:
    """id, `_evidence_core_stored`: the stored evidence as JSON text without the analysis id
    that wrote it, of the candidates `ids`."""
    table = Candidate.__table__  # type: ignore[attr-defined]
    frames = [_evidence_texts(session, table.c.id.in_(ids[start:start + 5_000]))
              for start in range(0, len(ids), 5_000)]
    frame = pl.concat(frames) if frames else pl.DataFrame(
        schema={"id": pl.String, "_evidence": pl.String})
    return frame.select("id", _evidence_core_stored=pl.col("_evidence").str.replace(
        r',"analysis_id":\d+\}$', "}"))
