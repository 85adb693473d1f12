"""F&O security roles and role assignments collected from the simulator, daily like every
other stream; a refusal names the Microsoft Entra applications page; compliance candidates
come out of analyze and propose."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from license_analyzer.pipeline.analyze import analyze
from license_analyzer.pipeline.fo_compliance import compute
from license_analyzer.rules.propose import propose
from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    Candidate,
    DataverseRestrictedWrite,
    FnoSecurityRole,
    FnoUserRole,
    StreamState,
)
from tests.sources.simhelp import options, run, sim_config


def _stored(store: Store) -> tuple[set[tuple[str, str | None]], set[tuple[str, str, str | None]]]:
    with store.session() as s:
        roles = {(r.role_id, r.license_type) for r in s.exec(select(FnoSecurityRole))}
        held = {(a.user_id, a.role_id, a.assignment_status) for a in s.exec(select(FnoUserRole))}
    return roles, held


def test_roles_and_assignments_match_the_simulator_and_follow_changes(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options()) as sim:
        config = sim_config(sim, tmp_path)
        first = run(config, store, sim)
        assert first.status == "ok", [(s.key, s.message) for s in first.streams]
        env = sim.tenant.finance_operations[0]
        roles, held = _stored(store)
        assert roles == {(str(r["SecurityRoleIdentifier"]), str(r["UserLicenseType"]) or None)
                         for r in env.roles}
        assert held == {(str(a["UserId"]), str(a["SecurityRoleIdentifier"]),
                         str(a["AssignmentStatus"])) for a in env.user_roles}
        with store.session() as s:
            states = {(st.stream, st.status) for st in s.exec(select(StreamState))}
        assert {("fno_security_roles", "ok"), ("fno_user_roles", "ok")} <= states

        gone = env.user_roles.pop()
        sim.advance(days=1)
        assert run(config, store, sim).status == "ok"
        _, held = _stored(store)
        assert (str(gone["UserId"]), str(gone["SecurityRoleIdentifier"]),
                str(gone["AssignmentStatus"])) not in held


def test_refused_security_entities_degrade_their_streams_only(store: Store, tmp_path: Path) -> None:
    with Simulator(options()) as sim:
        config = sim_config(sim, tmp_path)
        sim.tenant.finance_operations[0].security_readable = False
        outcome = run(config, store, sim)
        by_stream = {s.stream: s for s in outcome.streams}
        assert by_stream["fno_users"].status == "ok"
        for name in ("fno_security_roles", "fno_user_roles"):
            failed = by_stream[name]
            # compliance is missing, the rest is not: degraded, never a failed run
            assert failed.status == "degraded"
            assert failed.message is not None
            assert "Microsoft Entra applications" in failed.message
            assert "Security administrator" in failed.message
        assert outcome.status == "ok" and outcome.exit_code == 0


def test_over_licensed_users_become_downgrade_candidates(store: Store, tmp_path: Path) -> None:
    with Simulator(options(users=400)) as sim:
        config = sim_config(sim, tmp_path)
        assert run(config, store, sim).status == "ok"
        day = sim.tenant.now.date()
    result = compute(config, store)
    statuses = {r["status"] for r in result.rows}
    assert {"compliant", "under_licensed", "over_licensed", "exempt", "unmatched"} <= statuses
    outcome = analyze(config, store, day)
    propose(config, store, outcome.analysis_id)
    with store.session() as s:
        found = list(s.exec(select(Candidate).where(Candidate.rule.in_(  # type: ignore[attr-defined]
            ["fo_over_licensed", "fo_not_required"]))))
    excess = {(r["user_id"], r["sku_key"]): r for r in result.rule_columns.iter_rows(named=True)
              if r["fo_excess"]}
    assert excess and {(c.user_id, c.sku_part_number.upper()) for c in found} <= set(excess)
    downgrades = [c for c in found if c.action == "downgrade"]
    assert downgrades
    for c in downgrades:
        want = excess[(c.user_id, c.sku_part_number.upper())]
        assert c.target_sku_part_number == want["fo_downgrade_target"]
        assert c.evidence["fo_driving_roles"] == want["fo_driving_roles"]
        assert "read-only evidence" not in (c.blocked_reason or "")
    direct = [c for c in downgrades if c.assigned_via == "direct"]
    assert all(c.monthly_saving > 0 for c in direct)
    under = {r["user_id"] for r in result.rows if r["status"] == "under_licensed"}
    assert not {c.user_id for c in found} & under


def _restricted_truth(sim: Simulator) -> set[tuple[str, str, str, str]]:
    """(environment, Entra object id, table, via) the simulated roles say."""
    out = set()
    for env in sim.tenant.dataverse:
        csr = next(k for k, v in env.security_roles.items()
                   if v == "Customer Service Representative")
        oid = {s.systemuserid: s.aad_object_id for s in env.systemusers}
        holders = [(uid, "direct") for uid, roles in env.user_role_ids.items() if csr in roles]
        holders += [(uid, f"team:{name}") for name, roles, members in env.teams.values()
                    if csr in roles for uid in members]
        for uid, via in holders:
            for table in ("incident", "knowledgearticle"):
                out.add((env.url.lower(), str(oid[uid]).lower(), table, via))
    return out


def test_restricted_table_writers_match_the_simulator(store: Store, tmp_path: Path) -> None:
    with Simulator(options()) as sim:
        config = sim_config(sim, tmp_path)
        outcome = run(config, store, sim)
        assert outcome.status == "ok", [(s.key, s.message) for s in outcome.streams]
        with store.session() as s:
            stored = {(w.environment_url, w.user_id, w.table_name, w.via)
                      for w in s.exec(select(DataverseRestrictedWrite))}
        truth = _restricted_truth(sim)
        assert stored == truth and any(v.startswith("team:") for *_, v in truth)
    rows = [r for r in compute(config, store).rows if r.get("restricted_tables")]
    assert rows and all(r["required"] == ["DYN365_ENTERPRISE_CUSTOMER_SERVICE"]
                        for r in rows if r["status"] == "under_licensed")
    assert any("(team Support Team)" in d for r in rows for d in r["driving_roles"])


def test_refused_dataverse_security_read_degrades_that_stream_only(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options()) as sim:
        config = sim_config(sim, tmp_path)
        # the application user's role lacks read on Security Role: Dataverse answers 403
        sim.inject("GET", r"/api/data/v9\.2/roles$", status=403, times=1000)
        outcome = run(config, store, sim)
        refused = [s for s in outcome.streams if s.stream == "dataverse_restricted_writes"]
        assert len(refused) == 2 and all(s.status == "degraded" for s in refused)
        assert all(s.message and "Security Role" in s.message for s in refused)
        audit = [s for s in outcome.streams if s.stream == "dataverse_audit"]
        assert len(audit) == 2 and all(s.status == "ok" for s in audit)
        assert outcome.status == "ok" and outcome.exit_code == 0
        with store.session() as s:
            assert s.exec(select(DataverseRestrictedWrite)).first() is None
