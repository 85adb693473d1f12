"""Graph licensing: pools, subscriptions, assignLicense rules and group-based licensing."""

from __future__ import annotations

import time
from typing import Any

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api

E3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
TEAM = "7ac9fe77-66b7-4e5e-9e46-10eed1cff547"
EXCHANGE = "efb87545-963c-4e0d-99df-69c6916d9eb0"


def test_organization_shows_premium_plans(api: Api) -> None:
    org = api.graph("/organization").json()["value"][0]
    assert org["id"] == api.info["tenant_id"]
    plans = {p["servicePlanId"] for p in org["assignedPlans"]}
    assert "41781fb2-bc02-4b7c-bd55-b576c07bb09d" in plans


def test_pools_cover_the_interesting_cases(api: Api) -> None:
    skus = {s["skuPartNumber"]: s for s in api.graph("/subscribedSkus").json()["value"]}
    assert {
        "DYN365_ENTERPRISE_SALES",
        "DYN365_TEAM_MEMBERS",
        "SPE_E3",
        "SPE_E5",
        "ENTERPRISEPACK",
        "AAD_PREMIUM",
        "CDS_DB_CAPACITY",
        "FLOW_FREE",
        "D365_SALES_ENT_ATTACH",
        "DYN365_FINANCE",
        "DYN365_SCM",
    } <= set(skus)
    sales = skus["DYN365_ENTERPRISE_SALES"]
    assert sales["consumedUnits"] > sales["prepaidUnits"]["enabled"]  # over-assigned
    scm = skus["DYN365_SCM"]
    assert scm["prepaidUnits"]["enabled"] > scm["consumedUnits"]  # shelfware
    assert skus["CDS_DB_CAPACITY"]["appliesTo"] == "Company"
    assert any(
        s["prepaidUnits"]["warning"] > 0 and s["capabilityStatus"] == "Warning"
        for s in skus.values()
    )
    subs = api.graph("/directory/subscriptions").json()["value"]
    assert any(s["isTrial"] for s in subs)
    assert any(
        s["nextLifecycleDateTime"] and s["nextLifecycleDateTime"] < "2027-02-19" for s in subs
    )
    only = api.graph("/subscribedSkus?$select=skuId,consumedUnits").json()["value"][0]
    assert set(only) <= {"skuId", "consumedUnits", "id"}


def _user(own: Api, uid: str) -> dict[str, Any]:
    r = own.graph(f"/users/{uid}?$select=id,assignedLicenses,licenseAssignmentStates")
    assert r.status_code == 200, r.text
    return r.json()


def test_assign_license_rules(own: Api, sim: Simulator) -> None:
    truth = sim.truth.users()
    direct = next(u for u in truth if TEAM not in u["sku_ids"] and u["persona"] == "m365")
    before = {s["skuId"]: s["consumedUnits"] for s in own.graph("/subscribedSkus").json()["value"]}
    r = own.graph(f"/users/{direct['id']}/assignLicense", "POST", json={"removeLicenses": [E3]})
    assert r.status_code == 400
    assert r.json()["error"]["message"].endswith("The missing parameters are: addLicenses.")
    r = own.graph(
        f"/users/{direct['id']}/assignLicense",
        "POST",
        json={"addLicenses": [{"skuId": TEAM, "disabledPlans": [EXCHANGE]}], "removeLicenses": []},
    )
    assert r.status_code == 200, r.text
    lic = {a["skuId"].lower(): a for a in _user(own, direct["id"])["assignedLicenses"]}
    assert lic[TEAM]["disabledPlans"] == [EXCHANGE]
    after = {s["skuId"]: s["consumedUnits"] for s in own.graph("/subscribedSkus").json()["value"]}
    assert after[TEAM] == before[TEAM] + 1
    r = own.graph(
        f"/users/{direct['id']}/assignLicense",
        "POST",
        json={"addLicenses": [], "removeLicenses": [TEAM]},
    )
    assert r.status_code == 200
    assert TEAM not in {a["skuId"].lower() for a in _user(own, direct["id"])["assignedLicenses"]}


def test_inherited_licence_cannot_be_removed_directly(own: Api, sim: Simulator) -> None:
    member = next(
        u
        for u in sim.truth.users()
        if any(
            v.startswith("group:") and "direct" not in v
            for lic in u["licenses"]
            for v in [",".join(lic["via"])]
        )
    )
    sku = next(lic["skuId"] for lic in member["licenses"] if "direct" not in lic["via"])
    r = own.graph(
        f"/users/{member['id']}/assignLicense",
        "POST",
        json={"addLicenses": [], "removeLicenses": [sku]},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "User license is inherited from a group membership "
        "and it cannot be removed directly from the user."
    )


def test_groups_members_and_removal_rules(own: Api, sim: Simulator) -> None:
    groups = own.graph(
        "/groups?$select=id,displayName,groupTypes,membershipRule,"
        "onPremisesSyncEnabled,mailEnabled,securityEnabled,assignedLicenses"
    ).json()["value"]
    by_name = {g["displayName"]: g for g in groups}
    assert "DynamicMembership" in by_name["All Finance Users"]["groupTypes"]
    assert by_name["All Finance Users"]["membershipRule"]
    assert by_name["CORP-M365-E3"]["onPremisesSyncEnabled"] is True
    assert by_name["Customer Service Team"]["mailEnabled"] is True
    assert len(by_name["Power Platform Makers"]["assignedLicenses"]) == 2
    for name in ("All Finance Users", "CORP-M365-E3", "Customer Service Team"):
        g = by_name[name]
        members = own.graph(f"/groups/{g['id']}/members?$select=id").json()["value"]
        if not members:
            continue
        r = own.graph(f"/groups/{g['id']}/members/{members[0]['id']}/$ref", "DELETE")
        assert r.status_code == 400, name
        assert r.json()["error"]["code"] == "Request_BadRequest"
    sales = by_name["Dynamics Sales Users"]
    first = own.graph(f"/groups/{sales['id']}/members?$select=id,userPrincipalName&$top=5")
    members = own.follow(first, own.graph)
    assert members and all(m["@odata.type"] == "#microsoft.graph.user" for m in members)
    uid = members[0]["id"]
    r = own.graph(f"/groups/{sales['id']}/members/{uid}/$ref", "DELETE")
    assert r.status_code == 204
    # Entra processes group licensing asynchronously: the licence lingers briefly.
    states = _user(own, uid)["licenseAssignmentStates"]
    assert any(s["assignedByGroup"] == sales["id"] for s in states)
    time.sleep(sim.opts.scaled(sim.opts.group_processing_s) + 0.1)
    states = _user(own, uid)["licenseAssignmentStates"]
    assert not any(s["assignedByGroup"] == sales["id"] for s in states)
    assert own.graph(f"/groups/{sales['id']}/members/{uid}/$ref", "DELETE").status_code == 404
    r = own.graph(
        f"/groups/{sales['id']}/members/$ref",
        "POST",
        json={"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{uid}"},
    )
    assert r.status_code == 204
    assert any(
        s["assignedByGroup"] == sales["id"] for s in _user(own, uid)["licenseAssignmentStates"]
    )


def test_applications_show_secret_expiry(api: Api) -> None:
    r = api.graph(f"/applications?$filter=appId eq '{api.info['client_id']}'")
    app = r.json()["value"][0]
    assert app["appId"] == api.info["client_id"]
    assert app["passwordCredentials"][0]["endDateTime"]
