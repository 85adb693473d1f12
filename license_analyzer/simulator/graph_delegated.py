"""Graph for a signed-in person: the token's scopes AND the person's directory roles.

A delegated token carries `scp` (consented delegated permissions), not `roles`. Graph refuses a
scope the token lacks with 403 Authorization_RequestDenied, and a person outside the roles an
operation admits with 403 Authentication_RequestFromUnsupportedUserRole ("User is not in the
allowed roles", as clients report it, e.g. for sign-in logs and signInActivity).

Which roles each operation admits (least privileged first where Microsoft says so):
- sign-in logs and signInActivity: Global Administrator, Global Reader, Reports Reader,
  Security Administrator, Security Operator, Security Reader
  https://learn.microsoft.com/en-us/graph/api/signin-list ;
  https://learn.microsoft.com/en-us/entra/identity/monitoring-health/howto-manage-inactive-user-accounts
- subscribedSkus and directory subscriptions: Global Reader, Directory Readers (Dynamics 365
  Business Central Administrator, read only), and above them Global Administrator
  https://learn.microsoft.com/en-us/graph/api/subscribedsku-list
- assignLicense: License Administrator, User Administrator, Directory Writers
  https://learn.microsoft.com/en-us/graph/api/user-assignlicense
- group membership changes: Groups Administrator, User Administrator, Directory Writers
Reading users, groups and the organization is a member's default permission.
`/me/memberOf` lists the person's groups and (active) directory roles; it needs User.Read:
https://learn.microsoft.com/en-us/graph/api/user-list-memberof
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .identities import ROLE_TEMPLATES
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext

REPORT_READERS = ("Global Administrator", "Global Reader", "Reports Reader",
                  "Security Administrator", "Security Operator", "Security Reader")
DIRECTORY_READERS = ("Global Administrator", "Global Reader", "Directory Readers",
                     "Dynamics 365 Business Central Administrator")
LICENSE_WRITERS = ("Global Administrator", "License Administrator", "User Administrator",
                   "Directory Writers")
GROUP_WRITERS = ("Global Administrator", "Groups Administrator", "User Administrator",
                 "Directory Writers")
ROLES_FOR = {
    "AuditLog.Read.All": REPORT_READERS,
    "LicenseAssignment.ReadWrite.All": LICENSE_WRITERS,
    "GroupMember.ReadWrite.All": GROUP_WRITERS,
}
READ_SELF = ("User.Read", "User.Read.All", "User.ReadWrite.All", "Directory.Read.All")


def require(ctx: GraphContext, any_of: tuple[str, ...],
            roles: tuple[str, ...] | None) -> Response | None:
    if not ctx.scopes.intersection(any_of):
        return ctx.error(403, "Authorization_RequestDenied",
                         "Insufficient privileges to complete the operation.")
    admitted = roles if roles is not None else ROLES_FOR.get(any_of[0])
    if admitted and not ctx.cloud.tenant.roles_of(ctx.user_id).intersection(admitted):
        return ctx.error(403, "Authentication_RequestFromUnsupportedUserRole",
                         "User is not in the allowed roles")
    return None


def _signed_in(ctx: GraphContext) -> Response | None:
    if not ctx.delegated:
        return ctx.error(400, "BadRequest",
                         "/me request is only valid with delegated authentication flow.")
    return require(ctx, READ_SELF, None)


def me(ctx: GraphContext) -> Response:
    refused = _signed_in(ctx)
    if refused:
        return refused
    user = ctx.cloud.tenant.users_by_id[ctx.user_id]
    return ctx.ok({
        "@odata.context": ctx.context("users/$entity"),
        "id": user.id,
        "userPrincipalName": user.upn,
        "displayName": user.display_name,
        "givenName": user.given_name,
        "surname": user.surname,
        "mail": user.mail,
        "jobTitle": user.job_title,
    })


def member_of(ctx: GraphContext) -> Response:
    refused = _signed_in(ctx)
    if refused:
        return refused
    tenant = ctx.cloud.tenant
    items: list[dict[str, Any]] = []
    for role in sorted(tenant.roles_of(ctx.user_id)):
        template = ROLE_TEMPLATES[role]
        items.append({
            "@odata.type": "#microsoft.graph.directoryRole",
            # an activated role's id differs from its template id, per tenant
            "id": str(uuid.uuid5(uuid.UUID(tenant.id), template)),
            "deletedDateTime": None,
            "description": role,
            "displayName": role,
            "roleTemplateId": template,
        })
    user = tenant.users_by_id[ctx.user_id]
    for group in tenant.groups:
        if user.idx in group.members:
            items.append({"@odata.type": "#microsoft.graph.group", "id": group.id,
                          "displayName": group.display_name,
                          "securityEnabled": group.security_enabled,
                          "mailEnabled": group.mail_enabled})
    return ctx.ok({"@odata.context": ctx.context("directoryObjects"), "value": items})
