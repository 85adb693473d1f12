"""F&O license compliance computed from stored roles, role assignments and held SKUs: each
status, attach licenses, several roles and environments, disabled users and assignments, a
role without a license type, the what-if per role, and the admin-center comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session

from license_analyzer.pipeline.fo_compliance import compute, contract_rows, status_totals
from license_analyzer.sources.admin_center_files import import_export
from license_analyzer.store.db import Store
from license_analyzer.store.models import FnoSecurityRole, FnoUserRole
from tests.factories import (
    FNO_ENV,
    add_fo_user,
    add_profile,
    add_user,
    assign,
    ensure_sku,
    make_config,
    object_id,
    utc,
)

UAT_ENV = "https://contoso-uat.sandbox.operations.dynamics.com"
ROLES = {
    "-SYSADMIN-": ("System administrator", "Operations"),
    "SYSTEMUSER": ("System user", "None"),
    "LEDGERACCOUNTANT": ("Accountant", "Finance"),
    "WHSWAREHOUSEMANAGER": ("Warehouse manager", "SCM"),
    "WHSWAREHOUSEWORKER": ("Warehouse worker", "Activity"),
    "HCMEMPLOYEE": ("Employee", "TeamMembers"),
    "CUSTOMNOTYPE": ("Custom without type", None),
}


def _roles(s: Session, env: str) -> None:
    for rid, (name, license_type) in ROLES.items():
        s.add(FnoSecurityRole(profile="contoso", environment_url=env, role_id=rid, name=name,
                              license_type=license_type, updated_at=utc(2026, 11, 21)))


def _person(s: Session, name: str, roles: list[str], held: tuple[str, ...] = (),
            env: str = FNO_ENV, entra: bool = True, enabled: bool = True,
            disabled_roles: tuple[str, ...] = ()) -> None:
    oid = object_id(name) if entra else None
    if entra and env == FNO_ENV:
        add_user(s, name)
        for part in held:
            assign(s, oid or "", ensure_sku(s, part))
    add_fo_user(s, env, name, matched_user_id=oid, enabled=enabled, alias=f"{name}@contoso.com")
    for rid in roles:
        s.add(FnoUserRole(profile="contoso", environment_url=env, user_id=name, role_id=rid,
                          role_name=ROLES[rid][0], license_type=ROLES[rid][1],
                          assignment_status="Disabled" if rid in disabled_roles else "Enabled",
                          assignment_mode="Manual", updated_at=utc(2026, 11, 21)))


def _by_user(rows: list[dict[str, Any]], source: str = "computed") -> dict[str, dict[str, Any]]:
    return {(r["user_principal_name"] or "").split("@")[0]: r for r in rows
            if r["source"] in (source, "both")}


def fo_tenant(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        _roles(s, FNO_ENV)
        _roles(s, UAT_ENV)
        _person(s, "ann", ["SYSTEMUSER", "LEDGERACCOUNTANT"], ("DYN365_FINANCE",))  # compliant
        _person(s, "bob", ["SYSTEMUSER", "LEDGERACCOUNTANT"], ("DYN365_TEAM_MEMBERS",))  # under
        _person(s, "cat", ["SYSTEMUSER", "HCMEMPLOYEE"], ("DYN365_FINANCE",))  # over: TM
        _person(s, "dan", ["WHSWAREHOUSEWORKER"], ("DYN365_SCM",))  # over: Activity
        _person(s, "eve", ["SYSTEMUSER", "-SYSADMIN-"], ("DYN365_FINANCE",))  # exempt
        _person(s, "fay", ["-SYSADMIN-", "HCMEMPLOYEE"], ("DYN365_TEAM_MEMBERS",))  # not alone
        _person(s, "gus", ["LEDGERACCOUNTANT"], entra=False)  # unmatched
        # several roles: Finance base + SCM attach
        _person(s, "hal", ["LEDGERACCOUNTANT", "WHSWAREHOUSEMANAGER"],
                ("DYN365_FINANCE", "DYN365_SCM"))
        _person(s, "ida", ["LEDGERACCOUNTANT", "WHSWAREHOUSEMANAGER"], ("DYN365_FINANCE",))
        # the Finance role only in the sandbox: it does not count
        _person(s, "jon", ["HCMEMPLOYEE"], ("DYN365_TEAM_MEMBERS",))
        _person(s, "jon", ["LEDGERACCOUNTANT"], env=UAT_ENV)
        # a disabled F&O user and a disabled assignment count for nothing
        _person(s, "kim", ["LEDGERACCOUNTANT"], ("DYN365_FINANCE",), enabled=False)
        _person(s, "lea", ["HCMEMPLOYEE", "LEDGERACCOUNTANT"], ("DYN365_TEAM_MEMBERS",),
                disabled_roles=("LEDGERACCOUNTANT",))
        # a role with no license type needs nothing: only Employee counts
        _person(s, "max", ["CUSTOMNOTYPE", "HCMEMPLOYEE"], ("DYN365_TEAM_MEMBERS",))
        # holds Finance with no role needing any license
        _person(s, "ned", ["SYSTEMUSER"], ("DYN365_FINANCE",))


def fo_config(store: Store, **extra: Any) -> Any:
    return make_config(store=store, finance_operations=[
        FNO_ENV, {"url": UAT_ENV, "production": False}],  # type: ignore[list-item]
        prices={"DYN365_FINANCE": 210.0, "DYN365_SCM": 210.0, "DYN365_TEAM_MEMBERS": 8.0},
        **extra)


def test_each_status_with_required_driving_roles_and_delta(store: Store) -> None:
    fo_tenant(store)
    result = compute(fo_config(store), store)
    rows = _by_user(result.rows)
    want = {
        "ann": ("compliant", ["DYN365_FINANCE"], ["Accountant"], 0.0),
        "bob": ("under_licensed", ["DYN365_FINANCE"], ["Accountant"], 210.0),
        "cat": ("over_licensed", ["DYN365_TEAM_MEMBERS"], ["Employee"], -202.0),
        "dan": ("over_licensed", ["Dyn365_Operations_Activity"], ["Warehouse worker"], -160.0),
        "eve": ("exempt", [], ["System administrator"], 0.0),
        "fay": ("under_licensed", ["operations"], ["System administrator"], 120.0),
        "gus": ("unmatched", ["DYN365_FINANCE"], ["Accountant"], 210.0),
        "hal": ("over_licensed", ["DYN365_FINANCE", "DYN365_SCM_ATTACH"],
                ["Accountant", "Warehouse manager"], -180.0),
        "ida": ("under_licensed", ["DYN365_FINANCE", "DYN365_SCM_ATTACH"],
                ["Accountant", "Warehouse manager"], 30.0),
        "jon": ("compliant", ["DYN365_TEAM_MEMBERS"], ["Employee"], 0.0),
        "lea": ("compliant", ["DYN365_TEAM_MEMBERS"], ["Employee"], 0.0),
        "max": ("compliant", ["DYN365_TEAM_MEMBERS"], ["Employee"], 0.0),
        "ned": ("over_licensed", [], [], -210.0),
    }
    got = {name: (r["status"], r["required"], r["driving_roles"], r["monthly_delta"])
           for name, r in rows.items()}
    assert got == want
    assert "kim" not in rows  # disabled in F&O
    assert rows["jon"]["environments"] == [FNO_ENV]
    assert rows["ida"]["missing"] == ["DYN365_SCM_ATTACH"]
    assert rows["gus"]["user_id"] == "gus" and rows["gus"]["assigned"] == []
    assert status_totals(result.rows) == {"compliant": 4, "under_licensed": 3,
                                          "over_licensed": 4, "exempt": 1, "unmatched": 1}


def test_rule_columns_name_per_sku_action_and_target(store: Store) -> None:
    fo_tenant(store)
    cols = compute(fo_config(store), store).rule_columns
    actions = {(r["user_id"], r["sku_key"]): (r["fo_excess"], r["fo_downgrade_target"],
                                               r["fo_monthly_saving"])
               for r in cols.iter_rows(named=True)}
    assert actions[(object_id("cat"), "DYN365_FINANCE")] == ("downgrade", "DYN365_TEAM_MEMBERS",
                                                              202.0)
    assert actions[(object_id("dan"), "DYN365_SCM")] == ("downgrade",
                                                          "Dyn365_Operations_Activity", 160.0)
    assert actions[(object_id("hal"), "DYN365_SCM")] == ("downgrade", "DYN365_SCM_ATTACH",
                                                          180.0)
    assert actions[(object_id("ned"), "DYN365_FINANCE")] == ("remove", None, 210.0)
    assert actions[(object_id("ann"), "DYN365_FINANCE")] == (None, None, None)
    assert (object_id("eve"), "DYN365_FINANCE") in actions  # exempt: no action either
    assert actions[(object_id("eve"), "DYN365_FINANCE")][0] is None


def test_what_if_a_role_lost_write_access(store: Store) -> None:
    fo_tenant(store)
    what_if = {w["role"]: w for w in compute(fo_config(store), store).role_what_if}
    accountant = what_if["Accountant"]
    # ann, bob, hal, ida (gus is unmatched: not counted); each drops to Team Members or SCM
    assert accountant["holders"] == 4 and accountant["licenses_saved"] == 4
    assert accountant["monthly_saving"] == 202.0 + 202.0 + 30.0 + 30.0
    assert "Employee" not in what_if  # already Team Members


def _admin_csv(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    lines = ["TenantId,UserEmail,UserId,RequiredLicense(s),AssignedLicense(s),"
             "MissingLicense(s),RefreshedOn"]
    lines += [f'00000000-0000-0000-0000-000000000001,{e},{i},"{r}","{a}","{m}",'
              "2026-11-20T06:00:00Z" for e, i, r, a, m in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_admin_center_agreement_and_disagreement_are_both_shown(store: Store,
                                                                  tmp_path: Path) -> None:
    fo_tenant(store)
    import_export(store, _admin_csv(tmp_path / "ulc.csv", [
        ("ann@contoso.com", object_id("ann"), "Finance", "Finance", ""),
        ("bob@contoso.com", object_id("bob"), "Finance", "Team Members", "Finance"),
        # the admin center still thinks cat needs Finance
        ("cat@contoso.com", object_id("cat"), "Finance", "Finance", ""),
        # attach named by product: agrees with DYN365_SCM_ATTACH
        ("ida@contoso.com", object_id("ida"), "Finance, Supply Chain Management", "Finance",
         "Supply Chain Management"),
        ("zed@contoso.com", object_id("zed"), "Finance", "", "Finance"),
    ]))
    rows = contract_rows(compute(fo_config(store), store))
    sources = {(r["user_principal_name"].split("@")[0], r["source"]) for r in rows
               if r["user_principal_name"]}
    assert {("ann", "both"), ("bob", "both"), ("ida", "both"), ("cat", "computed"),
            ("cat", "admin_center"), ("zed", "admin_center"), ("dan", "computed")} <= sources
    cat = [r for r in rows if r["user_principal_name"] == "cat@contoso.com"]
    theirs = next(r for r in cat if r["source"] == "admin_center")
    assert theirs["status"] == "compliant" and theirs["required"] == ["DYN365_FINANCE"]
    assert all("DYN365_TEAM_MEMBERS" in r["disagreement"] for r in cat)
    assert list(rows[0])[:10] == ["profile", "user_id", "user_principal_name", "environments",
                                  "required", "assigned", "status", "driving_roles",
                                  "monthly_delta", "source"]


def test_security_object_licenses_decide_the_roles_product(store: Store, tmp_path: Path) -> None:
    fo_tenant(store)
    export = tmp_path / "objects.csv"
    export.write_text(
        "Security role,Securable type,AOT name,Access level,License,Entitlement\n"
        "Accountant,MenuItemDisplay,LedgerJournalTable,Write,Finance,Not entitled\n"
        "Accountant,MenuItemDisplay,LedgerJournalTable,Write,Supply Chain Management,Entitled\n",
        encoding="utf-8")
    import_export(store, export)
    rows = _by_user(compute(fo_config(store), store).rows)
    # the export says only SCM covers every object of Accountant
    assert rows["ann"]["required"] == ["DYN365_SCM"]
    assert rows["ann"]["status"] == "under_licensed"
