"""Finance & Operations security: standard roles with their license types, users' role
assignments, and the admin center's exports of the license each user requires.

Entities, as the Common Data Model pages list their attributes:
- SecurityRoles (SystemSecurityRoleEntity): SecurityRoleIdentifier, SecurityRoleName,
  AccessToSensitiveData, UserLicenseType, Description, ContextString
  https://learn.microsoft.com/en-us/common-data-model/schema/core/operationscommon/entities/system/systemadministration/systemsecurityroleentity
- SecurityUserRoles (SystemSecurityUserRoleEntity): UserId, SecurityRoleIdentifier,
  SecurityRoleName, AssignmentStatus, AssignmentMode, UserLicenseType, SecurityRole
  https://learn.microsoft.com/en-us/common-data-model/schema/core/operationscommon/entities/system/systemadministration/systemsecurityuserroleentity
AssignmentStatus / AssignmentMode are the SecurityUserRole table's RoleAssignmentStatus and
RoleAssignmentMode enums (Enabled/Disabled, Manual/Automatic):
https://learn.microsoft.com/en-us/dotnet/api/dynamics.ax.application.securityuserrole.assignmentmode

The admin center's "User license consumption" export has the columns TenantId, UserEmail,
UserId, AssignedLicense(s), MissingLicense(s), RefreshedOn, for production environments only
(https://learn.microsoft.com/en-us/power-platform/admin/view-license-consumption-finops-apps;
RequiredLicense(s) too in the export described at
https://dynamicspedia.com/2025/12/licensing-advent-calendar-day-19-export-to-csv/).

Random numbers come from a stream of their own, drawn after the rest of the tenant, so the
tenant every other test sees is unchanged.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np

from .ids import iso

if TYPE_CHECKING:
    from .options import SimulatorOptions
    from .tenant import FnoEnv, Tenant, User

# (SecurityRoleIdentifier, SecurityRoleName, UserLicenseType, AccessToSensitiveData)
ROLES: tuple[tuple[str, str, str, str], ...] = (
    ("-SYSADMIN-", "System administrator", "Operations", "Yes"),
    ("SYSTEMUSER", "System user", "None", "No"),
    ("LEDGERACCOUNTANT", "Accountant", "Finance", "No"),
    ("LEDGERACCOUNTINGMANAGER", "Accounting manager", "Finance", "Yes"),
    ("VENDACCOUNTSPAYABLECLERK", "Accounts payable clerk", "Finance", "No"),
    ("WHSWAREHOUSEMANAGER", "Warehouse manager", "SCM", "No"),
    ("PURCHPURCHASINGAGENT", "Purchasing agent", "SCM", "No"),
    ("WHSWAREHOUSEWORKER", "Warehouse worker", "Activity", "No"),
    ("BUDGETBUDGETCLERK", "Budget clerk", "Activity", "No"),
    ("HCMEMPLOYEE", "Employee", "TeamMembers", "No"),
    ("PROJPROJECTMANAGER", "Project manager", "ProjectOperations", "No"),
    ("RETAILSTOREMANAGER", "Retail store manager", "Commerce", "No"),
    # a custom role whose license type was never computed
    ("CONTOSOEXPENSEAPPROVER", "Expense approver (Contoso)", "", "No"),
)
NAMES = {r[0]: r[1] for r in ROLES}
TYPES = {r[0]: r[2] for r in ROLES}

# what each license type needs, as the admin center names products
TYPE_PRODUCT = {"Finance": "Finance", "SCM": "Supply Chain Management",
                "Commerce": "Commerce", "ProjectOperations": "Project Operations",
                "Operations": "Finance", "Activity": "Operations - Activity",
                "TeamMembers": "Team Members"}
TIER = {"": 0, "None": 0, "TeamMembers": 1, "Activity": 2, "Operations": 3, "Finance": 3,
        "SCM": 3, "Commerce": 3, "ProjectOperations": 3}
SKU_PRODUCT = {"DYN365_FINANCE": "Finance", "DYN365_SCM": "Supply Chain Management",
               "DYN365_TEAM_MEMBERS": "Team Members"}

# role sets per kind of F&O person (the license they hold comes from generate.py)
FINANCE_FIT = (("LEDGERACCOUNTANT",), ("VENDACCOUNTSPAYABLECLERK",),
               ("LEDGERACCOUNTANT", "LEDGERACCOUNTINGMANAGER"))
SCM_FIT = (("WHSWAREHOUSEMANAGER",), ("PURCHPURCHASINGAGENT",),
           ("WHSWAREHOUSEMANAGER", "WHSWAREHOUSEWORKER"))
LOWER = (("HCMEMPLOYEE",), ("WHSWAREHOUSEWORKER",), ("BUDGETBUDGETCLERK", "HCMEMPLOYEE"))
MORE_FOR_FINANCE = (("LEDGERACCOUNTANT", "WHSWAREHOUSEMANAGER"), ("PROJPROJECTMANAGER",))
MORE_FOR_SCM = (("WHSWAREHOUSEMANAGER", "LEDGERACCOUNTANT"), ("RETAILSTOREMANAGER",))


def role_rows() -> list[dict[str, object]]:
    return [
        {"@odata.etag": f'W/"JzEsNTYzNzE1{i:05d}Jyc="', "SecurityRoleIdentifier": rid,
         "SecurityRoleName": name, "AccessToSensitiveData": sensitive,
         "UserLicenseType": license_type, "Description": "", "ContextString": ""}
        for i, (rid, name, license_type, sensitive) in enumerate(ROLES)
    ]


def _held(tenant: Tenant, user: User) -> set[str]:
    from .generate import effective_sku_ids

    parts = {p.sku.sku_id.lower(): p.sku.part_number for p in tenant.pools}
    return {parts.get(s.lower(), "") for s in effective_sku_ids(tenant, user)}


def _pick(rng: np.random.Generator, options: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    return options[int(rng.integers(0, len(options)))]


def roles_for(tenant: Tenant, user: User, draw: float, rng: np.random.Generator) -> list[str]:
    """A simulated F&O person's roles: mostly fitting the license they hold, some needing
    less (over-licensed), some more (under-licensed), a few administrators alone."""
    held = _held(tenant, user)
    finance = "DYN365_FINANCE" in held
    if draw < 0.50:
        roles = _pick(rng, FINANCE_FIT if finance else SCM_FIT)
    elif draw < 0.75:
        roles = _pick(rng, LOWER)
    elif draw < 0.90:
        roles = _pick(rng, MORE_FOR_FINANCE if finance else MORE_FOR_SCM)
    elif draw < 0.95:
        return ["-SYSADMIN-"]
    else:
        roles = ("CONTOSOEXPENSEAPPROVER", "HCMEMPLOYEE")
    return ["SYSTEMUSER", *roles]


def assign_roles(tenant: Tenant, opts: SimulatorOptions) -> None:
    """SecurityUserRoles for every environment's SystemUsers; call after the tenant is built."""
    rng = np.random.default_rng(opts.seed + 21)  # its own stream: the rest stays as it was
    by_id = {u.id: u for u in tenant.users}
    by_upn = {u.upn.lower(): u for u in tenant.users}
    person_draw: dict[str, float] = {}
    for env in tenant.finance_operations:
        env.roles = role_rows()
        env.user_roles = []
        for row in env.users:
            uid = str(row["UserID"])
            user = by_id.get(str(row.get("UserObjectId") or "")) or by_upn.get(
                str(row.get("Alias") or "").lower())
            if uid == "Admin" or (user is not None and user.id in _delegated_admins(tenant)):
                roles = ["-SYSADMIN-"]
            elif user is None:
                roles = ["SYSTEMUSER", "LEDGERACCOUNTANT"]  # contractors: no Entra user
            elif not user.fno:
                roles = ["SYSTEMUSER"]
            else:
                draw = person_draw.setdefault(user.id, float(rng.random()))
                roles = roles_for(tenant, user, draw, rng)
            if not row.get("PersonName") and not row.get("Alias"):
                roles = ["SYSTEMUSER"]  # service accounts (workflow, retail)
            for k, rid in enumerate(roles):
                # one assignment in ten of a multi-role person is switched off
                status = "Disabled" if k > 1 and rng.random() < 0.1 else "Enabled"
                env.user_roles.append({
                    "@odata.etag": f'W/"JzEsNTYzNzE2{len(env.user_roles):05d}Jyc="',
                    "UserId": uid, "SecurityRoleIdentifier": rid,
                    "SecurityRoleName": NAMES[rid], "SecurityRole": NAMES[rid],
                    "AssignmentStatus": status,
                    "AssignmentMode": "Manual" if rid != "SYSTEMUSER" else "Automatic",
                    "UserLicenseType": TYPES[rid],
                })


def _delegated_admins(tenant: Tenant) -> set[str]:
    return {oid for env in tenant.dataverse for oid in env.delegated_admins}


def required_products(env_roles: list[dict[str, object]], enabled: set[str]) -> list[str]:
    """What the admin center would say one user needs from their enabled roles: the highest
    tier; for full licenses every product, the dearest first. System administrator alone:
    nothing."""
    rids = [str(r["SecurityRoleIdentifier"]) for r in env_roles
            if r["AssignmentStatus"] == "Enabled" and str(r["UserId"]) in enabled]
    if not rids or rids == ["-SYSADMIN-"] or set(rids) == {"-SYSADMIN-", "SYSTEMUSER"}:
        return []
    types = [TYPES[r] for r in rids if r != "-SYSADMIN-"]
    top = max(TIER[t] for t in types)
    if top == 0:
        return []
    chosen = sorted({TYPE_PRODUCT[t] for t in types if TIER[t] == top})
    return chosen


def admin_center_csv(tenant: Tenant, lag_users: int = 2) -> str:
    """The "User license consumption" export for the production environment (the first):
    refreshed a day ago, so `lag_users` users' latest role changes are not in it yet."""
    env: FnoEnv | None = next(iter(tenant.finance_operations), None)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["TenantId", "UserEmail", "UserId", "RequiredLicense(s)",
                     "AssignedLicense(s)", "MissingLicense(s)", "RefreshedOn"])
    if env is None:
        return out.getvalue()
    refreshed = iso(tenant.now - timedelta(days=1))
    by_id = {u.id: u for u in tenant.users}
    by_upn = {u.upn.lower(): u for u in tenant.users}
    lagged = 0
    for row in env.users:
        if not row.get("Enabled"):
            continue
        uid = str(row["UserID"])
        mine = [r for r in env.user_roles if r["UserId"] == uid]
        required = required_products(mine, {uid})
        if not required:
            continue
        user = by_id.get(str(row.get("UserObjectId") or "")) or by_upn.get(
            str(row.get("Alias") or "").lower())
        if user is None and not row.get("UserObjectId"):
            continue  # no Entra identity at all: the admin center cannot list it either
        assigned = sorted({SKU_PRODUCT[p] for p in _held(tenant, user) if p in SKU_PRODUCT}
                          ) if user else []
        if user is not None and lagged < lag_users and "Team Members" in required:
            required, lagged = ["Finance"], lagged + 1  # yesterday's roles: still Finance
        covered = _covers(assigned)
        missing = [p for p in required if p not in covered]
        writer.writerow([tenant.id, user.upn if user else "", user.id if user else
                         str(row.get("UserObjectId") or ""), ", ".join(required),
                         ", ".join(assigned), ", ".join(missing), refreshed])
    return out.getvalue()


def _covers(assigned: list[str]) -> set[str]:
    full = {"Finance", "Supply Chain Management", "Commerce", "Project Operations"}
    covered = set(assigned)
    if covered & full:
        covered |= {"Operations - Activity", "Team Members"}
    return covered
