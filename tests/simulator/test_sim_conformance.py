"""Answers have the fields, JSON types and annotations of Microsoft's published examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "bool",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }[type(value)]


def assert_shape(doc: Any, ours: Any, path: str = "$") -> None:
    """Every field of the example exists in ours with the same JSON type (null matches any)."""
    if isinstance(doc, dict):
        assert isinstance(ours, dict), f"{path}: expected object, got {kind(ours)}"
        for key, value in doc.items():
            assert key in ours, f"{path}.{key} missing"
            assert_shape(value, ours[key], f"{path}.{key}")
    elif isinstance(doc, list):
        assert isinstance(ours, list), f"{path}: expected array"
        if doc and ours:
            assert_shape(doc[0], ours[0], f"{path}[0]")
    elif doc is not None and ours is not None:
        assert kind(doc) == kind(ours), f"{path}: {kind(doc)} != {kind(ours)}"


def test_subscribed_skus(api: Api) -> None:
    doc = load("subscribedSkus.json")
    ours = api.graph("/subscribedSkus").json()
    assert_shape(doc["value"][0], ours["value"][0])
    assert ours["@odata.context"].endswith("/$metadata#subscribedSkus")


def test_directory_subscriptions(api: Api) -> None:
    doc = load("directory-subscriptions.json")
    ours = api.graph("/directory/subscriptions").json()
    item = next(s for s in ours["value"] if s["ownerId"] is None)
    assert_shape(doc["value"][0], item)
    assert set(doc["value"][0]) == set(item)


def test_users_sign_in_activity(api: Api) -> None:
    doc = load("users-signinactivity.json")
    ours = api.graph("/users?$select=displayName,userPrincipalName,signInActivity").json()
    assert ours["@odata.context"] == doc["@odata.context"].replace(
        "https://graph.microsoft.com/v1.0", api.info["graph_url"]
    )
    with_activity = next(u for u in ours["value"] if u["signInActivity"])
    assert_shape(doc["value"][1], with_activity)
    assert set(with_activity["signInActivity"]) == set(doc["value"][1]["signInActivity"])


def test_sign_ins(api: Api) -> None:
    doc = load("signIns.json")
    ours = api.graph("/auditLogs/signIns?$top=1").json()
    assert set(doc) <= set(ours)
    item = dict(ours["value"][0])
    ref = dict(doc["value"][0])
    ref["appliedConditionalAccessPolicies"] = []  # the simulated tenant has no CA policies
    assert_shape(ref, item)
    for key in ("status", "deviceDetail", "location"):
        assert set(ref[key]) == set(item[key])


def test_audits_with_annotations(api: Api) -> None:
    doc = load("audits.json")
    q = (
        "/audits?$select=_objectid_value,objecttypecode,createdon,_userid_value"
        "&$orderby=createdon desc"
    )
    r = api.dataverse(0, q, headers={"Prefer": 'odata.include-annotations="*"'})
    ours = r.json()
    assert r.headers["Preference-Applied"] == 'odata.include-annotations="*"'
    assert ours["@odata.context"].endswith(doc["@odata.context"].split("/api/data/v9.2")[1])
    for key in (
        "@Microsoft.Dynamics.CRM.totalrecordcount",
        "@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded",
    ):
        assert ours[key] == doc[key]
    item = ours["value"][0]
    assert_shape(doc["value"][0], item)
    assert set(item) - set(doc["value"][0]) <= {"auditid"}


def test_dataverse_not_member_error(own: Api, sim: Simulator) -> None:
    sim.tenant.dataverse[0].application_user = False
    r = own.dataverse(0, "/audits")
    assert r.status_code == 403
    assert r.json() == load("dataverse-not-member.json")
