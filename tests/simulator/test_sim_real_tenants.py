"""What real tenants do that a first simulator did not: each behaviour on by default, as
Microsoft documents it (the simulator's code cites the pages)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import Api

CS_SKU = "749742bf-0d37-4158-a120-33567104deeb"  # DYN365_ENTERPRISE_CUSTOMER_SERVICE
ERP = "00000015-0000-0000-c000-000000000000"
USERS = "/users?$select=id,assignedLicenses,licenseAssignmentStates,signInActivity&$top=500"


def _users(api: Api, query: str = USERS) -> list[dict[str, Any]]:
    return api.follow(api.graph(query), lambda url: api.graph(url))


def test_a_group_that_outgrew_its_seats_leaves_members_in_error(api: Api) -> None:
    """CountViolation: the assignment is recorded in state Error, the SKU is not in
    assignedLicenses and no seat is consumed."""
    users = _users(api)
    failed = [(u, s) for u in users for s in u["licenseAssignmentStates"]
              if s["state"] == "Error"]
    assert failed
    for user, state in failed:
        assert state["error"] == "CountViolation" and state["assignedByGroup"]
        assert state["skuId"].lower() not in {a["skuId"].lower() for a in user["assignedLicenses"]}
    holders = sum(1 for u in users if CS_SKU in {a["skuId"].lower() for a in u["assignedLicenses"]})
    sku = next(s for s in api.graph("/subscribedSkus").json()["value"] if s["skuId"] == CS_SKU)
    assert sku["consumedUnits"] == holders
    # the group outgrew exactly the seats bought (its own Enabled subscription)
    assert sku["prepaidUnits"]["enabled"] == holders


def test_v1_lists_interactive_sign_ins_and_beta_both_kinds_when_asked(api: Api) -> None:
    window = f"resourceId eq '{ERP}' and status/errorCode eq 0"
    both = " and signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')"
    base = api.info["graph_url"].rsplit("/", 1)[0]

    def rows(version: str, flt: str) -> list[dict[str, Any]]:
        url = f"{base}/{version}/auditLogs/signIns?$filter={flt}&$top=1000"
        return api.follow(api.graph(url), lambda u: api.graph(u))

    v1 = rows("v1.0", window)
    beta_default = rows("beta", window)
    beta_all = rows("beta", window + both)
    assert v1 and all(r["isInteractive"] and "signInEventTypes" not in r for r in v1)
    assert {r["id"] for r in beta_default} == {r["id"] for r in v1}
    kinds = {r["signInEventTypes"][0] for r in beta_all}
    assert kinds == {"interactiveUser", "nonInteractiveUser"}
    assert all(r["isInteractive"] == (r["signInEventTypes"] == ["interactiveUser"])
               for r in beta_all)
    # some people use Finance & Operations only non-interactively: v1.0 never shows them
    seen_v1 = {r["userId"] for r in v1}
    assert {r["userId"] for r in beta_all} - seen_v1
    refused = api.graph(f"/auditLogs/signIns?$filter={window}{both}")
    assert refused.status_code == 400 and "signInEventTypes" in refused.json()["error"]["message"]


def test_lastsuccessful_sign_in_is_blank_before_december_2023(api: Api) -> None:
    """Some idle people last tried to sign in before Graph kept successful sign-ins."""
    cutoff = datetime(2023, 12, 1, tzinfo=UTC)
    dormant = [u["signInActivity"] for u in _users(api) if u.get("signInActivity")
               and (u["signInActivity"].get("lastSignInDateTime") or "0001")[:4] not in ("0001",)
               and datetime.fromisoformat(u["signInActivity"]["lastSignInDateTime"]) < cutoff]
    assert dormant
    assert all(a["lastSuccessfulSignInDateTime"] in ("", None) for a in dormant)


def test_the_standalone_p1_is_in_its_grace_period(api: Api) -> None:
    org = api.graph("/organization").json()["value"][0]
    p1 = [p for p in org["assignedPlans"]
          if p["servicePlanId"] == "41781fb2-bc02-4b7c-bd55-b576c07bb09d"]
    assert {p["capabilityStatus"] for p in p1} == {"Enabled", "Warning"}
    sku = next(s for s in api.graph("/subscribedSkus").json()["value"]
               if s["skuPartNumber"] == "AAD_PREMIUM")
    assert sku["capabilityStatus"] == "Warning" and sku["prepaidUnits"]["warning"] > 0


def test_subscriptions_that_will_not_renew_fall_inside_the_horizon(api: Api) -> None:
    now = api.sim.tenant.now
    soon = [s for s in api.graph("/directory/subscriptions").json()["value"]
            if s["nextLifecycleDateTime"]
            and (datetime.fromisoformat(s["nextLifecycleDateTime"]) - now).days <= 90]
    assert {s["status"] for s in soon} >= {"Enabled", "Suspended", "LockedOut"}
    assert any(s["isTrial"] for s in soon)


@pytest.fixture(scope="module")
def real_time() -> Iterator[Api]:
    """Unscaled time: Microsoft's own numbers in headers and windows."""
    opts = SimulatorOptions(users=40, signin_requests_per_10s=100,
                            signin_activity_requests_per_minute=3)
    with Simulator(opts) as sim:
        api = Api(sim)
        yield api
        api.http.close()


def test_signin_activity_reads_are_limited_per_minute(real_time: Api) -> None:
    with_activity = "/users?$select=id,signInActivity&$top=5"
    codes = [real_time.graph(with_activity).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    throttled = real_time.graph(with_activity)
    assert float(throttled.headers["Retry-After"]) > 10  # the minute's window
    assert real_time.graph("/users?$select=id&$top=5").status_code == 200  # not other reads


def test_dataverse_reports_the_budget_left_counting_down(real_time: Api) -> None:
    first = real_time.dataverse(0, "/WhoAmI")
    second = real_time.dataverse(0, "/WhoAmI")
    burst = "x-ms-ratelimit-burst-remaining-xrm-requests"
    seconds = "x-ms-ratelimit-time-remaining-xrm-requests"
    assert int(second.headers[burst]) == int(first.headers[burst]) - 1
    # seconds with thousands separators, as Dataverse writes them ("1,200.00")
    assert re.fullmatch(r"1,\d{3}\.\d\d", first.headers[seconds])
    assert float(second.headers[seconds].replace(",", "")) <= float(
        first.headers[seconds].replace(",", ""))
