"""`candidates apply`: carrying out approved candidates through Graph, one at a time.

Safety, in order: nothing changes without --execute and [reclamation] enabled; the run holds
the job lock (no second apply, restore, import or daily job at once); changes an earlier apply
left unfinished are settled first; the approved list is re-read before each candidate, so a
rejection made during the run is honoured; each candidate passes the checks of live_checks.py
(offline, then against the tenant read right now) or is skipped with its reason; it is claimed
with compare-and-set, and every Graph call is recorded as it goes (change_log.py) so a partial
failure can be restored exactly; at most max_per_run changes are attempted, failed and
unanswered ones included; the first permission error stops the run with its fix (exit 3).
Direct removals are confirmed by reading the user again; group removals, which Microsoft
processes asynchronously, on a later run (`confirm_pending`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.errors import AuthError, ConfigError, ExitCode, LicenseAnalyzerError
from license_analyzer.output import print_rows, say
from license_analyzer.redact import redact
from license_analyzer.rules import change_log, graph_ops, live_checks
from license_analyzer.sources.http import Connection
from license_analyzer.store.db import Store
from license_analyzer.store.lock import JobLockHolder
from license_analyzer.store.models import Candidate, SkuState
from license_analyzer.store.open import open_configured_store

ConnectionFor = Callable[[str], Connection]  # profile name -> its connection
Echo = Callable[[str], None]
PENDING_NOTE = change_log.PENDING_NOTE


def today_of(config: Config) -> date:
    """[analysis] as_of fixes "today" for every day count, the evidence's age included."""
    from license_analyzer.run import resolve_as_of

    return resolve_as_of(config, None)


class Connections:
    """One Connection per profile, opened on first use, closed at the end."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.connections: dict[str, Connection] = {}

    def __call__(self, profile_name: str) -> Connection:
        from license_analyzer.sources.http import connect

        if profile_name not in self.connections:
            from license_analyzer.store.sign_in import stored_sign_in

            profile = self._profile(profile_name)
            base = self.config.source_path.parent if self.config.source_path else None
            sign_in = (stored_sign_in(open_configured_store(self.config), profile)
                       if profile.auth == "delegated" else None)
            self.connections[profile_name] = connect(profile, base_dir=base, sign_in=sign_in,
                                                     graph_writes=True)
        return self.connections[profile_name]

    def _profile(self, name: str) -> ProfileConfig:
        for profile in self.config.profiles:
            if profile.name == name:
                return profile
        raise ConfigError(f"Candidates of profile {name!r} cannot be carried out: the config has"
                          " no such profile any more; add it back or reject them.")

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()


def _next_approved(store: Store, after: Candidate | None) -> Candidate | None:
    """The next approved candidate, best saving first, after the one just handled: read again
    before each candidate, so one rejected meanwhile is not carried out."""
    stmt = select(Candidate).where(Candidate.status == "approved")
    if after is not None:
        stmt = stmt.where(or_(col(Candidate.monthly_saving) < after.monthly_saving,
                              and_(col(Candidate.monthly_saving) == after.monthly_saving,
                                   col(Candidate.id) > after.id)))
    stmt = stmt.order_by(col(Candidate.monthly_saving).desc(), col(Candidate.id)).limit(1)
    with store.session() as session:
        return session.exec(stmt).first()


def _steps_text(candidate: Candidate) -> str:
    evidence = candidate.evidence or {}
    steps = []
    if candidate.action == "downgrade":
        steps.append(f"add {candidate.target_sku_part_number}, remove {candidate.sku_part_number}")
    elif evidence.get("remove_direct"):
        steps.append(f"remove {candidate.sku_part_number}")
    steps += [f"take out of group {g}" for g in evidence.get("remove_groups") or []]
    return "; ".join(steps)


def plan_rows(config: Config, store: Store, *, today: date | None = None) -> list[dict[str, Any]]:
    """What `apply --execute` would try, without asking Graph: one row per approved candidate,
    best saving first, `plan` "apply" or "skip: <why>" (the checks that need no Graph call;
    the live ones happen at apply time)."""
    day = today or today_of(config)
    rows = []
    budget = config.reclamation.max_per_run
    with store.session() as session:
        approved = list(session.exec(select(Candidate).where(Candidate.status == "approved")
                                     .order_by(col(Candidate.monthly_saving).desc(),
                                               col(Candidate.id))))
    for candidate in approved:
        skip = live_checks.offline_refusal(config, store, candidate, day)
        if skip is None and budget <= 0:
            skip = "beyond max_per_run: next run"
        elif skip is None:
            budget -= 1
        rows.append({"id": candidate.id, "user_principal_name": candidate.user_principal_name,
                     "sku_part_number": candidate.sku_part_number, "action": candidate.action,
                     "steps": _steps_text(candidate), "monthly_saving": candidate.monthly_saving,
                     "version": candidate.version,
                     "plan": f"skip: {skip}" if skip else "apply"})
    return rows


def _part_names(store: Store, profile: str) -> dict[str, str]:
    with store.session() as session:
        return {s.sku_id.lower(): s.sku_part_number for s in session.exec(
            select(SkuState).where(SkuState.profile == profile))}


class _Run:
    """One `apply --execute`: its counts and how each candidate went."""

    def __init__(self, config: Config, store: Store, connection_for: ConnectionFor,
                 echo: Echo, today: date) -> None:
        self.config, self.store, self.connection_for = config, store, connection_for
        self.echo, self.today = echo, today
        self.attempted = self.applied = self.skipped = self.failed = self.partial = 0

    def settle_interrupted(self) -> None:
        """Changes a killed apply left "started": find out from the tenant what happened."""
        for change in change_log.started_changes(self.store):
            assert change.id is not None
            connection = self.connection_for(change.profile)
            steps = _settle(connection, change.user_id, change.sku_id,
                            change_log.legacy_steps(change))
            change_log.set_steps(self.store, change.id, steps)
            status = change_log.outcome(steps)
            if status == "applied" and any(s["kind"] == "remove_group" for s in steps):
                status = "pending_confirmation"
            note = {"partial": "an interrupted apply made part of the change; `candidates"
                               " restore` undoes what it made",
                    "failed": "an interrupted apply made no change"}.get(status)
            version = change_log.candidate_version(self.store, change.candidate_id)
            change_log.finish(self.store, change.id, change.candidate_id, version, status, note)
            if status != "failed":
                self.echo(f"{status} {change.candidate_id}: an earlier apply's change took"
                          f" effect{' in part' if status == 'partial' else ''}")

    def run(self) -> int:
        self.settle_interrupted()
        confirmed = confirm_live(self.store, self.connection_for)
        if confirmed:
            self.echo(f"{confirmed} group removals confirmed.")
        budget = self.config.reclamation.max_per_run
        candidate = None
        while (candidate := _next_approved(self.store, candidate)) is not None:
            if self.attempted >= budget:
                self.echo(f"Stopped at max_per_run = {budget}; run apply again for the rest.")
                break
            code = self.one(candidate)
            if code is not None:
                return code
        self.echo(f"{self.applied} applied, {self.skipped} skipped, {self.failed} failed,"
                  f" {self.partial} partly applied.")
        return int(ExitCode.PARTIAL if self.failed or self.partial else ExitCode.OK)

    def skip(self, label: str, why: str) -> None:
        self.echo(f"skip {label}: {why}")
        self.skipped += 1

    def one(self, candidate: Candidate) -> int | None:
        """Check, claim and carry out one candidate; an exit code stops the run."""
        label = f"{candidate.id} {candidate.user_principal_name} {candidate.sku_part_number}"
        refusal = live_checks.offline_refusal(self.config, self.store, candidate, self.today)
        if refusal is not None:
            self.skip(label, refusal)
            return None
        connection = self.connection_for(candidate.profile)
        try:
            live = live_checks.read_live(connection, candidate)
            refusal = live_checks.tenant_refusal(self.config, candidate, live, _part_names(
                self.store, candidate.profile))
            if refusal is None and live is not None:
                refusal = live_checks.activity_refusal(connection, self.store, candidate, live)
        except AuthError as exc:
            self.echo(redact(f"error: {exc.message}"))
            return int(ExitCode.AUTH)
        except LicenseAnalyzerError as exc:
            refusal = f"the tenant could not be read again ({exc.message})"
        if refusal is not None or live is None:
            self.skip(label, refusal or "the user no longer exists")
            return None
        claimed = change_log.claim(self.store, candidate, live_checks.prior_state(candidate, live))
        if claimed is None:
            self.skip(label, "it was changed while apply looked at it; it is read again next run")
            return None
        self.attempted += 1
        return self.carry_out(connection, candidate, claimed, label)

    def carry_out(self, connection: Connection, candidate: Candidate, claimed: change_log.Claim,
                  label: str) -> int | None:
        steps = change_log.steps_of(self.store, claimed.change_id)
        stop: LicenseAnalyzerError | None = None
        for index, step in enumerate(steps):
            change_log.mark(self.store, claimed.change_id, index, "attempted")
            try:
                _do(connection, candidate, step)
            except graph_ops.MaybeDone as exc:
                state = _settle(connection, candidate.user_id, candidate.sku_id,
                                [{**step, "state": "unknown"}])[0]["state"]
                change_log.mark(self.store, claimed.change_id, index, state, exc.message)
                if state != "done":
                    stop = exc
                    break
                continue
            except LicenseAnalyzerError as exc:
                change_log.mark(self.store, claimed.change_id, index, "failed", exc.message)
                stop = exc
                break
            change_log.mark(self.store, claimed.change_id, index, "done")
        steps = change_log.steps_of(self.store, claimed.change_id)
        status = change_log.outcome(steps)
        note = redact(stop.message) if stop is not None else None
        if status == "applied":
            status, note = self.confirmation(connection, candidate, steps)
        change_log.finish(self.store, claimed.change_id, candidate.id, claimed.version, status,
                          note)
        if status == "failed":
            self.failed += 1
            self.echo(f"failed {label}: {note}")
        elif status == "partial":
            self.partial += 1
            self.echo(f"partly applied {label}: {note}; `candidates restore {candidate.id}`"
                      " undoes the steps that were made")
        else:
            self.applied += 1
            self.echo(f"applied {label}: {candidate.action}"
                      + (f" ({note})" if note else ""))
        if isinstance(stop, AuthError):
            self.echo("Stopped at this permission error: fix it, then run apply again.")
            return int(ExitCode.AUTH)
        return None

    def confirmation(self, connection: Connection, candidate: Candidate,
                     steps: list[dict[str, Any]]) -> tuple[str, str | None]:
        """Read the user again: a direct license must be gone now; group removals show later."""
        groups = any(s["kind"] == "remove_group" for s in steps)
        try:
            live = graph_ops.read_user(connection.graph(), candidate.user_id, candidate.sku_id)
        except LicenseAnalyzerError as exc:
            return "pending_confirmation", redact(f"not confirmed yet: {exc.message}")
        if live is not None and live.direct:
            return "pending_confirmation", "Graph still shows the direct license; confirmed later"
        return ("pending_confirmation", PENDING_NOTE) if groups else ("applied", None)


def _do(connection: Connection, candidate: Candidate, step: dict[str, Any]) -> None:
    graph = connection.graph()
    what = f"Carrying out {candidate.id} ({candidate.user_principal_name},"\
           f" {candidate.sku_part_number})"
    if step["kind"] == "downgrade":
        add = [{"skuId": str(step["target_sku_id"]), "disabledPlans": []}] \
            if step.get("add_target") else []
        graph_ops.assign_license(graph, candidate.user_id, add, [candidate.sku_id], what)
    elif step["kind"] == "remove_direct":
        graph_ops.assign_license(graph, candidate.user_id, [], [candidate.sku_id], what)
    else:
        graph_ops.remove_member(graph, str(step["group_id"]), candidate.user_id, what)


def _settle(connection: Connection, user_id: str, sku_id: str,
            steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Steps whose outcome Graph did not say ("attempted", "unknown"), found out from the
    tenant: done when the path is gone, failed when it is still there, unknown when the
    tenant cannot be read either."""
    asked = [i for i, s in enumerate(steps) if s.get("state") in ("attempted", "unknown")]
    if not asked:
        return steps
    out = [dict(s) for s in steps]
    graph = connection.graph()
    try:
        live = graph_ops.read_user(graph, user_id, sku_id)
        groups = graph_ops.memberships(graph, user_id) if any(
            out[i]["kind"] == "remove_group" for i in asked) else {}
    except LicenseAnalyzerError:
        for i in asked:
            out[i]["state"] = "unknown"
        return out
    for i in asked:
        if out[i]["kind"] == "remove_group":
            gone = str(out[i]["group_id"]).lower() not in groups
        else:  # remove_direct and downgrade both take the direct license away
            gone = live is None or not live.direct
        out[i]["state"] = "done" if gone else "failed"
    return out


def execute_apply(config: Config, store: Store, connection_for: ConnectionFor, echo: Echo,
                  today: date | None = None) -> int:
    """Carry out the approved candidates; the caller holds the job lock."""
    return _Run(config, store, connection_for, echo, today or today_of(config)).run()


def confirm_live(store: Store, connection_for: ConnectionFor) -> int:
    """Pending group removals Graph now shows done become confirmed."""
    confirmed = 0
    for change in change_log.pending(store):
        groups = set(change_log.removed_groups(change))
        try:
            live = graph_ops.read_user(connection_for(change.profile).graph(), change.user_id,
                                       change.sku_id)
        except LicenseAnalyzerError:
            continue  # confirmed on a later run
        if live is None or not groups & set(live.groups):
            change_log.confirm(store, change.id)
            confirmed += 1
    return confirmed


def confirm_pending(config: Config, store: Store) -> int:
    """After collect: pending group removals whose inherited assignment is gone are confirmed.

    run.py calls this after collect; it reads the store only (no Graph call).
    """
    return change_log.confirm_pending_in_store(store)


def apply_candidates(config: Config, execute: bool) -> int:
    """`candidates apply [--execute]`: the plan as a table, or carry it out."""
    if execute and not config.reclamation.enabled:
        raise ConfigError("apply --execute is switched off: set [reclamation] enabled = true in"
                          " the config to let license-analyzer change licenses.")
    store = open_configured_store(config)
    connections = Connections(config)
    try:
        if not execute:
            rows = plan_rows(config, store)
            print_rows(rows, "table", columns=[
                ("id", "id"), ("user_principal_name", "user"), ("sku_part_number", "SKU"),
                ("action", "action"), ("steps", "steps"), ("monthly_saving", "saving/mo"),
                ("plan", "plan")],
                       title="Reclamation plan (nothing changed; add --execute to carry it out)")
            return int(ExitCode.OK)
        with JobLockHolder(store):
            return execute_apply(config, store, connections, say)
    finally:
        connections.close()
        store.dispose()
