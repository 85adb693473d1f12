"""The record of an applied change: claimed, each Graph call logged as it goes, then finished.

Before any call the candidate is claimed (compare-and-set on its version: a rejection made a
moment earlier wins) and an AppliedChange is committed with the prior state and status
"started". Each step is committed as "attempted" before its call and "done" after it, "failed"
when Graph refused it (nothing happened), "unknown" when Graph did not say. So whatever stops
the run (an error, a kill), the record says which calls may have changed the tenant, and
`restore` undoes exactly those. A change ends:

    applied / pending_confirmation   every step done (group removals are confirmed later)
    partial                          some steps done or unknown, others not: restore undoes them
    failed                           nothing happened; the candidate stays approved
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from license_analyzer.rules.lifecycle import os_user, record
from license_analyzer.rules.versioning import compare_and_set
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import AppliedChange, Candidate, LicenseAssignment

BY = "license-analyzer apply"
PENDING_NOTE = "waiting for Microsoft to process the group removal"
HAPPENED = ("done", "unknown")  # steps restore must undo
RESTORABLE = ("applied", "pending_confirmation", "confirmed", "partial")


@dataclass
class Claim:
    change_id: int
    version: int  # the candidate's version after the claim


def planned_steps(candidate: Candidate, prior: dict[str, Any]) -> list[dict[str, Any]]:
    """The Graph calls of the change, in order (state "planned")."""
    if candidate.action == "downgrade":
        return [{"kind": "downgrade", "target_sku_id": prior.get("target_sku_id"),
                 "add_target": not prior.get("held_target"), "state": "planned"}]
    steps = [{"kind": "remove_direct", "state": "planned"}] if prior.get("direct") else []
    steps += [{"kind": "remove_group", "group_id": g, "state": "planned"}
              for g in prior.get("group_ids") or []]
    return steps


def legacy_steps(change: AppliedChange) -> list[dict[str, Any]]:
    """The change's steps; for one recorded before steps were, every path of its prior state,
    done (or, if that apply never finished, attempted: its outcome is asked from the tenant)."""
    if change.steps:
        return [dict(s) for s in change.steps]
    prior = change.prior or {}
    state = "attempted" if change.status == "started" else "done"
    if change.action == "downgrade":
        return [{"kind": "downgrade", "target_sku_id": prior.get("target_sku_id"),
                 "add_target": not prior.get("held_target"), "state": state}]
    steps = [{"kind": "remove_direct", "state": state}] if prior.get("direct") else []
    return steps + [{"kind": "remove_group", "group_id": g, "state": state}
                    for g in prior.get("group_ids") or []]


def claim(store: Store, candidate: Candidate, prior: dict[str, Any]) -> Claim | None:
    """Take the approved candidate for this apply (None: it changed since it was read)."""
    with store.session() as session:
        if not compare_and_set(session, candidate.id, candidate.version, not_in_flight=True,
                               updated_at=utcnow()):
            return None
        change = AppliedChange(candidate_id=candidate.id, profile=candidate.profile,
                               user_id=candidate.user_id, sku_id=candidate.sku_id,
                               action=candidate.action,
                               group_id=(prior.get("group_ids") or [None])[0], prior=prior,
                               steps=planned_steps(candidate, prior), status="started",
                               applied_at=utcnow(), monthly_saving=candidate.monthly_saving,
                               by=os_user())
        session.add(change)
        session.flush()
        assert change.id is not None
        return Claim(change.id, candidate.version + 1)


def mark(store: Store, change_id: int, index: int, state: str,
         error: str | None = None) -> None:
    """One step's new state, committed at once."""
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        assert change is not None
        steps = [dict(s) for s in change.steps or []]
        steps[index] |= {"state": state, "at": utcnow().isoformat()}
        if error is not None:
            steps[index]["error"] = error
        change.steps = steps


def set_steps(store: Store, change_id: int, steps: list[dict[str, Any]]) -> None:
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        assert change is not None
        change.steps = [dict(s) for s in steps]


def steps_of(store: Store, change_id: int) -> list[dict[str, Any]]:
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        assert change is not None
        return legacy_steps(change)


def outcome(steps: list[dict[str, Any]]) -> str:
    """applied (every step done), failed (none happened) or partial."""
    states = [s.get("state") for s in steps]
    if states and all(s == "done" for s in states):
        return "applied"
    if not any(s in HAPPENED for s in states):
        return "failed"
    return "partial"


def finish(store: Store, change_id: int, candidate_id: str, version: int, status: str,
           note: str | None = None) -> None:
    """The change's end state and the candidate's (applied, partial, or still approved)."""
    now = utcnow()
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        candidate = session.get(Candidate, candidate_id)
        assert change is not None and candidate is not None
        change.status = status
        if status == "applied":
            change.confirmed_at = now
        if status == "failed":
            compare_and_set(session, candidate_id, version, updated_at=now,
                            status_reason=f"apply failed: {note}")
            return
        kind = "partial" if status == "partial" else "applied"
        reason = note if status == "partial" else (
            PENDING_NOTE if status == "pending_confirmation" else None)
        compare_and_set(session, candidate_id, version, status=kind, status_reason=reason,
                        updated_at=now)
        record(session, candidate, kind, reason or "", now, by=BY)


def started_changes(store: Store) -> list[AppliedChange]:
    """Changes whose apply stopped before finishing them (the caller holds the job lock)."""
    with store.session() as session:
        return list(session.exec(select(AppliedChange).where(
            AppliedChange.status == "started").order_by(col(AppliedChange.id))))


def candidate_version(store: Store, candidate_id: str) -> int:
    with store.session() as session:
        version = session.exec(select(Candidate.version).where(
            Candidate.id == candidate_id)).one()
        return int(version)


def pending(store: Store) -> list[AppliedChange]:
    with store.session() as session:
        return list(session.exec(select(AppliedChange).where(
            AppliedChange.status == "pending_confirmation")))


def removed_groups(change: AppliedChange) -> list[str]:
    return [str(s["group_id"]).lower() for s in legacy_steps(change)
            if s.get("kind") == "remove_group" and s.get("state") in HAPPENED]


def confirm(store: Store, change_id: int | None) -> None:
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        if change is None or change.status != "pending_confirmation":
            return
        change.status, change.confirmed_at = "confirmed", utcnow()
        candidate = session.get(Candidate, change.candidate_id)
        if candidate is not None and candidate.status_reason == PENDING_NOTE:
            candidate.status_reason = None


def confirm_pending_in_store(store: Store) -> int:
    """Pending group removals whose inherited assignment the last collect no longer saw."""
    confirmed = []
    with store.session() as session:
        for change in session.exec(select(AppliedChange).where(
                AppliedChange.status == "pending_confirmation")):
            groups = removed_groups(change)
            still = session.exec(select(LicenseAssignment.id).where(
                LicenseAssignment.profile == change.profile,
                LicenseAssignment.user_id == change.user_id,
                LicenseAssignment.sku_id == change.sku_id,
                col(LicenseAssignment.via).in_(groups),
                col(LicenseAssignment.valid_to).is_(None))).first()
            if still is None:
                confirmed.append(change.id)
    for change_id in confirmed:
        confirm(store, change_id)
    return len(confirmed)
