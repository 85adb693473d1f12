"""Finance & Operations SystemUsers and the Power Platform admin environment list."""

from __future__ import annotations

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api


def test_system_users_and_join_keys(api: Api, shared_sim: Simulator) -> None:
    rows = api.fno(0, "/SystemUsers?cross-company=true").json()["value"]
    keys = {
        "UserID",
        "UserName",
        "Alias",
        "Email",
        "Enabled",
        "Company",
        "NetworkDomain",
        "UserObjectId",
        "AccountType",
        "ExternalUser",
    }
    assert all(keys <= set(r) for r in rows)
    entra = {u["id"]: u for u in shared_sim.truth.users()}
    upns = {u["userPrincipalName"].lower() for u in entra.values()}
    by_oid = [r for r in rows if r["UserObjectId"] in entra]
    by_alias = [r for r in rows if not r["UserObjectId"] and r["Alias"].lower() in upns]
    nothing = [r for r in rows if r["UserObjectId"] not in entra and r["Alias"].lower() not in upns]
    assert by_oid and by_alias and nothing
    assert any(r["Alias"] != r["Alias"].lower() for r in by_alias)


def test_paging_select_and_filter(api: Api) -> None:
    prefer = {"Prefer": "odata.maxpagesize=7"}
    first = api.fno(0, "/SystemUsers?$select=UserID,Alias,Enabled", headers=prefer)
    rows = api.follow(first, lambda link: api.fno(0, link, headers=prefer))
    assert len(rows) == len(api.fno(0, "/SystemUsers").json()["value"]) > 7
    assert set(rows[0]) == {"@odata.etag", "UserID", "Alias", "Enabled"}
    enabled = api.fno(0, "/SystemUsers?$filter=Enabled eq false").json()["value"]
    assert all(r["Enabled"] is False for r in enabled)


def test_audience_must_match_exactly_and_app_must_be_registered(own: Api, sim: Simulator) -> None:
    url = own.info["finance_operations"][0]
    for resource in (url.upper().replace("HTTPS", "https"), url + "/"):
        r = own.token_response(resource)
        assert r.status_code == 200, r.text  # Entra issues it ...
        token = r.json()["access_token"]
        got = own.http.get(url + "/data/SystemUsers", headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 401  # ... but F&O refuses the audience
    assert own.fno(0, "/SystemUsers").status_code == 200
    sim.tenant.finance_operations[0].app_registered = False
    r = own.fno(0, "/SystemUsers")
    assert r.status_code == 401 and r.json()["Message"] == "Authentication failed."


def test_power_platform_environments_come_in_pages_linked_by_next_link(api: Api) -> None:
    """The admin API pages with `nextLink`, not `@odata.nextLink`; the token may name the
    Power Apps service audience Microsoft's own clients ask for, or the simulator's URL."""
    base = api.info["power_platform_url"]
    url: str | None = (base + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"
                       "?api-version=2023-06-01")
    envs, pages = [], 0
    for audience in ("https://service.powerapps.com", base):
        assert api.token_response(audience).status_code == 200
    token = api.token("https://service.powerapps.com")
    while url:
        r = api.http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert "@odata.nextLink" not in body
        envs += body["value"]
        url = body.get("nextLink")
        pages += 1
    assert pages >= 2
    linked = [e["properties"]["linkedEnvironmentMetadata"] for e in envs]
    assert None in linked
    urls = {m["instanceApiUrl"] for m in linked if m}
    assert urls == set(api.info["dataverse"])
