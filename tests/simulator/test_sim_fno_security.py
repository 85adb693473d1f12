"""F&O SecurityRoles and SecurityUserRoles as the Common Data Model pages list them, with
standard roles and license types, and the admin center's user license consumption export."""

from __future__ import annotations

import csv
import io

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api

ROLE_KEYS = {"SecurityRoleIdentifier", "SecurityRoleName", "AccessToSensitiveData",
             "UserLicenseType", "Description", "ContextString"}
USER_ROLE_KEYS = {"UserId", "SecurityRoleIdentifier", "SecurityRoleName", "AssignmentStatus",
                  "AssignmentMode", "UserLicenseType", "SecurityRole"}


def test_roles_and_assignments(api: Api, shared_sim: Simulator) -> None:
    roles = api.fno(0, "/SecurityRoles").json()["value"]
    assert all(set(r) >= ROLE_KEYS for r in roles)
    by_name = {r["SecurityRoleName"]: r for r in roles}
    assert by_name["System administrator"]["SecurityRoleIdentifier"] == "-SYSADMIN-"
    assert {by_name[n]["UserLicenseType"] for n in ("Accountant", "Warehouse worker",
                                                    "Employee")} == {
        "Finance", "Activity", "TeamMembers"}
    assert any(not r["UserLicenseType"] for r in roles)  # a custom role without a type

    assigned = api.fno(0, "/SecurityUserRoles").json()["value"]
    assert all(set(a) >= USER_ROLE_KEYS for a in assigned)
    users = {u["UserID"] for u in api.fno(0, "/SystemUsers").json()["value"]}
    assert {a["UserId"] for a in assigned} <= users
    assert {a["AssignmentStatus"] for a in assigned} == {"Enabled", "Disabled"}
    assert {a["AssignmentMode"] for a in assigned} == {"Manual", "Automatic"}
    per_user: dict[str, set[str]] = {}
    for a in assigned:
        per_user.setdefault(a["UserId"], set()).add(a["SecurityRoleIdentifier"])
    assert per_user["Admin"] == {"-SYSADMIN-"}
    assert any(len(r) > 2 for r in per_user.values())  # several roles
    kinds = {frozenset(r) for r in per_user.values()}
    assert frozenset({"SYSTEMUSER", "HCMEMPLOYEE"}) in kinds  # over-licensed holders


def test_paging_select_and_unknown_property(api: Api) -> None:
    prefer = {"Prefer": "odata.maxpagesize=10"}
    first = api.fno(0, "/SecurityUserRoles?$select=UserId,SecurityRoleIdentifier",
                    headers=prefer)
    rows = api.follow(first, lambda link: api.fno(0, link, headers=prefer))
    assert len(rows) == len(api.fno(0, "/SecurityUserRoles").json()["value"]) > 10
    assert set(rows[0]) == {"@odata.etag", "UserId", "SecurityRoleIdentifier"}
    bad = api.fno(0, "/SecurityRoles?$select=LicenseKind")
    assert bad.status_code == 400
    assert "Microsoft.Dynamics.DataEntities.SecurityRole'" in bad.json()["error"]["message"]


def test_security_entities_refused_when_the_app_user_may_not_read_them(own: Api,
                                                                      sim: Simulator) -> None:
    sim.tenant.finance_operations[0].security_readable = False
    assert own.fno(0, "/SecurityUserRoles").status_code == 403
    assert own.fno(0, "/SecurityRoles").status_code == 403
    assert own.fno(0, "/SystemUsers").status_code == 200


def test_admin_center_export_has_microsofts_columns(shared_sim: Simulator) -> None:
    rows = list(csv.DictReader(io.StringIO(shared_sim.admin_center_export())))
    assert rows and list(rows[0]) == ["TenantId", "UserEmail", "UserId", "RequiredLicense(s)",
                                      "AssignedLicense(s)", "MissingLicense(s)", "RefreshedOn"]
    assert {r["TenantId"] for r in rows} == {shared_sim.info["tenant_id"]}
    assert any(r["MissingLicense(s)"] for r in rows)
    assert all(r["RefreshedOn"].endswith("Z") for r in rows)


def test_dataverse_roles_privileges_users_and_teams(api: Api, shared_sim: Simulator) -> None:
    """Dataverse security roles through the role and team entities' navigation collections."""
    roles = api.dataverse(0, "/roles?$select=roleid,name").json()["value"]
    by_name = {r["name"]: r["roleid"] for r in roles}
    csr = by_name["Customer Service Representative"]
    privileges = api.dataverse(0, f"/roles({csr})/roleprivileges_association?$select=name"
                               ).json()["value"]
    assert {"prvWriteIncident", "prvWriteKnowledgeArticle"} <= {p["name"] for p in privileges}
    direct = api.dataverse(0, f"/roles({csr})/systemuserroles_association"
                              "?$select=systemuserid,azureactivedirectoryobjectid").json()["value"]
    teams = api.dataverse(0, f"/roles({csr})/teamroles_association?$select=teamid,name"
                          ).json()["value"]
    assert [t["name"] for t in teams] == ["Support Team"]
    members = api.dataverse(0, f"/teams({teams[0]['teamid']})/teammembership_association"
                            "?$select=systemuserid,azureactivedirectoryobjectid").json()["value"]
    assert direct and members
    assert not {m["systemuserid"] for m in members} & {d["systemuserid"] for d in direct}
    missing = api.dataverse(0, "/roles(00000000-0000-0000-0000-000000000000)/"
                               "systemuserroles_association")
    assert missing.status_code == 404
