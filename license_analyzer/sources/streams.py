"""Every endpoint we read, as data (singer-sdk's stream template): a new one costs ten lines.

A stream names its API, its path (relative to the client's base URL, which holds Graph's
version, Dataverse's /api/data/v9.2 and F&O's /data), its primary key, its cursor field and
its select list; the collectors add only a window filter. Headers listed here are sent on
EVERY page, because Graph does not carry ConsistencyLevel over to `@odata.nextLink` and
Dataverse wants the same `odata.maxpagesize` on each page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Api = Literal["graph", "dataverse", "finance_operations", "power_platform"]

CRM_RESOURCE = "00000007-0000-0000-c000-000000000000"
ERP_RESOURCE = "00000015-0000-0000-c000-000000000000"


def _frozen(**items: str) -> Mapping[str, str]:
    return MappingProxyType(dict(items))


@dataclass(frozen=True)
class Stream:
    name: str
    api: Api
    path: str
    primary_key: tuple[str, ...]
    what: str  # how an error sentence names the call
    select: tuple[str, ...] = ()
    cursor_field: str | None = None
    params: Mapping[str, str] = field(default_factory=lambda: _frozen())
    headers: Mapping[str, str] = field(default_factory=lambda: _frozen())
    next_link: str = "@odata.nextLink"  # the field naming the next page

    def query(self, *, filter: str | None = None, select: tuple[str, ...] | None = None,
              **extra: str) -> dict[str, str]:
        """The first page's query string; later pages follow nextLink as given."""
        params = dict(self.params)
        chosen = self.select if select is None else select
        if chosen:
            params["$select"] = ",".join(chosen)
        if filter:
            existing = params.get("$filter")
            params["$filter"] = f"({existing}) and {filter}" if existing else filter
        params.update(extra)
        return params


# a signed-in person's groups and active directory roles (doctor, delegated profiles)
MY_MEMBERSHIPS = Stream(
    name="my_memberships", api="graph", path="/me/memberOf", primary_key=("id",),
    what="GET /me/memberOf", select=("id", "displayName", "roleTemplateId"),
)

ORGANIZATION = Stream(
    name="organization", api="graph", path="/organization", primary_key=("id",),
    what="Reading the organization from Microsoft Graph",
    select=("id", "displayName", "assignedPlans"),
)

SUBSCRIBED_SKUS = Stream(
    name="subscribed_skus", api="graph", path="/subscribedSkus", primary_key=("skuId",),
    what="Reading subscribedSkus from Microsoft Graph",
)

SUBSCRIPTIONS = Stream(
    name="subscriptions", api="graph", path="/directory/subscriptions", primary_key=("id",),
    what="Reading directory subscriptions from Microsoft Graph",
)

# Groups that carry licenses: filtering on assignedLicenses/$count is an advanced query, so it
# needs ConsistencyLevel: eventual and $count=true, and the header again on every page.
LICENSED_GROUPS = Stream(
    name="groups", api="graph", path="/groups", primary_key=("id",),
    what="Reading licensing groups from Microsoft Graph",
    select=("id", "displayName", "groupTypes", "membershipRule", "onPremisesSyncEnabled",
            "mailEnabled", "securityEnabled", "assignedLicenses"),
    params=_frozen(**{"$filter": "assignedLicenses/$count ne 0", "$count": "true",
                      "$top": "999"}),
    headers=_frozen(ConsistencyLevel="eventual"),
)

GROUP_MEMBERS = Stream(
    name="group_members", api="graph", path="/groups/{id}/members", primary_key=("id",),
    what="Reading licensing group members from Microsoft Graph",
    select=("id",), params=_frozen(**{"$top": "999"}),
)

# a user's groups, directly or through nested groups (apply checks [reclamation]
# protected_groups against them); no ConsistencyLevel needed without $filter, $search or a cast:
# https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof
USER_MEMBER_OF = Stream(
    name="user_member_of", api="graph", path="/users/{id}/transitiveMemberOf",
    primary_key=("id",), what="Reading a user's group memberships from Microsoft Graph",
    select=("id", "displayName"), params=_frozen(**{"$top": "999"}),
)

_USER_FIELDS = ("id", "userPrincipalName", "displayName", "mail", "accountEnabled", "userType",
                "department", "companyName", "createdDateTime", "assignedLicenses",
                "licenseAssignmentStates")

# signInActivity needs Entra ID P1 and caps pages at 500; without it pages go to 999
USERS = Stream(
    name="users", api="graph", path="/users", primary_key=("id",),
    what="Reading users from Microsoft Graph",
    select=(*_USER_FIELDS, "signInActivity"), params=_frozen(**{"$top": "500"}),
)
USERS_WITHOUT_SIGNIN = Stream(
    name="users", api="graph", path="/users", primary_key=("id",),
    what="Reading users from Microsoft Graph",
    select=_USER_FIELDS, params=_frozen(**{"$top": "999"}),
)

# Each user's manager, only for the review app's routing ([web] route_to_manager). A stream of
# its own, not an $expand on USERS: the manager comes with no word on $expand beside
# signInActivity, and this way a refusal costs the routing, not the users listing.
# https://learn.microsoft.com/graph/api/user-list-manager (GET /users?$expand=manager;
# application permission User.Read.All)
MANAGERS = Stream(
    name="managers", api="graph", path="/users", primary_key=("id",),
    what="Reading users' managers from Microsoft Graph",
    select=("id",), params=_frozen(**{"$expand": "manager($select=id)", "$top": "999"}),
)

SIGNINS = Stream(
    name="signins", api="graph", path="/auditLogs/signIns", primary_key=("id",),
    what="Reading the sign-in log from Microsoft Graph",
    cursor_field="createdDateTime",
    # no $select: the sign-in log does not support it
    params=_frozen(**{"$top": "1000"}),
)
# v1.0 lists interactive sign-ins only; beta lists non-interactive ones too when the filter
# names them: "This API returns only interactive sign-ins unless you set an explicit filter"
# (https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta)
ALL_USER_SIGNINS = "signInEventTypes/any(t: t eq 'interactiveUser' or t eq 'nonInteractiveUser')"

DATAVERSE_ORGANIZATION = Stream(
    name="dataverse_organization", api="dataverse", path="/organizations",
    primary_key=("organizationid",), what="Reading the audit settings",
    select=("organizationid", "name", "isauditenabled", "auditretentionperiodv2",
            "isuseraccessauditenabled", "useraccessauditinginterval"),
)

SYSTEMUSERS = Stream(
    name="systemusers", api="dataverse", path="/systemusers",
    primary_key=("systemuserid",), what="Reading Dataverse users",
    select=("systemuserid", "azureactivedirectoryobjectid", "domainname", "fullname",
            "accessmode", "isdisabled", "applicationid", "isintegrationuser"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)

AUDITS = Stream(
    name="dataverse_audit", api="dataverse", path="/audits",
    primary_key=("auditid",), what="Reading the user-access audit",
    select=("createdon", "objecttypecode", "_objectid_value", "_userid_value"),
    cursor_field="createdon",
    params=_frozen(**{"$filter": "operation eq 4 and (action eq 64 or action eq 65)"}),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)

FNO_SYSTEMUSERS = Stream(
    name="fno_users", api="finance_operations", path="/SystemUsers",
    primary_key=("UserID",), what="Reading Finance & Operations users",
    select=("UserID", "UserName", "Alias", "Email", "Enabled", "UserObjectId"),
    params=_frozen(**{"cross-company": "true"}),
)

# The admin API names its next page `nextLink`, as Microsoft's own client reads it
# (Microsoft.PowerApps.Administration.PowerShell InvokeApi; copy in microsoft/coe-starter-kit
# coe-cli/scripts/Microsoft.PowerApps.RestClientModule.psm1)
BAP_ENVIRONMENTS = Stream(
    name="environments", api="power_platform",
    path="/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments",
    primary_key=("name",), what="Listing environments through the Power Platform admin API",
    params=_frozen(**{"api-version": "2023-06-01"}), next_link="nextLink",
)

# F&O security (issue 21): the public entity sets of SystemSecurityRoleEntity and
# SystemSecurityUserRoleEntity, attributes as the Common Data Model pages list them:
# https://learn.microsoft.com/en-us/common-data-model/schema/core/operationscommon/entities/system/systemadministration/systemsecurityroleentity
# https://learn.microsoft.com/en-us/common-data-model/schema/core/operationscommon/entities/system/systemadministration/systemsecurityuserroleentity
FNO_SECURITY_ROLES = Stream(
    name="fno_security_roles", api="finance_operations", path="/SecurityRoles",
    primary_key=("SecurityRoleIdentifier",), what="Reading Finance & Operations security roles",
    select=("SecurityRoleIdentifier", "SecurityRoleName", "UserLicenseType"),
)

FNO_SECURITY_USER_ROLES = Stream(
    name="fno_user_roles", api="finance_operations", path="/SecurityUserRoles",
    primary_key=("UserId", "SecurityRoleIdentifier"),
    what="Reading Finance & Operations users' security roles",
    select=("UserId", "SecurityRoleIdentifier", "SecurityRoleName", "AssignmentStatus",
            "AssignmentMode", "UserLicenseType"),
)

# Dataverse security roles and who holds them, directly or through a team: the role and team
# entities' navigation collections
# (https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/role,
# https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/team)
DATAVERSE_ROLES = Stream(
    name="dataverse_roles", api="dataverse", path="/roles", primary_key=("roleid",),
    what="Reading Dataverse security roles", select=("roleid", "name"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)
ROLE_PRIVILEGES = Stream(
    name="dataverse_role_privileges", api="dataverse",
    path="/roles({id})/roleprivileges_association", primary_key=("privilegeid",),
    what="Reading a Dataverse role's privileges", select=("privilegeid", "name"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)
ROLE_USERS = Stream(
    name="dataverse_role_users", api="dataverse",
    path="/roles({id})/systemuserroles_association", primary_key=("systemuserid",),
    what="Reading a Dataverse role's users",
    select=("systemuserid", "azureactivedirectoryobjectid"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)
ROLE_TEAMS = Stream(
    name="dataverse_role_teams", api="dataverse", path="/roles({id})/teamroles_association",
    primary_key=("teamid",), what="Reading a Dataverse role's teams", select=("teamid", "name"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)
TEAM_MEMBERS = Stream(
    name="dataverse_team_members", api="dataverse",
    path="/teams({id})/teammembership_association", primary_key=("systemuserid",),
    what="Reading a Dataverse team's members",
    select=("systemuserid", "azureactivedirectoryobjectid"),
    headers=_frozen(Prefer="odata.maxpagesize=5000"),
)
