"""Graph /users: paging, filters, signInActivity rules, licence states and their quirks."""

from __future__ import annotations

from typing import Any

from license_analyzer.simulator import Simulator, SimulatorOptions, Traps
from tests.simulator.simclient import Api

SELECT = (
    "id,userPrincipalName,accountEnabled,userType,department,assignedLicenses,"
    "licenseAssignmentStates,signInActivity"
)
SALES = "1e1a282c-9c54-43a2-9310-98ef728faace"


def all_users(api: Api, query: str, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    first = api.graph(f"/users?{query}", headers=headers)
    return api.follow(first, lambda link: api.graph(link, headers=headers))


def test_paging_to_the_end_with_short_pages(api: Api) -> None:
    sizes = []
    r = api.graph("/users?$select=id&$top=50")
    seen: list[str] = []
    while True:
        body = r.json()
        sizes.append(len(body["value"]))
        seen += [u["id"] for u in body["value"]]
        if "@odata.nextLink" not in body:
            break
        assert "$skiptoken=" in body["@odata.nextLink"]
        r = api.graph(body["@odata.nextLink"])
    assert len(seen) == len(set(seen)) == 300
    assert any(s < 50 for s in sizes[:-1]), "Graph returns short pages mid-stream"
    assert r.headers["content-type"].startswith("application/json;odata.metadata=minimal")
    assert r.headers["request-id"] and r.headers["OData-Version"] == "4.0"


def test_default_properties_and_select(api: Api) -> None:
    u = api.graph("/users?$top=1").json()["value"][0]
    assert set(u) == {
        "businessPhones",
        "displayName",
        "givenName",
        "jobTitle",
        "mail",
        "mobilePhone",
        "officeLocation",
        "preferredLanguage",
        "surname",
        "userPrincipalName",
        "id",
    }
    bad = api.graph("/users?$select=id,nope")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "Request_BadRequest"


def test_top_limits_with_signin_activity(api: Api) -> None:
    assert len(api.graph("/users?$select=id&$top=999").json()["value"]) > 250
    r = api.graph("/users?$select=id,signInActivity&$top=999")
    assert len(r.json()["value"]) <= 500
    assert api.graph("/users?$top=1000").status_code == 400


def test_filters(api: Api) -> None:
    users = all_users(api, f"$select={SELECT}&$top=999")
    holders = {
        u["id"] for u in users if any(a["skuId"].lower() == SALES for a in u["assignedLicenses"])
    }
    got = all_users(api, f"$select=id&$filter=assignedLicenses/any(x:x/skuId eq {SALES})")
    assert {u["id"] for u in got} == holders and holders
    disabled = all_users(api, "$select=id,accountEnabled&$filter=accountEnabled eq false")
    assert disabled and all(u["accountEnabled"] is False for u in disabled)
    ids = [users[3]["id"], users[7]["id"]]
    r = api.graph(f"/users?$filter=id in ('{ids[0]}','{ids[1]}')&$select=id")
    assert {u["id"] for u in r.json()["value"]} == set(ids)
    stale = all_users(
        api,
        "$select=id,signInActivity&$filter=signInActivity/"
        "lastSignInDateTime le 2026-09-01T00:00:00Z",
    )
    assert stale
    for u in stale:
        assert u["signInActivity"]["lastSignInDateTime"] <= "2026-09-01T00:00:00Z"


def test_signin_activity_filter_cannot_combine(api: Api) -> None:
    r = api.graph(
        "/users?$filter=signInActivity/lastSignInDateTime le 2026-09-01T00:00:00Z"
        " and accountEnabled eq true"
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "Request_UnsupportedQuery"


def test_advanced_queries_need_consistency_level(api: Api) -> None:
    q = "/users?$filter=endsWith(userPrincipalName,'@contoso.com')&$select=id"
    r = api.graph(q)
    assert r.status_code == 400
    assert "ConsistencyLevel" in r.json()["error"]["message"]
    r = api.graph(q + "&$count=true", headers={"ConsistencyLevel": "eventual"})
    assert r.status_code == 200
    assert r.json()["@odata.count"] > 0
    assert api.graph("/users?$count=true").status_code == 400


def test_quirks_in_licence_states_and_signin_activity(api: Api) -> None:
    users = all_users(api, f"$select={SELECT}&$top=999")
    states = [s for u in users for s in u["licenseAssignmentStates"]]
    assert any(s["error"] == "None" for s in states)
    assert any(s["state"] != s["state"].strip() for s in states)
    assert any(s["assignedByGroup"] for s in states)
    assert all(s["lastUpdatedDateTime"] for s in states)
    assert any(a["skuId"] != a["skuId"].lower() for u in users for a in u["assignedLicenses"])
    sia = [u["signInActivity"] for u in users]
    assert any(s is None for s in sia)
    assert any(s and s["lastNonInteractiveSignInDateTime"] == "0001-01-01T00:00:00Z" for s in sia)
    assert any(s and s["lastSuccessfulSignInDateTime"] == "" for s in sia)


def test_traps_can_be_switched_off() -> None:
    opts = SimulatorOptions(
        users=80,
        traps=Traps(
            short_pages=False, sentinel_dates=False, none_error_strings=False, sku_id_case=False,
            group_license_errors=False,
        ),
    )
    with Simulator(opts) as sim:
        a = Api(sim)
        users = all_users(a, f"$select={SELECT}&$top=999")
        states = [s for u in users for s in u["licenseAssignmentStates"]]
        assert all(s["error"] is None and s["state"] == "Active" for s in states)
        assert all(x["skuId"] == x["skuId"].lower() for u in users for x in u["assignedLicenses"])
        assert all(
            v != "0001-01-01T00:00:00Z"
            for u in users
            if u["signInActivity"]
            for v in u["signInActivity"].values()
        )
        sizes = [len(a.graph("/users?$select=id&$top=10").json()["value"])]
        assert sizes == [10]
        a.http.close()


def test_get_user_and_missing_permission(own: Api, sim: Simulator) -> None:
    uid = sim.truth.users()[5]["id"]
    r = own.graph(f"/users/{uid}?$select=id,department")
    assert r.status_code == 200 and r.json()["id"] == uid
    assert own.graph("/users/00000000-0000-0000-0000-00000000beef").status_code == 404
    sim.tenant.app.roles.discard("User.Read.All")
    own._tokens.clear()
    r = own.graph("/users")
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "Authorization_RequestDenied"
    assert err["message"] == "Insufficient privileges to complete the operation."
    assert set(err["innerError"]) == {"date", "request-id", "client-request-id"}


def test_no_premium_licence(own: Api, sim: Simulator) -> None:
    sim.tenant.has_p1 = False
    r = own.graph("/users?$select=id,signInActivity")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "Authentication_RequestFromNonPremiumTenantOrB2CTenant"
    assert own.graph("/auditLogs/signIns").status_code == 403
    assert own.graph("/users?$select=id").status_code == 200
