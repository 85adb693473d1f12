"""`candidates apply` and `candidates restore`: carrying out approved candidates through Graph.

Safety, in order: nothing changes without --execute and [reclamation] enabled; the live
assignment and sign-in are re-read first and a candidate whose world changed is skipped;
protected users and groups are refused; at most max_per_run changes; the prior state is
recorded (AppliedChange) before each call so `restore` can undo it; the first permission
error stops the run with its fix (exit 3). Direct removals are confirmed at once; group
removals, which Microsoft processes asynchronously, on a later run (`confirm_pending`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlmodel import col, select

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.errors import AuthError, ConfigError, ExitCode, LicenseAnalyzerError
from license_analyzer.output import print_rows
from license_analyzer.redact import redact
from license_analyzer.rules import graph_ops
from license_analyzer.rules.lifecycle import os_user, record
from license_analyzer.rules.tables import family_sources
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import AppliedChange, Candidate, LicenseAssignment

GraphFor = Callable[[str], httpx.Client]  # profile name -> its Graph client
Echo = Callable[[str], None]
BY = "license-analyzer apply"
PENDING_NOTE = "waiting for Microsoft to process the group removal"


def _open_store(config: Config) -> Store:
    from license_analyzer.run import open_configured_store

    return open_configured_store(config)


class _Graphs:
    """One Connection per profile, opened on first use, closed at the end."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.connections: dict[str, Any] = {}

    def __call__(self, profile_name: str) -> httpx.Client:
        from license_analyzer.sources.http import connect

        if profile_name not in self.connections:
            from license_analyzer.store.sign_in import stored_sign_in

            profile = self._profile(profile_name)
            base = self.config.source_path.parent if self.config.source_path else None
            sign_in = (stored_sign_in(_open_store(self.config), profile)
                       if profile.auth == "delegated" else None)
            self.connections[profile_name] = connect(profile, base_dir=base, sign_in=sign_in,
                                                     graph_writes=True)
        client: httpx.Client = self.connections[profile_name].graph()
        return client

    def _profile(self, name: str) -> ProfileConfig:
        for profile in self.config.profiles:
            if profile.name == name:
                return profile
        raise ConfigError(f"Candidates of profile {name!r} cannot be carried out: the config has"
                          " no such profile any more; add it back or reject them.")

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def _protected(config: Config, candidate: Candidate, groups: Sequence[str]) -> str | None:
    users = {u.lower() for u in config.reclamation.protected_users}
    if candidate.user_principal_name.lower() in users or candidate.user_id in users:
        return "protected user ([reclamation] protected_users)"
    protected_groups = {g.lower() for g in config.reclamation.protected_groups}
    hit = [g for g in groups if g.lower() in protected_groups]
    if hit:
        return f"protected group {hit[0]} ([reclamation] protected_groups)"
    return None


def _approved(store: Store) -> list[Candidate]:
    stmt = (select(Candidate).where(Candidate.status == "approved")
            .order_by(col(Candidate.monthly_saving).desc(), col(Candidate.id)))
    with store.session() as session:
        return list(session.exec(stmt))


def _steps(candidate: Candidate) -> list[str]:
    evidence = candidate.evidence or {}
    steps = []
    if candidate.action == "downgrade":
        steps.append(f"add {candidate.target_sku_part_number}, remove {candidate.sku_part_number}")
    elif evidence.get("remove_direct"):
        steps.append(f"remove {candidate.sku_part_number}")
    steps += [f"take out of group {g}" for g in evidence.get("remove_groups") or []]
    return steps


def plan_rows(config: Config, store: Store) -> list[dict[str, Any]]:
    """What `apply --execute` would try, without asking Graph."""
    rows = []
    budget = config.reclamation.max_per_run
    for candidate in _approved(store):
        groups = (candidate.evidence or {}).get("remove_groups") or []
        skip = candidate.blocked_reason or _protected(config, candidate, groups)
        if skip is None and budget <= 0:
            skip = "beyond max_per_run: next run"
        elif skip is None:
            budget -= 1
        rows.append({"id": candidate.id, "user_principal_name": candidate.user_principal_name,
                     "sku_part_number": candidate.sku_part_number, "action": candidate.action,
                     "steps": "; ".join(_steps(candidate)),
                     "monthly_saving": candidate.monthly_saving,
                     "plan": f"skip: {skip}" if skip else "apply"})
    return rows


def _counts_graph_sign_in(candidate: Candidate) -> bool:
    """Graph's last sign-in is evidence only for products whose activity it measures."""
    family = (candidate.evidence or {}).get("family") or "other"
    return "entra_signin" in family_sources().get(family, ["entra_signin"])


def _changed(candidate: Candidate, live: graph_ops.LiveAssignment | None) -> str | None:
    """Why the candidate no longer fits the live tenant (None: go ahead)."""
    if live is None:
        return "the user no longer exists"
    if not live.held:
        return "the license is already gone"
    if set(live.paths.split(",")) != set(candidate.assigned_via.lower().split(",")):
        return f"the assignment changed (now {live.paths or 'none'}, was {candidate.assigned_via})"
    signed_in = live.last_successful_sign_in
    if signed_in is not None and _counts_graph_sign_in(candidate):
        last = candidate.last_activity
        if last is None or signed_in.date() > last:
            return f"the user signed in on {signed_in.date().isoformat()}, after the evidence"
    if candidate.action == "downgrade" and not (candidate.evidence or {}).get("target_sku_id"):
        return "the downgrade target is not known"
    return None


def _carry_out(graph: httpx.Client, candidate: Candidate, live: graph_ops.LiveAssignment) -> bool:
    """Make the calls; True when a group removal is involved (confirmed later)."""
    evidence = candidate.evidence or {}
    what = f"Carrying out {candidate.id} ({candidate.user_principal_name},"\
           f" {candidate.sku_part_number})"
    if candidate.action == "downgrade":
        target = str(evidence["target_sku_id"])
        add = [] if target in live.holds else [{"skuId": target, "disabledPlans": []}]
        graph_ops.assign_license(graph, candidate.user_id, add, [candidate.sku_id], what)
        return False
    if live.direct:
        graph_ops.assign_license(graph, candidate.user_id, [], [candidate.sku_id], what)
    for group_id in live.groups:
        graph_ops.remove_member(graph, group_id, candidate.user_id, what)
    return bool(live.groups)


def execute_apply(config: Config, store: Store, graph_for: GraphFor, echo: Echo) -> int:
    confirmed = confirm_live(store, graph_for)
    if confirmed:
        echo(f"{confirmed} group removals confirmed.")
    done = skipped = failed = 0
    budget = config.reclamation.max_per_run
    for candidate in _approved(store):
        if done >= budget:
            echo(f"Stopped at max_per_run = {budget}; run apply again for the rest.")
            break
        label = f"{candidate.id} {candidate.user_principal_name} {candidate.sku_part_number}"
        groups = (candidate.evidence or {}).get("remove_groups") or []
        refusal = candidate.blocked_reason or _protected(config, candidate, groups)
        if refusal is not None:
            echo(f"skip {label}: {refusal}")
            skipped += 1
            continue
        graph = graph_for(candidate.profile)
        live = graph_ops.read_user(graph, candidate.user_id, candidate.sku_id)
        refusal = _changed(candidate, live) or (
            _protected(config, candidate, live.groups) if live else None)
        if live is not None and not live.held and _finish_started(store, candidate.id):
            echo(f"applied {label}: an earlier apply's change took effect")
            done += 1
            continue
        if refusal is not None or live is None:
            echo(f"skip {label}: {refusal}")
            skipped += 1
            continue
        change_id = _record_prior(store, candidate, live)
        try:
            pending = _carry_out(graph, candidate, live)
        except LicenseAnalyzerError as exc:
            _finish(store, change_id, candidate.id, "failed", exc.message)
            if isinstance(exc, AuthError):
                echo(redact(f"error: {exc.message}"))
                return int(ExitCode.AUTH)
            echo(redact(f"failed {label}: {exc.message}"))
            failed += 1
            continue
        _finish(store, change_id, candidate.id, "pending_confirmation" if pending else "applied")
        done += 1
        echo(f"applied {label}: {candidate.action}"
             + (f" ({PENDING_NOTE})" if pending else ""))
    echo(f"{done} applied, {skipped} skipped, {failed} failed.")
    return int(ExitCode.PARTIAL if failed else ExitCode.OK)


def _record_prior(store: Store, candidate: Candidate, live: graph_ops.LiveAssignment) -> int:
    """Written and committed before any call, so a crash still leaves what restore needs."""
    evidence = candidate.evidence or {}
    prior = {"sku_id": candidate.sku_id, "sku_part_number": candidate.sku_part_number,
             "disabled_plans": list(live.disabled_plans), "direct": live.direct,
             "group_ids": list(live.groups), "target_sku_id": evidence.get("target_sku_id"),
             "held_target": bool(evidence.get("target_sku_id")) and str(
                 evidence.get("target_sku_id")) in live.holds}
    with store.session() as session:
        change = AppliedChange(candidate_id=candidate.id, profile=candidate.profile,
                               user_id=candidate.user_id, sku_id=candidate.sku_id,
                               action=candidate.action,
                               group_id=live.groups[0] if live.groups else None, prior=prior,
                               status="started", applied_at=utcnow(),
                               monthly_saving=candidate.monthly_saving, by=os_user())
        session.add(change)
        session.flush()
        assert change.id is not None
        return change.id


def _finish_started(store: Store, candidate_id: str) -> bool:
    """A change an interrupted apply recorded but never finished, now done in the tenant."""
    with store.session() as session:
        change = session.exec(select(AppliedChange.id).where(
            AppliedChange.candidate_id == candidate_id, AppliedChange.status == "started")
            .order_by(col(AppliedChange.id).desc())).first()
    if change is None:
        return False
    _finish(store, change, candidate_id, "applied")
    return True


def _finish(store: Store, change_id: int, candidate_id: str, status: str,
            note: str | None = None) -> None:
    now = utcnow()
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        candidate = session.get(Candidate, candidate_id)
        assert change is not None and candidate is not None
        change.status = status
        if status == "applied":
            change.confirmed_at = now
        if status == "failed":
            candidate.status_reason = f"apply failed: {note}"
            return
        candidate.status = "applied"
        candidate.status_reason = PENDING_NOTE if status == "pending_confirmation" else None
        candidate.updated_at = now
        record(session, candidate, "applied", candidate.status_reason or "", now, by=BY)


def confirm_live(store: Store, graph_for: GraphFor) -> int:
    """Pending group removals Graph now shows done become confirmed."""
    with store.session() as session:
        pending = list(session.exec(select(AppliedChange).where(
            AppliedChange.status == "pending_confirmation")))
    confirmed = 0
    for change in pending:
        live = graph_ops.read_user(graph_for(change.profile), change.user_id, change.sku_id)
        if live is None or not set(change.prior.get("group_ids") or []) & set(live.groups):
            _confirm(store, change.id)
            confirmed += 1
    return confirmed


def _confirm(store: Store, change_id: int | None) -> None:
    with store.session() as session:
        change = session.get(AppliedChange, change_id)
        if change is None:
            return
        change.status, change.confirmed_at = "confirmed", utcnow()
        candidate = session.get(Candidate, change.candidate_id)
        if candidate is not None and candidate.status_reason == PENDING_NOTE:
            candidate.status_reason = None


def confirm_pending(config: Config, store: Store) -> int:
    """After collect: pending group removals whose inherited assignment is gone are confirmed.

    run.py calls this after collect; it reads the store only (no Graph call).
    """
    with store.session() as session:
        pending = list(session.exec(select(AppliedChange).where(
            AppliedChange.status == "pending_confirmation")))
        confirmed = []
        for change in pending:
            groups = [g.lower() for g in change.prior.get("group_ids") or []]
            still = session.exec(select(LicenseAssignment.id).where(
                LicenseAssignment.profile == change.profile,
                LicenseAssignment.user_id == change.user_id,
                LicenseAssignment.sku_id == change.sku_id,
                col(LicenseAssignment.via).in_(groups),
                col(LicenseAssignment.valid_to).is_(None))).first()
            if still is None:
                confirmed.append(change.id)
    for change_id in confirmed:
        _confirm(store, change_id)
    return len(confirmed)


def apply_candidates(config: Config, execute: bool) -> int:
    """`candidates apply [--execute]`: the plan as a table, or carry it out."""
    if execute and not config.reclamation.enabled:
        raise ConfigError("apply --execute is switched off: set [reclamation] enabled = true in"
                          " the config to let license-analyzer change licenses.")
    store = _open_store(config)
    graphs = _Graphs(config)
    try:
        if not execute:
            rows = plan_rows(config, store)
            print_rows(rows, "table", columns=[
                ("id", "id"), ("user_principal_name", "user"), ("sku_part_number", "SKU"),
                ("action", "action"), ("steps", "steps"), ("monthly_saving", "saving/mo"),
                ("plan", "plan")],
                       title="Reclamation plan (nothing changed; add --execute to carry it out)")
            return int(ExitCode.OK)
        return execute_apply(config, store, graphs, print)
    finally:
        graphs.close()
        store.dispose()


def _restore_one(graph: httpx.Client, change: AppliedChange) -> None:
    prior = change.prior or {}
    what = f"Restoring {change.candidate_id}"
    plans = list(prior.get("disabled_plans") or [])
    if change.action == "downgrade":
        target = prior.get("target_sku_id")
        remove = [str(target)] if target and not prior.get("held_target") else []
        graph_ops.assign_license(graph, change.user_id,
                                 [{"skuId": change.sku_id, "disabledPlans": plans}], remove, what)
        return
    if prior.get("direct"):
        graph_ops.assign_license(graph, change.user_id,
                                 [{"skuId": change.sku_id, "disabledPlans": plans}], [], what)
    for group_id in prior.get("group_ids") or []:
        graph_ops.add_member(graph, str(group_id), change.user_id, what)


def execute_restore(store: Store, ids: Sequence[str], graph_for: GraphFor, echo: Echo) -> int:
    with store.session() as session:
        changes: dict[str, AppliedChange] = {}
        for cid in ids:
            change = session.exec(
                select(AppliedChange).where(
                    AppliedChange.candidate_id == cid,
                    col(AppliedChange.status).in_(["applied", "pending_confirmation",
                                                   "confirmed"]))
                .order_by(col(AppliedChange.id).desc())).first()
            if change is None:
                raise ConfigError(f"Candidate {cid} has no applied change to restore; see"
                                  " `candidates list --status applied`.")
            changes[cid] = change
    for cid, change in changes.items():
        try:
            _restore_one(graph_for(change.profile), change)
        except LicenseAnalyzerError as exc:
            if "available licenses" in (exc.detail or ""):
                echo(f"error: restoring {cid} needs a free {change.prior.get('sku_part_number')}"
                     " seat and the subscription has none; free or buy one, then run restore"
                     " again.")
            else:
                echo(redact(f"error: {exc.message}"))
            return int(exc.exit_code)
        now = utcnow()
        with store.session() as session:
            stored = session.get(AppliedChange, change.id)
            candidate = session.get(Candidate, cid)
            assert stored is not None
            stored.status, stored.restored_at = "restored", now
            if candidate is not None:
                candidate.status, candidate.status_reason = "restored", "restored by an operator"
                candidate.updated_at = now
                record(session, candidate, "restored", "", now, by=os_user() or "operator")
        echo(f"restored {cid}")
    return int(ExitCode.OK)


def restore_candidates(config: Config, ids: Sequence[str]) -> int:
    store = _open_store(config)
    graphs = _Graphs(config)
    try:
        return execute_restore(store, ids, graphs, print)
    finally:
        graphs.close()
        store.dispose()

