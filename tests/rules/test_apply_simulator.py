"""apply --execute and restore against the simulated Microsoft cloud (real HTTPS, real Graph)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from license_analyzer.config import Config, load_config
from license_analyzer.rules.apply import apply_candidates, confirm_live, plan_rows
from license_analyzer.rules.evidence import candidate_id
from license_analyzer.rules.restore import restore_candidates
from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file
from license_analyzer.sources.http import Connection, connect
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import AppliedChange, Candidate, Decision
from license_analyzer.store.open import open_configured_store

NOW = datetime(2026, 11, 21, 6, tzinfo=UTC)
_GROUP = "id,groupTypes,onPremisesSyncEnabled,mailEnabled,assignedLicenses"


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorOptions(users=80, seed=11, now=NOW, time_scale=0.01)) as s:
        yield s


@pytest.fixture
def config(sim: Simulator, tmp_path: Path) -> Config:
    path = tmp_path / "license-analyzer.toml"
    write_config_file(sim.info, path)
    with path.open("a", encoding="utf-8") as f:
        f.write("\n[analysis]\nas_of = 2026-11-21\n"
                "\n[reclamation]\nenabled = true\nmax_per_run = 5\n")
    return load_config(path)


@pytest.fixture
def connection(config: Config) -> Iterator[Connection]:
    with connect(config.profiles[0], base_dir=config.source_path.parent if config.source_path
                 else None) as opened:
        yield opened


@pytest.fixture
def graph(connection: Connection) -> httpx.Client:
    return connection.graph()


def _user(graph: httpx.Client, uid: str) -> dict[str, Any]:
    r = graph.get(f"/users/{uid}", params={"$select": "id,assignedLicenses,"
                                            "licenseAssignmentStates,signInActivity"})
    r.raise_for_status()
    return dict(r.json())


def _consumed(graph: httpx.Client, sku_id: str) -> int:
    r = graph.get("/subscribedSkus")
    r.raise_for_status()
    return next(int(s["consumedUnits"]) for s in r.json()["value"]
                if s["skuId"].lower() == sku_id)


def _candidate(store: Store, user: dict[str, Any], sku_id: str, part: str, *,
               groups: list[str], direct: bool) -> str:
    cid = candidate_id("simulated", user["id"], sku_id)
    via = ",".join((["direct"] if direct else []) + [f"group:{g}" for g in groups])
    with store.session() as s:
        s.add(Candidate(
            id=cid, profile="simulated", user_id=user["id"],
            user_principal_name=user["userPrincipalName"], sku_id=sku_id, sku_part_number=part,
            product_name=part, rule="never_used", reason="test", assigned_via=via,
            action="remove" if direct else "remove_from_group", monthly_saving=10.0,
            last_activity=date(2026, 11, 21), evidence={
                "remove_direct": direct, "remove_groups": groups, "family": "sales",
                "as_of": "2026-11-21", "account_enabled": True},
            evidence_hash="h", decided_evidence_hash="h", status="approved",
            proposed_at=utcnow(), updated_at=utcnow()))
    return cid


def _pick(sim: Simulator, graph: httpx.Client) -> tuple[dict[str, Any], dict[str, Any], str]:
    """A user with a direct-only license, and a user whose license comes from one eligible
    group (assigned, cloud-only, not mail-enabled, one license)."""
    direct_user = group_user = None
    group_id = ""
    for u in sim.truth.users():
        if not u["accountEnabled"]:
            continue
        for lic in u["licenses"]:
            if direct_user is None and lic["via"] == ["direct"]:
                direct_user = {**u, "_sku": lic["skuId"], "_part": lic["skuPartNumber"]}
            if group_user is None and len(lic["via"]) == 1 and lic["via"][0].startswith("group:"):
                gid = lic["via"][0].split(":", 1)[1]
                g = graph.get(f"/groups/{gid}", params={"$select": _GROUP}).json()
                if (not g.get("groupTypes") and not g.get("onPremisesSyncEnabled")
                        and not g.get("mailEnabled") and len(g.get("assignedLicenses", [])) == 1):
                    group_user, group_id = {**u, "_sku": lic["skuId"],
                                            "_part": lic["skuPartNumber"]}, gid
    assert direct_user is not None and group_user is not None
    return direct_user, group_user, group_id


def test_apply_execute_then_restore(sim: Simulator, config: Config, graph: httpx.Client,
                                    connection: Connection,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    direct_user, group_user, gid = _pick(sim, graph)
    sku = direct_user["_sku"].lower()
    # give the direct license a disabled plan, so restore has something to bring back
    plans = next(s for s in graph.get("/subscribedSkus").json()["value"]
                 if s["skuId"].lower() == sku)["servicePlans"]
    off = plans[-1]["servicePlanId"].lower()
    graph.post(f"/users/{direct_user['id']}/assignLicense", json={
        "addLicenses": [{"skuId": sku, "disabledPlans": [off]}], "removeLicenses": []}
    ).raise_for_status()
    consumed = _consumed(graph, sku)
    c_direct = _candidate(store, direct_user, sku, direct_user["_part"], groups=[], direct=True)
    c_group = _candidate(store, group_user, group_user["_sku"].lower(), group_user["_part"],
                         groups=[gid], direct=False)

    assert apply_candidates(config, execute=True) == 0
    out = capsys.readouterr().out
    assert "2 applied" in out

    held = {a["skuId"].lower() for a in _user(graph, direct_user["id"])["assignedLicenses"]}
    assert sku not in held
    assert _consumed(graph, sku) == consumed - 1
    members = graph.get(f"/groups/{gid}/members").json()["value"]
    assert group_user["id"] not in {m["id"] for m in members}
    with store.session() as s:
        changes = {c.candidate_id: c for c in s.exec(select(AppliedChange))}
        statuses = {c.id: c.status for c in s.exec(select(Candidate))}
    assert changes[c_direct].status == "applied"
    assert changes[c_direct].prior["disabled_plans"] == [off]
    assert changes[c_group].status == "pending_confirmation"
    assert statuses == {c_direct: "applied", c_group: "applied"}

    # a second apply changes nothing; it confirms the group removal once Microsoft processed it
    assert apply_candidates(config, execute=True) == 0
    assert "0 applied" in capsys.readouterr().out
    for _ in range(50):  # Microsoft (the simulator) processes group removals a little later
        if confirm_live(store, lambda _: connection):
            break
        time.sleep(0.1)
    with store.session() as s:
        assert s.exec(select(AppliedChange.status).where(
            AppliedChange.candidate_id == c_group)).one() == "confirmed"

    assert restore_candidates(config, [c_direct, c_group]) == 0
    restored = _user(graph, direct_user["id"])["assignedLicenses"]
    assert [a["disabledPlans"] for a in restored if a["skuId"].lower() == sku] == [[off]]
    assert _consumed(graph, sku) == consumed
    members = graph.get(f"/groups/{gid}/members").json()["value"]
    assert group_user["id"] in {m["id"] for m in members}
    with store.session() as s:
        assert {c.status for c in s.exec(select(Candidate))} == {"restored"}
        kinds = [d.decision for d in s.exec(select(Decision).order_by(col(Decision.id)))]
    assert kinds.count("applied") == 2 and kinds.count("restored") == 2
    store.dispose()


def _direct_users(sim: Simulator, skip: int = 0) -> Iterator[dict[str, Any]]:
    seen = 0
    for u in sim.truth.users():
        lic = next((lic for lic in u["licenses"] if lic["via"] == ["direct"]), None)
        if u["accountEnabled"] and lic is not None:
            seen += 1
            if seen > skip:
                yield {**u, "_sku": lic["skuId"].lower(), "_part": lic["skuPartNumber"]}


def _approve(store: Store, u: dict[str, Any], **evidence: Any) -> str:
    cid = _candidate(store, u, u["_sku"], u["_part"], groups=[], direct=True)
    if evidence:
        with store.session() as s:
            c = s.get(Candidate, cid)
            assert c is not None
            c.evidence = {**c.evidence, **evidence}
            c.last_activity = evidence.get("_last", c.last_activity)
            c.evidence = {k: v for k, v in c.evidence.items() if k != "_last"}
    return cid


def test_plan_changes_nothing(sim: Simulator, config: Config, graph: httpx.Client,
                              capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    u = next(_direct_users(sim, skip=20))
    cid = _approve(store, u)
    assert apply_candidates(config, execute=False) == 0
    out = capsys.readouterr().out
    assert "Reclamation plan" in out
    [row] = plan_rows(config, store)
    assert (row["id"], row["plan"], row["steps"]) == (cid, "apply", f"remove {u['_part']}")
    assert u["_sku"] in {a["skuId"].lower() for a in _user(graph, u["id"])["assignedLicenses"]}
    store.dispose()


def test_permission_error_stops_with_the_fix(sim: Simulator, config: Config,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    users = _direct_users(sim, skip=10)
    first, second = next(users), next(users)
    _approve(store, first)
    _approve(store, second)
    granted = set(sim.tenant.app.roles)
    sim.tenant.app.roles -= {"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All",
                             "Directory.ReadWrite.All"}
    try:
        assert apply_candidates(config, execute=True) == 3
    finally:
        sim.tenant.app.roles |= granted
    out = capsys.readouterr().out
    assert "LicenseAssignment.ReadWrite.All" in out and "admin consent" in out
    with store.session() as s:
        assert [c.status for c in s.exec(select(AppliedChange))] == ["failed"]  # stopped at once
        assert {c.status for c in s.exec(select(Candidate))} == {"approved"}
    store.dispose()


def test_protected_refused_and_max_per_run(sim: Simulator, config: Config, graph: httpx.Client,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    users = _direct_users(sim, skip=30)
    boss, a, b = next(users), next(users), next(users)
    for u in (boss, a, b):
        cid = _approve(store, u)
        if u is boss:  # the most valuable one comes first
            with store.session() as s:
                c = s.get(Candidate, cid)
                assert c is not None
                c.monthly_saving = 99.0
    path = config.source_path
    assert path is not None
    with path.open("a", encoding="utf-8") as f:
        f.write(f'protected_users = ["{boss["userPrincipalName"]}"]\n')
    text = path.read_text(encoding="utf-8").replace("max_per_run = 5", "max_per_run = 1")
    path.write_text(text, encoding="utf-8")
    limited = load_config(path)
    assert apply_candidates(limited, execute=True) == 0
    out = capsys.readouterr().out
    assert "protected user" in out and "Stopped at max_per_run = 1" in out
    assert "1 applied" in out
    held = {a["skuId"].lower() for a in _user(graph, boss["id"])["assignedLicenses"]}
    assert boss["_sku"] in held
    store.dispose()


def test_new_sign_in_after_the_evidence_skips(sim: Simulator, config: Config,
                                              graph: httpx.Client,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    for u in _direct_users(sim, skip=40):
        activity = _user(graph, u["id"]).get("signInActivity") or {}
        if str(activity.get("lastSuccessfulSignInDateTime") or "").startswith("2026-11"):
            break
    else:
        pytest.skip("no recently signed-in user in this simulated tenant")
    _approve(store, u, family="other", _last=date(2026, 1, 1))
    assert apply_candidates(config, execute=True) == 0
    assert "after the evidence" in capsys.readouterr().out
    assert u["_sku"] in {a["skuId"].lower() for a in _user(graph, u["id"])["assignedLicenses"]}
    store.dispose()


SALES, TEAM_MEMBERS = "1e1a282c-9c54-43a2-9310-98ef728faace", "7ac9fe77-66b7-4e5e-9e46-10eed1cff547"


def test_downgrade_adds_the_target_then_restore_puts_it_back(
        sim: Simulator, config: Config, graph: httpx.Client,
        capsys: pytest.CaptureFixture[str]) -> None:
    store = open_configured_store(config)
    user = next((u for u in _direct_users(sim, skip=0)
                 if SALES in u["direct_sku_ids"] and TEAM_MEMBERS not in u["sku_ids"]
                 and not any(lic["skuId"] == SALES and lic["via"] != ["direct"]
                             for lic in u["licenses"])), None)
    if user is None:
        pytest.skip("no direct Sales Enterprise user without Team Members in this tenant")
    cid = _candidate(store, {**user}, SALES, "DYN365_ENTERPRISE_SALES", groups=[], direct=True)
    with store.session() as s:
        c = s.get(Candidate, cid)
        assert c is not None
        c.action, c.target_sku_part_number = "downgrade", "DYN365_TEAM_MEMBERS"
        c.evidence = {**c.evidence, "target_sku_id": TEAM_MEMBERS}
    assert apply_candidates(config, execute=True) == 0
    assert "1 applied" in capsys.readouterr().out
    held = {a["skuId"].lower() for a in _user(graph, user["id"])["assignedLicenses"]}
    assert TEAM_MEMBERS in held and SALES not in held
    # the simulated tenant is over-assigned: a freed seat is not free; make room first
    pool = next(p for p in sim.tenant.pools if p.sku.sku_id == SALES)
    pool.enabled += 50
    assert restore_candidates(config, [cid]) == 0
    held = {a["skuId"].lower() for a in _user(graph, user["id"])["assignedLicenses"]}
    assert SALES in held and TEAM_MEMBERS not in held
    store.dispose()


def test_an_interrupted_apply_is_finished_by_the_next(sim: Simulator, config: Config,
                                                      graph: httpx.Client,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The prior state was recorded and the call went through, then the process died."""
    store = open_configured_store(config)
    u = next(_direct_users(sim, skip=50))
    cid = _approve(store, u)
    with store.session() as s:
        s.add(AppliedChange(candidate_id=cid, profile="simulated", user_id=u["id"],
                            sku_id=u["_sku"], action="remove", status="started",
                            prior={"direct": True, "disabled_plans": [], "group_ids": []},
                            applied_at=utcnow()))
    graph.post(f"/users/{u['id']}/assignLicense",
               json={"addLicenses": [], "removeLicenses": [u["_sku"]]}).raise_for_status()
    assert apply_candidates(config, execute=True) == 0
    assert "an earlier apply's change took effect" in capsys.readouterr().out
    with store.session() as s:
        assert s.exec(select(AppliedChange.status)).one() == "applied"
        assert s.exec(select(Candidate.status)).one() == "applied"
    store.dispose()


def test_an_assignment_in_error_is_no_path_to_remove(sim: Simulator, graph: httpx.Client
                                                     ) -> None:
    """A group licence in state Error holds no seat: apply's live read sees no hold and no
    group to take the user out of."""
    from license_analyzer.rules.graph_ops import read_user

    failed = [(u["id"], f["skuId"]) for u in sim.truth.users() for f in u["failed"]]
    assert failed
    user_id, sku_id = failed[0]
    live = read_user(graph, user_id, sku_id)
    assert live is not None and not live.held and live.groups == () and live.paths == ""
