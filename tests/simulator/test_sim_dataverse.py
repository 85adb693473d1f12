"""Dataverse: WhoAmI, audit settings, systemusers and the access-audit stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from license_analyzer.simulator import Simulator, SimulatorOptions, Traps
from tests.simulator.simclient import Api

ANNOT = 'odata.include-annotations="*"'


def test_whoami_and_organization_settings(api: Api) -> None:
    me = api.dataverse(0, "/WhoAmI").json()
    assert set(me) >= {"BusinessUnitId", "UserId", "OrganizationId"}
    org = api.dataverse(
        0,
        "/organizations?$select=isauditenabled,isuseraccessauditenabled,"
        "useraccessauditinginterval,auditretentionperiodv2",
    ).json()
    row = org["value"][0]
    assert row["isauditenabled"] is True and row["useraccessauditinginterval"] == 4
    assert row["auditretentionperiodv2"] in (90, -1)


def test_systemusers_paging_and_kinds(api: Api) -> None:
    prefer = {"Prefer": "odata.maxpagesize=25"}
    first = api.dataverse(
        0,
        "/systemusers?$select=fullname,azureactivedirectoryobjectid,"
        "applicationid,accessmode,isdisabled",
        headers=prefer,
    )
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=25"
    rows = api.follow(first, lambda link: api.dataverse(0, link, headers=prefer))
    names = {r["fullname"] for r in rows}
    assert {"SYSTEM", "INTEGRATION", "# license-analyzer"} <= names
    assert any(r["applicationid"] for r in rows)
    assert any(r["accessmode"] == 2 for r in rows)
    assert len({r["systemuserid"] for r in rows}) == len(rows)
    apps = api.dataverse(0, "/systemusers?$filter=applicationid ne null&$select=fullname").json()
    assert all(r["fullname"].startswith("#") for r in apps["value"])


def test_systemuserids_differ_per_environment(api: Api) -> None:
    def ids(env: int) -> dict[str, str]:
        rows = api.dataverse(env, "/systemusers?$select=azureactivedirectoryobjectid").json()
        return {
            r["azureactivedirectoryobjectid"]: r["systemuserid"]
            for r in rows["value"]
            if r["azureactivedirectoryobjectid"]
        }

    a, b = ids(0), ids(1)
    common = set(a) & set(b)
    assert common and all(a[k] != b[k] for k in common)


def _audit_pages(api: Api, env: int, query: str, page: int) -> list[dict[str, object]]:
    headers = {"Prefer": f"odata.maxpagesize={page}"}
    first = api.dataverse(env, "/audits?" + query, headers=headers)
    return api.follow(first, lambda link: api.dataverse(env, link, headers=headers))


def test_audits_to_the_end_match_truth(api: Api, shared_sim: Simulator) -> None:
    url = api.info["dataverse"][0]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    q = (
        "$select=createdon,action,operation,objecttypecode,_objectid_value,_userid_value"
        "&$filter=(action eq 64 or action eq 65) and createdon ge 2026-10-01T00:00:00Z"
        "&$orderby=createdon asc"
    )
    rows = _audit_pages(api, 0, q, 500)
    assert len(rows) == shared_sim.truth.audit_records(url, start) > 500
    assert len({r["auditid"] for r in rows}) == len(rows)
    stamps = [str(r["createdon"]) for r in rows]
    assert stamps == sorted(stamps)
    assert all(r["operation"] == 4 and r["action"] in (64, 65) for r in rows)
    desc = _audit_pages(api, 0, q.replace("asc", "desc"), 1000)
    assert [r["auditid"] for r in desc] == [r["auditid"] for r in rows][::-1]


def test_audit_skiptoken_is_a_paging_cookie(api: Api, shared_sim: Simulator) -> None:
    r = api.dataverse(0, "/audits?$select=createdon", headers={"Prefer": "odata.maxpagesize=5"})
    link = r.json()["@odata.nextLink"]
    token = parse_qs(urlsplit(link).query)["$skiptoken"][0]
    assert token.startswith('<cookie pagenumber="2"')
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=5"
    big = api.dataverse(
        1, "/audits?$select=createdon", headers={"Prefer": "odata.maxpagesize=9000"}
    )
    assert big.headers["Preference-Applied"] == "odata.maxpagesize=5000"
    total = shared_sim.truth.audit_records(api.info["dataverse"][1])
    assert len(big.json()["value"]) == min(5000, total)


def test_filter_forms_and_annotations(api: Api) -> None:
    q = (
        "$filter=createdon gt 2026-11-10T00:00:00Z and createdon lt 2026-11-11T00:00:00Z and "
        "action eq 64&$orderby=createdon desc"
    )
    r = api.dataverse(0, "/audits?" + q, headers={"Prefer": ANNOT})
    body = r.json()
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1
    rec = body["value"][0]
    assert rec["action"] == 64
    assert rec["action@OData.Community.Display.V1.FormattedValue"] == "User Access via Web"
    assert rec["_objectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"
    assert "_userid_value@OData.Community.Display.V1.FormattedValue" in rec
    assert "2026-11-10T" in str(rec["createdon"])
    plain = api.dataverse(0, "/audits?" + q).json()["value"][0]
    assert not any("@" in k for k in plain)
    one_user = rec["_userid_value"]
    mine = api.dataverse(0, f"/audits?$filter=_userid_value eq {one_user}").json()["value"]
    assert mine and all(m["_userid_value"] == one_user for m in mine)


def test_legacy_records_carry_user_only_in_userid(api: Api) -> None:
    # Environment 1 keeps audit records forever, so the old ones are still there.
    rows = _audit_pages(
        api,
        1,
        "$filter=createdon lt 2026-06-01T00:00:00Z&$select=createdon,"
        "objecttypecode,_objectid_value,_userid_value",
        5000,
    )
    legacy = [r for r in rows if r["objecttypecode"] != "systemuser"]
    assert legacy and all(r["_objectid_value"] is None and r["_userid_value"] for r in legacy)


def test_no_application_user_gives_403(own: Api, sim: Simulator) -> None:
    sim.tenant.dataverse[1].application_user = False
    r = own.dataverse(1, "/WhoAmI")
    assert r.status_code == 403
    assert r.json() == {
        "error": {"code": "0x80072560", "message": "The user is not a member of the organization."}
    }
    assert own.dataverse(0, "/WhoAmI").status_code == 200


def test_auditing_off_stops_new_records(own: Api, sim: Simulator) -> None:
    env = sim.tenant.dataverse[0]
    url = env.url
    sim.advance(days=1)
    before = sim.truth.audit_records(url)
    env.auditing_enabled = False
    org = own.dataverse(0, "/organizations").json()["value"][0]
    assert org["isauditenabled"] is False
    sim.advance(days=3)
    off_at = sim.tenant.now - timedelta(days=3)
    assert sim.truth.audit_records(url, off_at) == 0
    assert sim.truth.audit_records(url) >= before - 400  # only retention trims
    env.auditing_enabled = True
    sim.advance(days=2)
    assert sim.truth.audit_records(url, sim.tenant.now - timedelta(days=2)) > 0


def test_late_records_appear_when_the_clock_moves(own: Api, sim: Simulator) -> None:
    env = sim.tenant.dataverse[0]
    a = env.audit
    # Stand one hour after a record that Dataverse stores hours late.
    recent = (a.t > int(sim.tenant.now.timestamp()) - 20 * 86400) & (a.delay > 7200)
    late_t = int(a.t[recent][0])
    sim.set_now(datetime.fromtimestamp(late_t + 3600, UTC))
    now_ts = int(sim.tenant.now.timestamp())
    pending = int(((a.t <= now_ts) & (a.t + a.delay > now_ts)).sum())
    assert pending > 0
    since = sim.tenant.now - timedelta(days=1)
    q = "$filter=createdon ge " + since.strftime("%Y-%m-%dT%H:%M:%SZ")
    upto = " and createdon le " + sim.tenant.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    seen_now = len(_audit_pages(own, 0, q + upto, 5000))
    assert seen_now == sim.truth.audit_records(env.url, since, sim.tenant.now)
    sim.advance(days=0, hours=15)
    later = len(_audit_pages(own, 0, q + upto, 5000))
    assert later == seen_now + pending


def test_late_records_trap_off() -> None:
    opts = SimulatorOptions(users=60, traps=Traps(late_audits=False, per_env_systemuserids=False))
    with Simulator(opts) as sim:
        env = sim.tenant.dataverse[0]
        assert int(env.audit.delay.max()) == 0
        humans0 = {s.aad_object_id: s.systemuserid for s in env.systemusers if s.kind == "human"}
        humans1 = {
            s.aad_object_id: s.systemuserid
            for s in sim.tenant.dataverse[1].systemusers
            if s.kind == "human"
        }
        common = set(humans0) & set(humans1)
        assert all(humans0[k] == humans1[k] for k in common)


def test_service_protection_limits() -> None:
    opts = SimulatorOptions(users=40, dataverse_requests_per_window=5, time_scale=0.01)
    with Simulator(opts) as sim:
        a = Api(sim)
        codes = [a.dataverse(0, "/WhoAmI") for _ in range(6)]
        assert [c.status_code for c in codes[:5]] == [200] * 5
        assert codes[5].status_code == 429
        assert codes[5].json()["error"]["code"] == "0x80072322"
        assert float(codes[5].headers["Retry-After"]) <= 3.0
        assert a.dataverse(1, "/WhoAmI").status_code == 200  # limits are per environment
        a.http.close()


def test_single_systemuser_and_unknown_segments(api: Api) -> None:
    first = api.dataverse(0, "/systemusers?$select=fullname").json()["value"][3]
    one = api.dataverse(0, f"/systemusers({first['systemuserid']})?$select=fullname")
    assert one.status_code == 200 and one.json()["fullname"] == first["fullname"]
    missing = api.dataverse(0, "/systemusers(00000000-0000-0000-0000-000000000001)")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "0x80040217"
    assert api.dataverse(0, "/contacts").status_code == 404
