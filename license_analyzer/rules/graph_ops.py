"""The Graph and Dataverse calls of apply and restore, each one request with its one sentence.

Reads answer what the tenant looks like right now. Writes tell apart a refusal (Graph answered
4xx: it did not act) from silence (no answer, a timeout, a 5xx: it may have acted), because a
change whose outcome is unknown must be recorded as such for `restore`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from license_analyzer.errors import SourceError
from license_analyzer.rules.carry_out import GroupInfo
from license_analyzer.sources.http import NoPremiumLicense, check, transport_error
from license_analyzer.sources.paginate import pages
from license_analyzer.sources.streams import USER_MEMBER_OF
from license_analyzer.sources.windows import odata_time

USER_FIELDS = "id,userPrincipalName,accountEnabled,assignedLicenses,licenseAssignmentStates"
GROUP_SELECT = ("id,displayName,groupTypes,membershipRule,onPremisesSyncEnabled,mailEnabled,"
                "assignedLicenses")
# failures before the request left: the server surely did not act
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class MaybeDone(SourceError):
    """A write got no answer (or a 5xx): Graph may or may not have acted."""


@dataclass(frozen=True)
class LiveAssignment:
    """One user's hold on one SKU right now, as Graph says."""

    held: bool
    direct: bool
    groups: tuple[str, ...]
    disabled_plans: tuple[str, ...]
    last_successful_sign_in: datetime | None
    holds: frozenset[str]  # every skuId the user holds
    account_enabled: bool | None = None
    sign_in_known: bool = True  # False without Entra ID P1: signInActivity cannot be read

    @property
    def paths(self) -> str:
        return ",".join((["direct"] if self.direct else []) + [f"group:{g}" for g in self.groups])


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _get(client: httpx.Client, url: str, params: dict[str, str], what: str) -> httpx.Response:
    try:
        return client.get(url, params=params)
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from None


def read_user(graph: httpx.Client, user_id: str, sku_id: str) -> LiveAssignment | None:
    """None when the user no longer exists."""
    what = f"Reading user {user_id} before changing its licenses"
    response = _get(graph, f"/users/{user_id}",
                    {"$select": USER_FIELDS + ",signInActivity"}, what)
    sign_in_known = True
    if response.status_code == 403:
        try:
            check(response, what)
        except NoPremiumLicense:  # no P1: the rest of the user is still readable
            sign_in_known = False
            response = _get(graph, f"/users/{user_id}", {"$select": USER_FIELDS}, what)
    if response.status_code == 404:
        return None
    check(response, what)
    body = response.json()
    sku = sku_id.lower()
    licenses = body.get("assignedLicenses") or []
    holds = frozenset(str(a.get("skuId", "")).lower() for a in licenses)
    # an assignment in state Error holds no seat: it is no path to remove
    states = [s for s in body.get("licenseAssignmentStates") or []
              if str(s.get("skuId", "")).lower() == sku
              and str(s.get("state") or "").strip().lower() != "error"]
    direct = any(not s.get("assignedByGroup") for s in states)
    groups = tuple(sorted({str(s["assignedByGroup"]).lower() for s in states
                           if s.get("assignedByGroup")}))
    disabled: list[str] = []
    for a in licenses:
        if str(a.get("skuId", "")).lower() == sku:
            disabled = [str(p).lower() for p in a.get("disabledPlans") or []]
    for s in states:  # the direct path's own disabled plans, when Graph says them apart
        if not s.get("assignedByGroup") and s.get("disabledPlans") is not None:
            disabled = [str(p).lower() for p in s["disabledPlans"]]
    if states and not licenses:
        holds = holds | {sku}
    activity = body.get("signInActivity") or {}
    enabled = body.get("accountEnabled")
    return LiveAssignment(
        held=sku in holds, direct=direct or (sku in holds and not states), groups=groups,
        disabled_plans=tuple(disabled),
        last_successful_sign_in=_when(activity.get("lastSuccessfulSignInDateTime")),
        holds=holds, account_enabled=enabled if isinstance(enabled, bool) else None,
        sign_in_known=sign_in_known,
    )


def read_group(graph: httpx.Client, group_id: str) -> GroupInfo | None:
    """The group as Graph has it now (None: deleted): type, sync, mail, the licenses it grants."""
    what = f"Reading group {group_id} before taking a user out of it"
    response = _get(graph, f"/groups/{group_id}", {"$select": GROUP_SELECT}, what)
    if response.status_code == 404:
        return None
    check(response, what)
    g = response.json()
    types = g.get("groupTypes") or []
    return GroupInfo(
        id=str(g.get("id", group_id)).lower(), display_name=g.get("displayName"),
        dynamic="DynamicMembership" in types or bool(g.get("membershipRule")),
        synced=bool(g.get("onPremisesSyncEnabled")), mail_enabled=bool(g.get("mailEnabled")),
        licenses=tuple(str(a.get("skuId", "")).lower() for a in g.get("assignedLicenses") or []))


def memberships(graph: httpx.Client, user_id: str) -> dict[str, str]:
    """Every group the user is in, directly or through nested groups: id -> display name.

    GET /users/{id}/transitiveMemberOf (User.Read.All is enough; pages of up to 999) lists
    groups, directory roles and administrative units:
    https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof
    """
    found: dict[str, str] = {}
    for page in pages(graph, USER_MEMBER_OF, path=USER_MEMBER_OF.path.format(id=user_id),
                      what=f"Reading the group memberships of user {user_id}"):
        for item in page:
            if str(item.get("@odata.type", "#microsoft.graph.group")) == "#microsoft.graph.group":
                found[str(item.get("id", "")).lower()] = str(item.get("displayName") or "")
    return found


def signed_in_to(graph: httpx.Client, user_id: str, resource: str,
                 since: datetime) -> datetime | None:
    """The newest interactive sign-in of the user to `resource` (an app id) since `since`.

    The sign-in log filters on userId, resourceId and createdDateTime and lists newest first:
    https://learn.microsoft.com/en-us/graph/api/signin-list
    """
    response = _get(graph, "/auditLogs/signIns", {
        "$filter": f"userId eq '{user_id}' and resourceId eq '{resource}'"
                   f" and createdDateTime ge {odata_time(since)}",
        "$top": "1"}, f"Reading the sign-in log of user {user_id}")
    check(response, f"Reading the sign-in log of user {user_id}")
    rows = response.json().get("value") or []
    return _when(rows[0].get("createdDateTime")) if rows else None


def accessed_dataverse(client: httpx.Client, systemuser_id: str, since: datetime,
                       environment: str) -> datetime | None:
    """The newest user-access audit record (operation 4, action 64/65) of a systemuser in one
    environment since `since`. `_userid_value` and createdon are filterable, createdon sorts:
    https://learn.microsoft.com/en-us/power-apps/developer/data-platform/auditing/retrieve-audit-data
    """
    what = f"Reading the user-access audit of {environment}"
    response = _get(client, "/audits", {
        "$select": "createdon",
        "$filter": f"operation eq 4 and (action eq 64 or action eq 65) and _userid_value eq"
                   f" {systemuser_id} and createdon ge {odata_time(since)}",
        "$orderby": "createdon desc", "$top": "1"}, what)
    check(response, what)
    rows = response.json().get("value") or []
    return _when(rows[0].get("createdon")) if rows else None


def _write(graph: httpx.Client, method: str, url: str, body: Any, what: str
           ) -> httpx.Response:
    try:
        response = graph.request(method, url, json=body)
    except _NOT_SENT as exc:
        raise transport_error(exc, what) from None
    except httpx.TransportError as exc:
        raise MaybeDone(f"{what}: Microsoft Graph did not answer, so the change may or may not"
                        " have been made", detail=str(transport_error(exc, what))) from None
    if response.status_code >= 500:
        raise MaybeDone(f"{what}: Microsoft Graph answered HTTP {response.status_code}, so the"
                        " change may or may not have been made",
                        detail=response.text[:2000])
    return response


def assign_license(graph: httpx.Client, user_id: str, add: list[dict[str, Any]],
                   remove: list[str], what: str) -> None:
    # Graph refuses a body without addLicenses, even when only removing
    response = _write(graph, "POST", f"/users/{user_id}/assignLicense",
                      {"addLicenses": add, "removeLicenses": remove}, what)
    check(response, what)


def remove_member(graph: httpx.Client, group_id: str, user_id: str, what: str) -> None:
    response = _write(graph, "DELETE", f"/groups/{group_id}/members/{user_id}/$ref", None, what)
    if response.status_code == 404:  # not a member any more: the goal is reached
        return
    check(response, what)


def add_member(graph: httpx.Client, group_id: str, user_id: str, what: str) -> None:
    ref = f"{str(graph.base_url).rstrip('/')}/directoryObjects/{user_id}"
    response = _write(graph, "POST", f"/groups/{group_id}/members/$ref", {"@odata.id": ref},
                      what)
    if response.status_code == 400 and "already exist" in response.text:
        return
    check(response, what)
