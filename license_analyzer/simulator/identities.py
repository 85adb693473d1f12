"""Who else may sign in: people in directory roles, and the tenant's managed identities.

Role names and template ids are Microsoft's built-in roles:
https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from .tenant import ManagedIdentity, SystemUser

if TYPE_CHECKING:
    from .tenant import Tenant, User

ROLE_TEMPLATES = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Reports Reader": "4a5d8f65-41da-4de4-8968-e035b65339cf",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Security Operator": "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
    "Directory Writers": "9360feb5-f418-4baa-8175-e2a00bac4301",
    "License Administrator": "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Dynamics 365 Administrator": "44367163-eba1-44c3-98af-f5787879f96a",
}


def _stable(tenant: Tenant, name: str) -> str:
    # derived from the tenant id, not drawn from the seed's generator: adding identities must
    # not change any other generated value
    return str(uuid.uuid5(uuid.UUID(tenant.id), name))


def add_identities(tenant: Tenant) -> None:
    """The first user administers the tenant (Global Administrator, as F&O's Admin already);
    the job's Azure host has a system-assigned and one user-assigned managed identity, each an
    application user in every Dataverse environment and registered in every F&O one."""
    if tenant.users:
        tenant.directory_roles["Global Administrator"] = {tenant.users[0].id}
    sub = _stable(tenant, "subscription")
    tenant.managed_identities = [
        ManagedIdentity(
            "system",
            _stable(tenant, "mi-system-app"),
            _stable(tenant, "mi-system-sp"),
            f"/subscriptions/{sub}/resourceGroups/licensing/providers/Microsoft.Compute/"
            "virtualMachines/license-analyzer",
        ),
        ManagedIdentity(
            "user",
            _stable(tenant, "mi-user-app"),
            _stable(tenant, "mi-user-sp"),
            f"/subscriptions/{sub}/resourceGroups/licensing/providers/"
            "Microsoft.ManagedIdentity/userAssignedIdentities/license-analyzer",
        ),
    ]
    for mi in tenant.managed_identities:
        for env in tenant.dataverse:
            env.app_users.add(mi.client_id)
        for fno in tenant.finance_operations:
            fno.registered_clients.add(mi.client_id)


def grant_role(tenant: Tenant, user: User, role: str) -> None:
    if role not in ROLE_TEMPLATES:
        raise ValueError(f"unknown directory role {role!r}")
    with tenant.lock:
        tenant.directory_roles.setdefault(role, set()).add(user.id)


def revoke_role(tenant: Tenant, user: User, role: str) -> None:
    with tenant.lock:
        tenant.directory_roles.get(role, set()).discard(user.id)


def make_dynamics_admin(tenant: Tenant, user: User) -> None:
    """Gives the person a systemuser with System Administrator in every Dataverse environment
    (added where they had none) and an enabled F&O user."""
    with tenant.lock:
        for env in tenant.dataverse:
            if not any(s.aad_object_id == user.id for s in env.systemusers):
                env.systemusers.append(
                    SystemUser(
                        str(uuid.uuid5(uuid.UUID(env.org_id), user.id)),
                        "human",
                        user.display_name,
                        user.upn,
                        user.mail,
                        user.id,
                        user.idx,
                        False,
                        1,  # Administrative access mode
                        None,
                        False,
                        tenant.created_at,
                    )
                )
            env.delegated_admins.add(user.id)
        for fno in tenant.finance_operations:
            if not any(row.get("UserObjectId") == user.id for row in fno.users):
                fno.users.append(
                    {
                        "@odata.etag": f'W/"JzEsNTYzNzE0{len(fno.users):05d}Jyc="',
                        "UserID": user.upn.split("@")[0][:20],
                        "UserName": user.display_name,
                        "Alias": user.upn,
                        "Email": user.upn,
                        "Enabled": True,
                        "Company": "USMF",
                        "NetworkDomain": "https://sts.windows.net/",
                        "UserObjectId": user.id,
                        "AccountType": "ClaimsUser",
                        "ExternalUser": False,
                        "UserInfo_language": "en-us",
                        "PersonName": user.display_name,
                    }
                )
        tenant.version += 1


def managed_identity(tenant: Tenant, kind: str) -> ManagedIdentity:
    return next(mi for mi in tenant.managed_identities if mi.kind == kind)
