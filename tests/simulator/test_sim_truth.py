"""Ground truth agrees with what a careful client can collect over HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime

from license_analyzer.simulator import Simulator, SimulatorOptions
from license_analyzer.simulator.generate import build_tenant
from tests.simulator.simclient import Api

PREFER = {"Prefer": "odata.maxpagesize=5000"}
CRM = "00000007-0000-0000-c000-000000000000"


def test_activity_days_match_collected_audits_and_signins(api: Api, shared_sim: Simulator) -> None:
    since = date(2026, 11, 1)
    truth = [r for r in shared_sim.truth.activity_days(since)]
    for env_index, url in enumerate(api.info["dataverse"]):
        users = api.dataverse(
            env_index, "/systemusers?$select=azureactivedirectoryobjectid,applicationid,fullname"
        ).json()["value"]
        human = {
            u["systemuserid"]: u["azureactivedirectoryobjectid"]
            for u in users
            if u["azureactivedirectoryobjectid"] and not u["applicationid"]
        }
        first = api.dataverse(
            env_index,
            "/audits?$select=createdon,_userid_value&$filter=createdon ge 2026-11-01T00:00:00Z",
            headers=PREFER,
        )
        rows = api.follow(first, lambda link, e=env_index: api.dataverse(e, link, headers=PREFER))
        collected = Counter(
            (human[r["_userid_value"]], str(r["createdon"])[:10])
            for r in rows
            if r["_userid_value"] in human
        )
        expected = {
            (u, d.isoformat()): n for u, s, e, d, n in truth if s == "dataverse_audit" and e == url
        }
        assert dict(collected) == expected
    signins = api.follow(
        api.graph(
            f"/auditLogs/signIns?$filter=resourceId eq '{CRM}' and "
            "createdDateTime ge 2026-11-01T00:00:00Z"
        ),
        api.graph,
    )
    collected = Counter((s["userId"], s["createdDateTime"][:10]) for s in signins)
    expected = {(u, d.isoformat()): n for u, s, e, d, n in truth if s == "signin_crm"}
    assert dict(collected) == expected


def test_personas_are_all_present(shared_sim: Simulator) -> None:
    personas = {u["persona"] for u in shared_sim.truth.users()}
    assert {
        "active",
        "inactive",
        "never",
        "low_usage",
        "read_only",
        "disabled",
        "guest",
        "service",
        "breakglass",
        "fno",
        "team_member",
        "m365",
    } <= personas


def test_generation_is_deterministic() -> None:
    opts = SimulatorOptions(users=150, seed=11)
    a = build_tenant(opts, "https://127.0.0.1:1")
    b = build_tenant(opts, "https://127.0.0.1:1")
    assert [u.id for u in a.users] == [u.id for u in b.users]
    assert (a.dataverse[0].audit.t == b.dataverse[0].audit.t).all()
    c = build_tenant(SimulatorOptions(users=150, seed=12), "https://127.0.0.1:1")
    assert [u.id for u in a.users] != [u.id for u in c.users]


def test_new_activity_appears_as_the_clock_moves() -> None:
    with Simulator(SimulatorOptions(users=80)) as sim:
        before = sim.truth.activity_days()
        sim.set_now(datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
        after = sim.truth.activity_days()
        assert max(r[3] for r in after) > max(r[3] for r in before)
