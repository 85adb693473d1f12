"""Graph groups: licensing groups, their members, and membership removal rules."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from . import graph_users
from .generate import COUNT_VIOLATION, effective_sku_ids
from .graph_query import next_link, page_window, parse_select, short_page
from .odata import ODataError, parse_filter
from .odata import evaluate as odata_evaluate
from .tenant import Group, User
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext

READ = (
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Group.ReadWrite.All",
    "GroupMember.ReadWrite.All",
    "Directory.ReadWrite.All",
)
WRITE = ("GroupMember.ReadWrite.All", "Group.ReadWrite.All", "Directory.ReadWrite.All")
DEFAULT = [
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "creationOptions",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
]
KNOWN = set(DEFAULT) | {"assignedLicenses", "licenseProcessingState"}


def render(ctx: GraphContext, g: Group, fields: list[str]) -> dict[str, Any]:
    domain = ctx.cloud.tenant.domain
    dynamic = "DynamicMembership" in g.group_types
    full: dict[str, Any] = {
        "id": g.id,
        "deletedDateTime": None,
        "classification": None,
        "createdDateTime": g.created,
        "creationOptions": [],
        "description": g.description,
        "displayName": g.display_name,
        "expirationDateTime": None,
        "groupTypes": list(g.group_types),
        "isAssignableToRole": None,
        "mail": f"{g.mail_nickname}@{domain}" if g.mail_enabled else None,
        "mailEnabled": g.mail_enabled,
        "mailNickname": g.mail_nickname,
        "membershipRule": g.membership_rule,
        "membershipRuleProcessingState": "On" if dynamic else None,
        "onPremisesDomainName": "corp.contoso.com" if g.on_prem_sync else None,
        "onPremisesLastSyncDateTime": g.created if g.on_prem_sync else None,
        "onPremisesNetBiosName": "CORP" if g.on_prem_sync else None,
        "onPremisesSamAccountName": g.mail_nickname if g.on_prem_sync else None,
        "onPremisesSecurityIdentifier": (
            "S-1-5-21-1004336348-1177238915-682003330-51213" if g.on_prem_sync else None
        ),
        "onPremisesSyncEnabled": True if g.on_prem_sync else None,
        "preferredDataLocation": None,
        "preferredLanguage": None,
        "proxyAddresses": [f"SMTP:{g.mail_nickname}@{domain}"] if g.mail_enabled else [],
        "renewedDateTime": g.created,
        "resourceBehaviorOptions": [],
        "resourceProvisioningOptions": [],
        "securityEnabled": g.security_enabled,
        "securityIdentifier": "S-1-12-1-" + str(int(g.id[:8], 16)),
        "theme": None,
        "visibility": "Private" if "Unified" in g.group_types else None,
        "onPremisesProvisioningErrors": [],
        "serviceProvisioningErrors": [],
        "assignedLicenses": [{"disabledPlans": list(p), "skuId": s} for s, p in g.licenses],
        "licenseProcessingState": {
            "state": "ProcessingComplete" if not g.pending_removals else "ProcessingInProgress"
        },
    }
    return {f: full[f] for f in fields}


def list_groups(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    fields = parse_select(ctx, "group", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    groups = ctx.cloud.tenant.groups
    flt = ctx.req.query.get("$filter")
    if flt:
        try:
            node = parse_filter(flt)
            groups = [g for g in groups if odata_evaluate(node, _group_getter(ctx, g))]
        except (ODataError, KeyError) as exc:
            return ctx.error(400, "Request_UnsupportedQuery", f"Invalid filter clause: {exc}")
    window = page_window(ctx, 100, 999)
    if isinstance(window, Response):
        return window
    top, offset = window
    body: dict[str, Any] = {"@odata.context": ctx.context("groups")}
    if offset + top < len(groups):
        body["@odata.nextLink"] = next_link(ctx, offset + top)
    body["value"] = [render(ctx, g, fields) for g in groups[offset : offset + top]]
    return ctx.ok(body)


def _group_getter(ctx: GraphContext, g: Group) -> Callable[[str], Any]:
    def get(path: str) -> Any:
        name = _field(path)
        return render(ctx, g, [name])[name]

    return get


def _field(path: str) -> str:
    low = path.split("/")[0].lower()
    return next((k for k in KNOWN if k.lower() == low), path)


def _group(ctx: GraphContext, gid: str) -> Group | Response:
    g = ctx.cloud.tenant.groups_by_id.get(gid.lower())
    if g is None:
        return graph_users.not_found(ctx, gid)
    return g


def get_group(ctx: GraphContext, gid: str) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    g = _group(ctx, gid)
    if isinstance(g, Response):
        return g
    fields = parse_select(ctx, "group", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    return ctx.ok({"@odata.context": ctx.context("groups/$entity"), **render(ctx, g, fields)})


def list_members(ctx: GraphContext, gid: str) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    g = _group(ctx, gid)
    if isinstance(g, Response):
        return g
    fields = parse_select(ctx, "user", graph_users.KNOWN, graph_users.DEFAULT)
    if isinstance(fields, Response):
        return fields
    if "signInActivity" in fields:
        return ctx.error(
            400,
            "Request_BadRequest",
            "Property 'signInActivity' is not supported on this endpoint.",
        )
    window = page_window(ctx, 100, 999)
    if isinstance(window, Response):
        return window
    top, offset = window
    members = list(g.members)
    size = short_page(top, offset, ctx.cloud.opts.traps.short_pages)
    users = ctx.cloud.tenant.users
    body: dict[str, Any] = {"@odata.context": ctx.context("directoryObjects")}
    if offset + size < len(members):
        body["@odata.nextLink"] = next_link(ctx, offset + size)
    body["value"] = [
        {"@odata.type": "#microsoft.graph.user", **graph_users.render(ctx, users[i], fields)}
        for i in members[offset : offset + size]
    ]
    return ctx.ok(body)


# GET /users/{id}/transitiveMemberOf: groups, directory roles and administrative units the
# user is in, directly or through nested groups (the simulated tenant nests no groups and has
# no roles or units, so: the user's groups). Application permission User.Read.All or higher;
# pages of 100 by default, $top up to 999; $filter, $search, $orderby and OData casts need
# ConsistencyLevel: eventual with $count=true and are not simulated:
# https://learn.microsoft.com/en-us/graph/api/user-list-transitivememberof
MEMBER_OF_READ = (
    "User.Read.All",
    "User.ReadWrite.All",
    "GroupMember.Read.All",
    "Group.Read.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)


def user_member_of(ctx: GraphContext, key: str) -> Response:
    denied = ctx.require(*MEMBER_OF_READ)
    if denied:
        return denied
    user = graph_users.find_user(ctx, key)
    if user is None:
        return graph_users.not_found(ctx, key)
    if any(k in ctx.req.query for k in ("$filter", "$search", "$orderby")):
        return ctx.error(
            400,
            "Request_UnsupportedQuery",
            "This query is not supported by the simulator's transitiveMemberOf.",
        )
    fields = parse_select(ctx, "group", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    window = page_window(ctx, 100, 999)
    if isinstance(window, Response):
        return window
    top, offset = window
    groups = [g for g in ctx.cloud.tenant.groups if user.idx in g.members]
    body: dict[str, Any] = {"@odata.context": ctx.context("directoryObjects")}
    if offset + top < len(groups):
        body["@odata.nextLink"] = next_link(ctx, offset + top)
    body["value"] = [
        {"@odata.type": "#microsoft.graph.group", **render(ctx, g, fields)}
        for g in groups[offset : offset + top]
    ]
    return ctx.ok(body)


def _refuse(ctx: GraphContext, g: Group) -> Response | None:
    if not ctx.cloud.opts.traps.group_removal_refusals:
        return None
    if "DynamicMembership" in g.group_types:
        return ctx.error(
            400,
            "Request_BadRequest",
            "Insufficient privileges to complete the operation. Members of a "
            "group with dynamic membership can't be added or removed manually.",
        )
    if g.on_prem_sync:
        return ctx.error(
            400,
            "Request_BadRequest",
            "Unable to update the specified properties for on-premises mastered "
            "Directory Sync objects or objects currently undergoing migration.",
        )
    if g.mail_enabled and "Unified" not in g.group_types:
        return ctx.error(
            400,
            "Request_BadRequest",
            "Cannot Update a mail-enabled security groups and or distribution list.",
        )
    return None


def remove_member(ctx: GraphContext, gid: str, uid: str) -> Response:
    denied = ctx.require(*WRITE)
    if denied:
        return denied
    tenant = ctx.cloud.tenant
    with tenant.lock:
        g = _group(ctx, gid)
        if isinstance(g, Response):
            return g
        refused = _refuse(ctx, g)
        if refused:
            return refused
        user = tenant.users_by_id.get(uid.lower())
        if user is None or user.idx not in g.members:
            return ctx.error(
                404,
                "Request_ResourceNotFound",
                "One or more removed object references do not exist for the "
                "following modified properties: 'members'.",
            )
        g.members.remove(user.idx)
        user.groups.discard(g.id)
        if ctx.cloud.opts.traps.async_group_licensing and g.licenses:
            # Entra takes the inherited licences away a little later, not in this call.
            g.pending_removals[user.idx] = time.monotonic() + ctx.cloud.opts.scaled(
                ctx.cloud.opts.group_processing_s
            )
        tenant.touch()
    return Response(204, b"", graph_headers(ctx))


def add_member(ctx: GraphContext, gid: str) -> Response:
    denied = ctx.require(*WRITE)
    if denied:
        return denied
    tenant = ctx.cloud.tenant
    try:
        ref = str(orjson.loads(ctx.req.body or b"{}").get("@odata.id", ""))
    except (orjson.JSONDecodeError, AttributeError):
        return ctx.error(400, "BadRequest", "Unable to read JSON request payload.")
    uid = ref.rstrip("/").rsplit("/", 1)[-1].lower()
    with tenant.lock:
        g = _group(ctx, gid)
        if isinstance(g, Response):
            return g
        refused = _refuse(ctx, g)
        if refused:
            return refused
        user = tenant.users_by_id.get(uid)
        if user is None:
            return graph_users.not_found(ctx, uid)
        if user.idx in g.members:
            return ctx.error(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the "
                "following modified properties: 'members'.",
            )
        held = set(effective_sku_ids(tenant, user))
        g.members.append(user.idx)
        g.pending_removals.pop(user.idx, None)
        user.groups.add(g.id)
        _license_new_member(ctx, g, user, held)
        tenant.touch()
    return Response(204, b"", graph_headers(ctx))


def _license_new_member(ctx: GraphContext, g: Group, user: User, held: set[str]) -> None:
    """Entra licenses a new member in the background; without a free seat for one of the
    group's products it assigns none of them and records the error on the user: "If Microsoft
    Entra ID can't assign one of the products ... it won't assign the other licenses in the
    group either" (https://learn.microsoft.com/entra/identity/users/licensing-groups-resolve-problems)."""
    tenant = ctx.cloud.tenant
    for sku_id, _ in g.licenses:
        user.failed.pop((g.id, sku_id), None)
    if not ctx.cloud.opts.traps.group_license_errors:
        return
    pools = {p.sku.sku_id: p for p in tenant.pools}
    short = [
        sku_id
        for sku_id, _ in g.licenses
        if sku_id not in held
        and sku_id in pools
        and sum(1 for u in tenant.users if sku_id in effective_sku_ids(tenant, u))
        > pools[sku_id].enabled + pools[sku_id].warning
    ]
    if short:
        for sku_id, _ in g.licenses:
            if sku_id not in held:
                user.failed[(g.id, sku_id)] = COUNT_VIOLATION


def graph_headers(ctx: GraphContext) -> list[tuple[str, str]]:
    from .graph import headers

    return headers(ctx.req)
