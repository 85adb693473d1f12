"""What a delegated profile asks for, and what the signed-in person must be.

A delegated token can do only what BOTH the app's consented delegated permissions (the token's
`scp`) and the person's own rights allow. So the app asks, per API:
- Microsoft Graph: User.Read (sign-in, /me/memberOf), Organization.Read.All, User.Read.All,
  AuditLog.Read.All, GroupMember.Read.All; with reclamation on, LicenseAssignment.ReadWrite.All
  and GroupMember.ReadWrite.All (the least privileged delegated permission of each call:
  https://learn.microsoft.com/en-us/graph/api/subscribedsku-list ,
  https://learn.microsoft.com/en-us/graph/api/signin-list ,
  https://learn.microsoft.com/en-us/graph/api/user-list-memberof ,
  https://learn.microsoft.com/en-us/graph/api/user-assignlicense);
- Dynamics CRM, per Dataverse environment: `<environment-url>/user_impersonation`, the scope a
  public client uses (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/authenticate-oauth);
- Dynamics ERP, per F&O environment: `<environment-url>/Odata.FullAccess` ("Access Dynamics AX
  data", the delegated permission behind OData);
- the Power Platform admin API (environment discovery): `<url>/.default`, whatever was consented.
and the person needs a directory role for some reads (role ids and rights:
https://learn.microsoft.com/en-us/entra/identity/role-based-access-control/permissions-reference):
sign-in logs and signInActivity admit Reports Reader, Security Reader/Operator/Administrator,
Global Reader, Global Administrator; subscribedSkus and subscriptions admit Directory Readers,
Global Reader (and Global Administrator); reclamation needs License Administrator and Groups
Administrator (or User Administrator, Directory Writers, Global Administrator).
"""

from __future__ import annotations

from dataclasses import dataclass

from license_analyzer.config import ProfileConfig, normalize_resource_url

from .clouds import Endpoints, graph_root

GRAPH_READ = ("User.Read", "Organization.Read.All", "User.Read.All", "AuditLog.Read.All",
              "GroupMember.Read.All")
GRAPH_WRITE = ("LicenseAssignment.ReadWrite.All", "GroupMember.ReadWrite.All")
DATAVERSE_SCOPE = "user_impersonation"
FNO_SCOPE = "Odata.FullAccess"

# least privileged first: the first one is what doctor suggests
REPORT_READERS = ("Reports Reader", "Security Reader", "Security Operator",
                  "Security Administrator", "Global Reader", "Global Administrator")
DIRECTORY_READERS = ("Directory Readers", "Global Reader", "Global Administrator",
                     "Dynamics 365 Business Central Administrator")
LICENSE_WRITERS = ("License Administrator", "User Administrator", "Directory Writers",
                   "Global Administrator")
GROUP_WRITERS = ("Groups Administrator", "User Administrator", "Directory Writers",
                 "Global Administrator")
# the Graph permission a refused call needed -> the roles that would have admitted the person
ROLES_FOR_PERMISSION = {
    "AuditLog.Read.All": REPORT_READERS,
    "Organization.Read.All": DIRECTORY_READERS,
    "LicenseAssignment.ReadWrite.All": LICENSE_WRITERS,
    "GroupMember.ReadWrite.All": GROUP_WRITERS,
}


@dataclass(frozen=True)
class RoleNeed:
    what: str  # "read sign-in logs and sign-in activity"
    roles: tuple[str, ...]


READ_ROLES = (RoleNeed("read sign-in logs and sign-in activity", REPORT_READERS),
              RoleNeed("read subscriptions and subscribed SKUs", DIRECTORY_READERS))
WRITE_ROLES = (RoleNeed("assign and remove licenses", LICENSE_WRITERS),
               RoleNeed("change licensing group membership", GROUP_WRITERS))


def role_needs(reclamation: bool) -> tuple[RoleNeed, ...]:
    return READ_ROLES + (WRITE_ROLES if reclamation else ())


class DelegatedScopes:
    """Maps the app-only scope a Connection asks for (`<resource>/.default`) to the delegated
    scopes of that resource."""

    def __init__(self, profile: ProfileConfig, endpoints: Endpoints, graph_writes: bool) -> None:
        self.graph_resource = graph_root(endpoints.graph_url)
        self.graph_scope = endpoints.graph_scope
        self.power_platform_scope = endpoints.power_platform_scope
        self.fno = {env.url for env in profile.finance_operations}
        self.graph_permissions = GRAPH_READ + (GRAPH_WRITE if graph_writes else ())

    def graph(self, permissions: tuple[str, ...] | None = None) -> list[str]:
        return [f"{self.graph_resource}/{p}" for p in permissions or self.graph_permissions]

    def for_resource(self, scope: str) -> list[str]:
        if scope == self.graph_scope:
            return self.graph()
        if scope == self.power_platform_scope:
            return [scope]
        resource = scope.removesuffix("/.default")
        # F&O compares audiences exactly, so keep the URL as asked (doctor tries it as written)
        if normalize_resource_url(resource) in self.fno:
            return [f"{resource}/{FNO_SCOPE}"]
        return [f"{resource}/{DATAVERSE_SCOPE}"]  # a configured or discovered environment
