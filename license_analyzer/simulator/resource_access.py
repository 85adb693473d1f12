"""Who Dataverse and Finance & Operations let in: an application (user) or a signed-in person.

- Dataverse: an app-only token needs an application user for its app id (the analyzer's app,
  or a managed identity's); a person's token needs the Dynamics CRM `user_impersonation` scope
  and a systemuser of their own, whose security roles decide what they read (reading audit
  history needs prvReadAuditSummary, e.g. System Administrator):
  https://learn.microsoft.com/en-us/power-apps/developer/data-platform/authenticate-oauth
  Not a user there: 403 0x80072560 "The user is not a member of the organization."
- F&O: an app must be listed under Microsoft Entra ID applications; a person needs the Dynamics
  ERP `Odata.FullAccess` scope ("Access Dynamics AX data") and an enabled F&O user; otherwise
  401 (dynamics-api.md 6.2).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cloud import Cloud
    from .tenant import DataverseEnv, FnoEnv

AUDIT_PRIVILEGE = "prvReadAuditSummary"
NOT_A_MEMBER = (403, "0x80072560", "The user is not a member of the organization.")


def _scopes(claims: dict[str, Any]) -> set[str] | None:
    return set(str(claims["scp"]).split()) if "scp" in claims else None


def dataverse_refusal(cloud: Cloud, env: DataverseEnv, claims: dict[str, Any],
                      entity: str) -> tuple[int, str, str] | None:
    """(status, code, message) when Dataverse refuses this caller, else None."""
    scopes = _scopes(claims)
    if scopes is None:
        app_id = str(claims.get("appid", ""))
        if app_id == cloud.tenant.app.client_id:
            return None if env.application_user else NOT_A_MEMBER
        return None if app_id in env.app_users else NOT_A_MEMBER
    if "user_impersonation" not in scopes:
        return (401, "0x80040220", "The access token does not carry the user_impersonation "
                "scope.")
    oid = str(claims.get("oid", ""))
    systemuser = next((s for s in env.systemusers if s.aad_object_id == oid), None)
    if systemuser is None or systemuser.isdisabled:
        return NOT_A_MEMBER
    if entity == "audits" and oid not in env.delegated_admins:
        privilege = str(uuid.uuid5(uuid.NAMESPACE_URL, AUDIT_PRIVILEGE))
        return (403, "0x80040220",
                f"Principal user (Id={systemuser.systemuserid}, type=8, roleCount=1, "
                f"privilegeCount=412, accessMode=0), is missing {AUDIT_PRIVILEGE} privilege "
                f"(Id={privilege}) on OTC=4567 for entity 'audit'.")
    return None


def fno_allowed(cloud: Cloud, env: FnoEnv, claims: dict[str, Any]) -> bool:
    scopes = _scopes(claims)
    if scopes is None:
        app_id = str(claims.get("appid", ""))
        if app_id == cloud.tenant.app.client_id:
            return env.app_registered
        return app_id in env.registered_clients
    oid = str(claims.get("oid", ""))
    return "Odata.FullAccess" in scopes and any(
        row.get("UserObjectId") == oid and row.get("Enabled") for row in env.users)
