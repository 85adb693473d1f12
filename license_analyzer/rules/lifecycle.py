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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from license_analyzer.store.models import Candidate, Decision

OPEN = ("proposed", "approved", "rejected", "snoozed")
SYSTEM = "license-analyzer"
_SHOWN_CHANGES = ("rule", "action", "target_sku_part_number", "assigned_via", "last_activity",
                  "last_activity_source")


def os_user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return None


@dataclass
class Transitions:
    new: int = 0
    updated: int = 0
    reopened: int = 0
    cancelled: int = 0
    kept: dict[str, int] = field(default_factory=dict)


def record(session: Session, candidate: Candidate, decision: str, note: str, at: datetime,
           by: str = SYSTEM, until: date | None = None) -> None:
    session.add(Decision(candidate_id=candidate.id, decision=decision, by=by, os_user=os_user(),
                         at=at, note=note, until=until, action=candidate.action,
                         target=candidate.target_sku_part_number,
                         evidence_hash=candidate.evidence_hash))


def _what_changed(old: Candidate, new: Mapping[str, Any]) -> str:
    changes = [f"{name} {getattr(old, name)!s} -> {new.get(name)!s}"
               for name in _SHOWN_CHANGES if getattr(old, name) != new.get(name)]
    return "; ".join(changes) or "the evidence changed"


def _last_decision_day(session: Session, candidate_id: str, kind: str) -> date | None:
    stmt = (select(Decision.at).where(Decision.candidate_id == candidate_id,
                                      Decision.decision == kind)
            .order_by(col(Decision.at).desc()).limit(1))
    at = session.exec(stmt).first()
    return at.date() if at else None


def merge(session: Session, existing: Candidate, proposal: Mapping[str, Any], as_of: date,
          now: datetime, idle_days: int, out: Transitions) -> None:
    """Bring a stored candidate up to date with this run's proposal for the same row."""
    status = existing.status
    what = _what_changed(existing, proposal)
    decided_as_of = (existing.evidence or {}).get("decided_as_of")
    for name, value in proposal.items():
        if name not in ("id", "status", "proposed_at"):
            setattr(existing, name, value)
    if decided_as_of:
        existing.evidence = {**existing.evidence, "decided_as_of": decided_as_of}
    changed = existing.decided_evidence_hash != proposal["evidence_hash"]
    if status == "cancelled":
        existing.status, existing.status_reason = "proposed", f"matches {proposal['rule']} again"
        record(session, existing, "reopened", existing.status_reason, now)
        out.reopened += 1
    elif status == "approved" and changed:
        reason = f"the approval was given for other evidence: {what}"
        existing.status, existing.status_reason = "proposed", reason
        record(session, existing, "reopened", reason, now)
        out.reopened += 1
    elif status in ("rejected", "restored"):
        decided = (date.fromisoformat(decided_as_of) if decided_as_of
                   else _last_decision_day(session, existing.id, status))
        aged = decided is not None and (as_of - decided).days >= idle_days
        if changed or aged:
            reason = ("the evidence changed since it was " + status if changed
                      else f"still idle {idle_days} days after it was {status}")
            existing.status, existing.status_reason = "proposed", reason
            record(session, existing, "reopened", reason, now)
            out.reopened += 1
    elif status == "snoozed" and (existing.snoozed_until is None
                                  or as_of > existing.snoozed_until):
        reason = f"snooze ended on {existing.snoozed_until}"
        existing.status, existing.status_reason = "proposed", reason
        existing.snoozed_until = None
        record(session, existing, "reopened", reason, now)
        out.reopened += 1
    out.updated += 1
    out.kept[existing.status] = out.kept.get(existing.status, 0) + 1


def cancel(session: Session, existing: Candidate, reason: str, now: datetime,
           out: Transitions) -> None:
    existing.status, existing.status_reason = "cancelled", reason
    existing.updated_at = now
    record(session, existing, "cancelled", reason, now)
    out.cancelled += 1


def open_candidates(session: Session, profiles: list[str]) -> dict[tuple[str, str, str],
                                                                     Candidate]:
    stmt = select(Candidate).where(col(Candidate.profile).in_(profiles))
    return {(c.profile, c.user_id, c.sku_id): c for c in session.exec(stmt)}

