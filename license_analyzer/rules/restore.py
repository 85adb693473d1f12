"""`candidates restore ID...`: undoing applied (or partly applied) changes, step by step.

Restore undoes, newest first, every step of the change that happened or may have happened
("done" or "unknown"), and nothing else: a direct license comes back with the disabled plans it
had, the user goes back into each group they were taken out of, a downgrade gets its license
back and loses the target if apply added it. Each undo is idempotent (adding a license the user
holds sets the same plans again; adding a member who is one is a no-op), so an "unknown" step
is safe to undo, and each undone step is committed at once: a restore that stops half-way is
finished by running it again. The run holds the job lock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from sqlmodel import col, select

from license_analyzer.config import Config
from license_analyzer.errors import ConfigError, ExitCode, LicenseAnalyzerError
from license_analyzer.redact import redact
from license_analyzer.rules import change_log, graph_ops
from license_analyzer.rules.lifecycle import os_user, record
from license_analyzer.rules.versioning import compare_and_set
from license_analyzer.sources.http import Connection
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.lock import JobLockHolder
from license_analyzer.store.models import AppliedChange, Candidate

Echo = Callable[[str], None]


def _undo(graph: httpx.Client, change: AppliedChange, step: dict[str, Any]) -> None:
    prior = change.prior or {}
    what = f"Restoring {change.candidate_id}"
    plans = list(prior.get("disabled_plans") or [])
    back = [{"skuId": change.sku_id, "disabledPlans": plans}]
    if step["kind"] == "remove_group":
        graph_ops.add_member(graph, str(step["group_id"]), change.user_id, what)
        return
    if step["kind"] == "remove_direct":
        graph_ops.assign_license(graph, change.user_id, back, [], what)
        return
    # a downgrade: the license back; the target away only if apply added it and it is there
    target = str(step.get("target_sku_id") or "")
    remove: list[str] = []
    if target and step.get("add_target", not prior.get("held_target")):
        live = graph_ops.read_user(graph, change.user_id, target)
        remove = [target] if live is not None and live.direct else []
    graph_ops.assign_license(graph, change.user_id, back, remove, what)


def _changes(store: Store, ids: Sequence[str]) -> dict[str, AppliedChange]:
    changes: dict[str, AppliedChange] = {}
    with store.session() as session:
        for cid in dict.fromkeys(ids):
            change = session.exec(
                select(AppliedChange).where(AppliedChange.candidate_id == cid,
                                            col(AppliedChange.status).in_(change_log.RESTORABLE))
                .order_by(col(AppliedChange.id).desc())).first()
            if change is None:
                raise ConfigError(f"Candidate {cid} has no applied change to restore; see"
                                  " `candidates list --status applied` (or partial).")
            changes[cid] = change
    return changes


def _finish(store: Store, change_id: int, cid: str) -> None:
    now = utcnow()
    with store.session() as session:
        stored = session.get(AppliedChange, change_id)
        candidate = session.get(Candidate, cid)
        assert stored is not None
        stored.status, stored.restored_at = "restored", now
        if candidate is not None:
            compare_and_set(session, cid, candidate.version, status="restored",
                            status_reason="restored by an operator", updated_at=now)
            record(session, candidate, "restored", "", now, by=os_user() or "operator")


def execute_restore(store: Store, ids: Sequence[str], connection_for: Callable[[str], Connection],
                    echo: Echo) -> int:
    """Undo the changes of `ids`; the caller holds the job lock."""
    for cid, change in _changes(store, ids).items():
        assert change.id is not None
        graph = connection_for(change.profile).graph()
        steps = change_log.legacy_steps(change)
        for index in reversed(range(len(steps))):
            if steps[index].get("state") not in change_log.HAPPENED:
                continue
            try:
                _undo(graph, change, steps[index])
            except LicenseAnalyzerError as exc:
                if "available licenses" in (exc.detail or ""):
                    echo(f"error: restoring {cid} needs a free"
                         f" {change.prior.get('sku_part_number')} seat and the subscription has"
                         " none; free or buy one, then run restore again.")
                else:
                    echo(redact(f"error: {exc.message}; what was restored so far is recorded:"
                                " run restore again to finish"))
                return int(exc.exit_code)
            steps[index] = {**steps[index], "state": "undone", "at": utcnow().isoformat()}
            change_log.set_steps(store, change.id, steps)
        _finish(store, change.id, cid)
        echo(f"restored {cid}")
    return int(ExitCode.OK)


def restore_candidates(config: Config, ids: Sequence[str]) -> int:
    """`candidates restore ID...`."""
    from license_analyzer.output import say
    from license_analyzer.rules.apply import Connections
    from license_analyzer.store.open import open_configured_store

    store = open_configured_store(config)
    connections = Connections(config)
    try:
        with JobLockHolder(store):
            return execute_restore(store, ids, connections, say)
    finally:
        connections.close()
        store.dispose()
