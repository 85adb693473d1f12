"""Reclamation as an operator does it: collect, analyze, approve, apply, restore through the
command line, against the simulated Microsoft cloud (real HTTPS, real Graph semantics).

One simulated tenant per module, collected and analyzed once; each test works on its own copy
of the store and on users no other test touches. The tenant is prepared between two collects:
six users get their direct license's plans partly disabled and two more licensing groups for
the same license, so one candidate is carried out in three Graph calls.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from license_analyzer.cli import main
from license_analyzer.config import load_config
from license_analyzer.rules.review import decide
from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file
from license_analyzer.simulator.tenant import Group
from license_analyzer.sources.http import Connection, connect
from license_analyzer.store.db import Store
from license_analyzer.store.lock import JobLockHolder
from license_analyzer.store.models import AppliedChange, Candidate
from license_analyzer.store.open import open_configured_store

pytestmark = pytest.mark.xdist_group("reclamation_cli")

NOW = datetime(2026, 11, 21, 6, tzinfo=UTC)
FAULTS = ("direct_refused", "direct_unanswered", "group_a_refused", "group_b_refused",
          "group_a_dropped_after_acting", "confirmation_read_fails")
PLAIN = ("cap_1", "cap_2", "cap_3", "keep", "reject_later", "protected", "stale", "happy")


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_cli(config: Path, *args: str) -> Result:
    """The console script's main() in this process, its output captured."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(["--config", str(config), *args])
        except SystemExit as exc:
            code = exc.code
    return Result(code if isinstance(code, int) else 0, out.getvalue(), err.getvalue())


@dataclass
class World:
    sim: Simulator
    folder: Path  # la.toml, store.db and its data folder, collected and analyzed
    ids: dict[str, str] = field(default_factory=dict)  # scenario -> candidate id
    users: dict[str, str] = field(default_factory=dict)  # scenario -> user id
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)  # fault -> (A, B)


def _candidates(config: Path) -> list[dict[str, Any]]:
    result = run_cli(config, "candidates", "list", "--format", "json")
    assert result.code == 0, result.err
    rows: list[dict[str, Any]] = json.loads(result.out)
    return rows


def _connection(config: Path) -> Connection:
    loaded = load_config(config)
    return connect(loaded.profiles[0], base_dir=config.parent)


def _add_group(sim: Simulator, name: str, sku_id: str) -> str:
    """A cloud-only, assigned, not mail-enabled security group granting only `sku_id`."""
    tenant = sim.tenant
    gid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"reclamation-test/{name}"))
    stamp = "2025-01-01T00:00:00Z"
    group = Group(gid, name, "test licensing group", [], None, False, False, True,
                  name.lower().replace(" ", "-"), [(sku_id, [])], stamp, stamp)
    tenant.groups.append(group)
    tenant.groups_by_id[gid] = group
    return gid


def _prepare(sim: Simulator, config: Path, rows: list[dict[str, Any]]) -> World:
    """Pick a user per scenario and shape the tenant for it (before the second collect)."""
    world = World(sim, config.parent)
    direct = sorted((r for r in rows if r["action"] == "remove" and r["assigned_via"] == "direct"
                     and not r["blocked_reason"]),
                    key=lambda r: (r["rule"] == "disabled_account", r["sku_part_number"],
                                   r["user_id"]))
    taken: set[str] = set()

    def pick(name: str, want: Any = lambda r: r["rule"] != "disabled_account") -> None:
        row = next(r for r in direct if r["user_id"] not in taken and want(r))
        taken.add(row["user_id"])
        world.users[name], world.ids[name] = row["user_id"], row["id"]

    dataverse = sim.tenant.dataverse[0]
    has_systemuser = {sim.tenant.users[s.user_idx].id for s in dataverse.systemusers
                      if s.kind == "human" and s.user_idx >= 0}
    pick("audited", lambda r: r["sku_part_number"] == "DYN365_ENTERPRISE_SALES"
         and r["rule"] == "never_used" and r["user_id"] in has_systemuser)
    pick("account", lambda r: r["rule"] == "disabled_account")
    for name in (*FAULTS, *PLAIN):
        pick(name)
    group_row = next(r for r in rows if r["action"] == "remove_from_group"
                     and not r["blocked_reason"])
    world.users["group"], world.ids["group"] = group_row["user_id"], group_row["id"]

    with _connection(config) as connection:
        graph = connection.graph()
        plans = {s["skuId"].lower(): [p["servicePlanId"].lower() for p in s["servicePlans"]]
                 for s in graph.get("/subscribedSkus").json()["value"]}
        by_sku: dict[str, tuple[str, str]] = {}
        for name in FAULTS:
            row = next(r for r in rows if r["id"] == world.ids[name])
            sku, uid = row["sku_id"], row["user_id"]
            if sku not in by_sku:
                by_sku[sku] = (_add_group(sim, f"Reclaim A {row['sku_part_number']}", sku),
                               _add_group(sim, f"Reclaim B {row['sku_part_number']}", sku))
            world.groups[name] = by_sku[sku]
            # a plan switched off on the direct license: restore must bring it back off
            graph.post(f"/users/{uid}/assignLicense", json={
                "addLicenses": [{"skuId": sku, "disabledPlans": plans[sku][-1:]}],
                "removeLicenses": []}).raise_for_status()
            for gid in by_sku[sku]:
                graph.post(f"/groups/{gid}/members/$ref", json={
                    "@odata.id": f"{graph.base_url}/directoryObjects/{uid}"}).raise_for_status()
    return world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with Simulator(SimulatorOptions(users=120, seed=11, now=NOW, time_scale=0.01)) as sim:
        folder = tmp_path_factory.mktemp("world")
        config = folder / "la.toml"
        write_config_file(sim.info, config)
        text = config.read_text(encoding="utf-8").replace(
            'url = "sqlite:///license-analyzer.db"', 'url = "sqlite:///store.db"').replace(
            'name = "simulated"',
            'name = "simulated"\nsignin_requests_per_10s = 1000\nactivity_since = 2026-08-01')
        config.write_text(text + "\n[analysis]\nas_of = 2026-11-21\n\n[reclamation]\n"
                          "enabled = true\nmax_per_run = 10\n", encoding="utf-8")
        for step in (("collect",), ("analyze",)):
            assert run_cli(config, *step).code == 0
        world = _prepare(sim, config, _candidates(config))
        for step in (("collect",), ("analyze",)):
            assert run_cli(config, *step).code == 0
        yield world


class Operator:
    """One test's copy of the collected store, and the commands an operator types."""

    def __init__(self, world: World, folder: Path) -> None:
        shutil.copytree(world.folder, folder)
        self.world = world
        self.config = folder / "la.toml"
        self.connection = _connection(self.config)
        self.graph = self.connection.graph()

    def cli(self, *args: str) -> Result:
        return run_cli(self.config, *args)

    def configure(self, **reclamation: Any) -> None:
        """Replace keys of [reclamation] / [analysis] (analysis_as_of=...)."""
        text = self.config.read_text(encoding="utf-8")
        for key, value in reclamation.items():
            if key == "analysis_as_of":
                text = text.replace("as_of = 2026-11-21", f"as_of = {value}")
                continue
            line = f"{key} = {json.dumps(value)}"
            prefix = f"\n{key} = "
            if prefix in text:
                start = text.index(prefix) + 1
                text = text[:start] + line + text[text.index("\n", start):]
            else:
                text = text.replace("[reclamation]\n", f"[reclamation]\n{line}\n")
        self.config.write_text(text, encoding="utf-8")

    def approve(self, *names: str) -> None:
        result = self.cli("candidates", "approve", *(self.world.ids[n] for n in names),
                          "--by", "Asset Manager")
        assert result.code == 0, result.err

    def store(self) -> Store:
        return open_configured_store(load_config(self.config))

    def candidate(self, name: str) -> dict[str, Any]:
        return next(r for r in _candidates(self.config) if r["id"] == self.world.ids[name])

    def snapshot(self, name: str) -> tuple[Any, ...]:
        """The user's licenses (with disabled plans), their paths, and their groups."""
        uid = self.world.users[name]
        user = self.graph.get(f"/users/{uid}", params={
            "$select": "assignedLicenses,licenseAssignmentStates"}).json()
        licenses = sorted((a["skuId"].lower(), tuple(sorted(a["disabledPlans"])))
                          for a in user["assignedLicenses"])
        paths = sorted((s["skuId"].lower(), s["assignedByGroup"] or "",
                        tuple(sorted(s["disabledPlans"])))
                       for s in user["licenseAssignmentStates"])
        groups = sorted(g["id"] for g in self.graph.get(
            f"/users/{uid}/transitiveMemberOf").json()["value"])
        return licenses, paths, groups

    def holds(self, name: str) -> bool:
        row = next(r for r in _candidates(self.config) if r["id"] == self.world.ids[name])
        user = self.graph.get(f"/users/{row['user_id']}",
                              params={"$select": "assignedLicenses"}).json()
        return row["sku_id"] in {a["skuId"].lower() for a in user["assignedLicenses"]}

    def close(self) -> None:
        self.connection.close()


@pytest.fixture
def op(world: World, tmp_path: Path) -> Iterator[Operator]:
    operator = Operator(world, tmp_path / "operator")
    yield operator
    operator.close()
    world.sim.clear_injections()


def _make_room(world: World, sku_id: str) -> None:
    """The simulated tenant is over-assigned: a freed seat is not free; restore needs one."""
    pool = next(p for p in world.sim.tenant.pools if p.sku.sku_id == sku_id)
    pool.enabled += 5


# (1) the group is re-read right before acting --------------------------------------------------

def test_a_group_granting_another_license_since_the_approval_is_not_touched(
        op: Operator, world: World) -> None:
    row = op.candidate("group")
    assert row["action"] == "remove_from_group"
    gid = row["assigned_via"].split(":", 1)[1]
    op.approve("group")
    group = world.sim.tenant.groups_by_id[gid]
    e3 = next(p.sku.sku_id for p in world.sim.tenant.pools if p.sku.part_number == "SPE_E3")
    group.licenses.append((e3, []))  # an administrator gives the group a second license
    try:
        before = op.snapshot("group")
        result = op.cli("candidates", "apply", "--execute")
        assert result.code == 0, result.err
        assert "the group changed since the approval" in result.out
        assert "also grants SPE_E3" in result.out
        assert op.snapshot("group") == before  # still in the group, both licenses kept
        assert op.candidate("group")["status"] == "approved"
    finally:
        group.licenses.remove((e3, []))


# (2) and (8): every Graph step recorded; restore undoes exactly what happened ---------------

def _inject(world: World, fault: str, uid: str) -> None:
    a, b = world.groups[fault]
    sim = world.sim
    if fault == "direct_refused":
        sim.inject("POST", rf"/users/{uid}/assignLicense$", status=403)
    elif fault == "direct_unanswered":  # a 5xx: Graph may or may not have acted (it did not)
        sim.inject("POST", rf"/users/{uid}/assignLicense$", status=500)
    elif fault == "group_a_refused":  # GroupMember.ReadWrite.All not granted
        sim.inject("DELETE", rf"/groups/{a}/members/{uid}/\$ref$", status=403)
    elif fault == "group_b_refused":
        sim.inject("DELETE", rf"/groups/{b}/members/{uid}/\$ref$", status=403)
    elif fault == "group_a_dropped_after_acting":  # it acted, the answer never came
        sim.inject("DELETE", rf"/groups/{a}/members/{uid}/\$ref$", status="drop", after=True)
    else:  # the read that confirms the change, after every call went through
        sim.inject("GET", rf"/users/{uid}$", status=403, skip=1)


EXPECTED = {  # fault -> (exit code, change status, candidate status, the step that failed)
    "direct_refused": (3, "failed", "approved", "direct"),
    "direct_unanswered": (5, "failed", "approved", "direct"),
    "group_a_refused": (3, "partial", "partial", "a"),
    "group_b_refused": (3, "partial", "partial", "b"),
    "group_a_dropped_after_acting": (0, "pending_confirmation", "applied", None),
    "confirmation_read_fails": (0, "pending_confirmation", "applied", None),
}


def _states(steps: list[dict[str, Any]], groups: tuple[str, str], failed: str | None
            ) -> list[str]:
    """Every step before the failed one done, the failed one failed, the rest never tried."""
    names = ["direct" if s["kind"] == "remove_direct" else "ab"[groups.index(s["group_id"])]
             for s in steps]
    if failed is None:
        return ["done"] * len(steps)
    at = names.index(failed)
    return ["done"] * at + ["failed"] + ["planned"] * (len(steps) - at - 1)


@pytest.mark.parametrize("fault", FAULTS)
def test_graph_failing_at_each_step_leaves_a_record_restore_undoes_exactly(
        op: Operator, world: World, fault: str) -> None:
    uid, cid = world.users[fault], world.ids[fault]
    row = op.candidate(fault)
    assert row["assigned_via"].count("group:") == 2 and row["assigned_via"].startswith("direct")
    op.approve(fault)
    before = op.snapshot(fault)
    assert any(plans for _, plans in before[0])  # a disabled plan to bring back
    _inject(world, fault, uid)
    code, change_status, candidate_status, failed = EXPECTED[fault]

    result = op.cli("candidates", "apply", "--execute")
    assert result.code == code, result.out + result.err
    with op.store().session() as session:
        change = session.exec(select(AppliedChange).where(
            AppliedChange.candidate_id == cid)).one()
    assert change.status == change_status
    assert [s["state"] for s in change.steps] == _states(change.steps, world.groups[fault],
                                                         failed)
    assert [s["kind"] for s in change.steps] == ["remove_direct", "remove_group", "remove_group"]
    assert op.candidate(fault)["status"] == candidate_status
    if candidate_status == "partial":
        listed = op.cli("candidates", "list", "--status", "partial", "--format", "json")
        assert [r["id"] for r in json.loads(listed.out)] == [cid]
        assert f"candidates restore {cid}" in result.out

    if change_status == "failed":  # nothing happened: nothing to restore
        assert op.snapshot(fault) == before
        refused = op.cli("candidates", "restore", cid)
        assert refused.code == 2 and "no applied change" in refused.err
        return
    assert op.snapshot(fault) != before
    _make_room(world, row["sku_id"])
    restored = op.cli("candidates", "restore", cid)
    assert restored.code == 0, restored.out + restored.err
    assert op.snapshot(fault) == before
    assert op.candidate(fault)["status"] == "restored"
    with op.store().session() as session:
        change = session.exec(select(AppliedChange).where(
            AppliedChange.candidate_id == cid)).one()
    assert change.status == "restored"
    assert {s["state"] for s in change.steps} <= {"undone", "failed", "planned"}


# (3) one run at a time; the cap counts every attempt; the approved list is read again ------

def test_apply_and_restore_wait_for_the_job_lock(op: Operator, world: World) -> None:
    """A second apply (or a restore, an import, the daily job) cannot run beside one."""
    op.approve("stale")
    store = op.store()
    with JobLockHolder(store):  # another apply is running
        result = op.cli("candidates", "apply", "--execute")
        restore = op.cli("candidates", "restore", world.ids["stale"])
    assert result.code == 1 and "Another run" in result.err
    assert restore.code == 1 and "Another run" in restore.err
    assert op.candidate("stale")["status"] == "approved"
    with store.session() as session:
        assert session.exec(select(AppliedChange)).all() == []
    store.dispose()


def test_max_per_run_counts_the_attempts_that_failed(op: Operator, world: World) -> None:
    op.configure(max_per_run=2)
    op.approve("cap_1", "cap_2", "cap_3")
    order = [r["id"] for r in sorted(
        (op.candidate(n) for n in ("cap_1", "cap_2", "cap_3")),
        key=lambda r: (-r["monthly_saving"], r["id"]))]
    first = next(n for n in ("cap_1", "cap_2", "cap_3") if world.ids[n] == order[0])
    # the first call's connection drops before Graph acts: an attempt all the same
    world.sim.inject("POST", rf"/users/{world.users[first]}/assignLicense$", status="drop")
    result = op.cli("candidates", "apply", "--execute")
    assert result.code == 5, result.out + result.err
    assert "Stopped at max_per_run = 2" in result.out
    assert "1 applied" in result.out and "1 failed" in result.out
    statuses = {r["id"]: r["status"] for r in _candidates(op.config)}
    assert [statuses[i] for i in order] == ["approved", "applied", "approved"]
    third = next(n for n in ("cap_1", "cap_2", "cap_3") if world.ids[n] == order[2])
    assert op.holds(third)


def test_a_rejection_made_during_the_run_is_honoured(op: Operator, world: World) -> None:
    op.approve("keep", "reject_later")
    ordered = sorted((op.candidate(n) for n in ("keep", "reject_later")),
                     key=lambda r: (-r["monthly_saving"], r["id"]))
    first, second = ordered[0]["id"], ordered[1]["id"]
    later = next(n for n in ("keep", "reject_later") if world.ids[n] == second)
    first_user = ordered[0]["user_id"]
    store = op.store()

    def reviewer_rejects() -> None:  # while apply carries out the first candidate
        decide(store, [second], "rejected", by="Reviewer", note="still needed")

    world.sim.inject("POST", rf"/users/{first_user}/assignLicense$", status=None,
                     call=reviewer_rejects)
    result = op.cli("candidates", "apply", "--execute")
    assert result.code == 0, result.out + result.err
    assert "1 applied" in result.out
    statuses = {r["id"]: r["status"] for r in _candidates(op.config)}
    assert (statuses[first], statuses[second]) == ("applied", "rejected")
    assert op.holds(later)
    store.dispose()


# (4) protected_groups: by display name, every license of a member, live membership --------

def test_a_member_of_a_protected_group_keeps_every_license(op: Operator, world: World) -> None:
    op.approve("protected")
    uid = world.users["protected"]
    # after the analysis, the user joins a group that carries no license at all
    alpha = next(g for g in world.sim.tenant.groups if g.display_name == "Project Alpha")
    op.graph.post(f"/groups/{alpha.id}/members/$ref", json={
        "@odata.id": f"{op.graph.base_url}/directoryObjects/{uid}"}).raise_for_status()
    try:
        op.configure(protected_groups=["project alpha"])
        result = op.cli("candidates", "apply", "--execute")
        assert result.code == 0, result.err
        assert "member of protected group Project Alpha" in result.out
        assert op.holds("protected")
    finally:
        op.graph.delete(f"/groups/{alpha.id}/members/{uid}/$ref").raise_for_status()


# (5) stale evidence: too old, or contradicted by what the tenant says now ------------------

def test_evidence_older_than_the_limit_is_refused_with_its_age(op: Operator) -> None:
    op.approve("stale")
    op.configure(analysis_as_of="2026-12-05")  # two weeks after the analysis
    plan = op.cli("candidates", "apply")
    assert "more than 7 days ago" in plan.out
    result = op.cli("candidates", "apply", "--execute")
    assert result.code == 0
    assert "as of 2026-11-21, more than 7 days ago" in result.out
    assert "max_evidence_age_days" in result.out
    assert op.holds("stale")


def test_dataverse_use_since_the_evidence_is_found_before_removing(
        op: Operator, world: World) -> None:
    op.approve("audited")
    uid = world.users["audited"]
    assert world.sim.record_access(uid, NOW - timedelta(hours=2))
    result = op.cli("candidates", "apply", "--execute")
    assert result.code == 0, result.err
    assert "the user used" in result.out and "/orgs/" in result.out
    assert op.holds("audited")


def test_an_account_enabled_again_is_not_taken_as_disabled(op: Operator, world: World) -> None:
    row = op.candidate("account")
    assert row["rule"] == "disabled_account"
    op.approve("account")
    user = world.sim.tenant.users_by_id[world.users["account"]]
    user.account_enabled = True
    world.sim.tenant.touch()
    try:
        result = op.cli("candidates", "apply", "--execute")
        assert result.code == 0, result.err
        assert "the account was enabled again" in result.out
        assert op.holds("account")
    finally:
        user.account_enabled = False
        world.sim.tenant.touch()


def test_every_applied_change_is_in_the_store_with_its_steps(op: Operator) -> None:
    """The happy path through the CLI: one call, recorded done, the candidate applied."""
    op.approve("happy")
    result = op.cli("candidates", "apply", "--execute")
    assert result.code == 0 and "1 applied" in result.out
    with op.store().session() as session:
        change = session.exec(select(AppliedChange)).one()
        candidate = session.exec(select(Candidate).where(
            Candidate.id == change.candidate_id)).one()
    assert [s["state"] for s in change.steps] == ["done"]
    assert candidate.status == "applied" and candidate.version >= 3
