"""Graph /users: licences, licence states, sign-in activity, filters, assignLicense."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from .generate import effective_sku_ids, pending_groups
from .graph_query import next_link, parse_select, parse_top, short_page, start_offset
from .odata import ODataError, parse_filter, paths, walk
from .odata import evaluate as odata_evaluate
from .tenant import User
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext

DEFAULT = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
]
KNOWN = set(DEFAULT) | {
    "accountEnabled",
    "userType",
    "department",
    "createdDateTime",
    "assignedLicenses",
    "licenseAssignmentStates",
    "signInActivity",
    "usageLocation",
    "onPremisesSyncEnabled",
    "companyName",
    "mailNickname",
    "employeeId",
    "assignedPlans",
    "proxyAddresses",
}
ADVANCED_FUNCS = {"endswith", "contains"}
NEVER = 0


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# lastSuccessfulSignInDateTime: "Effective December 1, 2023 ... The data isn't backfilled":
# https://learn.microsoft.com/graph/api/resources/signinactivity
SUCCESS_KEPT_SINCE = int(datetime(2023, 12, 1, tzinfo=UTC).timestamp())


def signin_arrays(
    ctx: GraphContext,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Last interactive attempt, last non-interactive attempt and last success per user as of
    the tenant clock."""
    cloud = ctx.cloud
    now_ts = int(cloud.tenant.now.timestamp())
    key = ("signin-activity", now_ts)
    with cloud.cache_lock:
        hit = cloud.cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    s = cloud.tenant.signins
    upto = int(np.searchsorted(s.t, now_ts, side="right"))
    users, times, kinds = s.user[:upto], s.t[:upto], s.interactive[:upto]
    last = cloud.tenant.prior_interactive.copy()
    np.maximum.at(last, users[kinds], times[kinds])
    noninteractive = np.zeros_like(last)
    np.maximum.at(noninteractive, users[~kinds], times[~kinds])
    ok = s.error[:upto] == 0
    success = cloud.tenant.prior_success.copy()
    np.maximum.at(success, users[ok], times[ok])
    with cloud.cache_lock:
        cloud.cache[key] = (last, noninteractive, success)
    return last, noninteractive, success


def _request_id(user: User, ts: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user.id}/{ts}"))


def sign_in_activity(ctx: GraphContext, user: User, raw: bool = False) -> dict[str, Any] | None:
    last, logged_ni, success = signin_arrays(ctx)
    li, ls = int(last[user.idx]), int(success[user.idx])
    now_ts = int(ctx.cloud.tenant.now.timestamp())
    noninteractive = int(logged_ni[user.idx])
    if user.persona == "service":
        noninteractive = max(noninteractive, now_ts - 600 - user.idx % 7200)
        ls = max(ls, noninteractive)
    elif ls:
        # token refreshes of Microsoft 365 apps, which the simulated log does not list
        noninteractive = max(noninteractive, min(now_ts, ls + 3 * 3600))
    if ctx.cloud.opts.traps.success_not_backfilled and ls < SUCCESS_KEPT_SINCE:
        ls = 0
    if raw:
        return {
            "lastSignInDateTime": _iso(li) if li else None,
            "lastSuccessfulSignInDateTime": _iso(ls) if ls else None,
            "lastNonInteractiveSignInDateTime": _iso(noninteractive) if noninteractive else None,
        }
    sentinel = ctx.cloud.opts.traps.sentinel_dates
    if not li and not noninteractive:
        if not sentinel or user.idx % 3 == 0:
            return None
        empty = "0001-01-01T00:00:00Z" if user.idx % 3 == 1 else ""
        return {
            "lastSignInDateTime": empty,
            "lastSignInRequestId": "",
            "lastNonInteractiveSignInDateTime": "0001-01-01T00:00:00Z",
            "lastNonInteractiveSignInRequestId": "",
            "lastSuccessfulSignInDateTime": "",
            "lastSuccessfulSignInRequestId": "",
        }
    blank_dt = "0001-01-01T00:00:00Z" if sentinel else None
    blank = "" if sentinel else None
    return {
        "lastSignInDateTime": _iso(li) if li else blank_dt,
        "lastSignInRequestId": _request_id(user, li) if li else blank,
        "lastNonInteractiveSignInDateTime": _iso(noninteractive) if noninteractive else blank_dt,
        "lastNonInteractiveSignInRequestId": (
            _request_id(user, noninteractive) if noninteractive else blank
        ),
        "lastSuccessfulSignInDateTime": _iso(ls) if ls else blank,
        "lastSuccessfulSignInRequestId": _request_id(user, ls) if ls else blank,
    }


def _sku(user: User, sku_id: str) -> str:
    return sku_id.upper() if user.upper_sku else sku_id


def assigned_licenses(ctx: GraphContext, user: User) -> list[dict[str, Any]]:
    tenant = ctx.cloud.tenant
    out = []
    for sku_id in effective_sku_ids(tenant, user):
        plans = user.direct.get(sku_id)
        if plans is None:
            plans = next(
                (
                    p
                    for g in sorted(user.groups) + pending_groups(tenant, user)
                    for s, p in tenant.groups_by_id[g].licenses
                    if s == sku_id
                ),
                [],
            )
        out.append({"disabledPlans": list(plans), "skuId": _sku(user, sku_id)})
    return out


def license_states(ctx: GraphContext, user: User) -> list[dict[str, Any]]:
    tenant = ctx.cloud.tenant
    err: str | None = "None" if user.none_error else None
    state = " Active " if user.padded_state else "Active"
    out = []
    for sku_id, plans in user.direct.items():
        out.append(
            {
                "assignedByGroup": None,
                "disabledPlans": list(plans),
                "error": err,
                "lastUpdatedDateTime": user.direct_dates.get(sku_id),
                "skuId": _sku(user, sku_id),
                "state": state,
            }
        )
    for gid in sorted(user.groups) + pending_groups(tenant, user):
        group = tenant.groups_by_id[gid]
        for sku_id, plans in group.licenses:
            failed = user.failed.get((gid, sku_id))
            # a group licence Entra could not assign: state Error with its reason
            # (https://learn.microsoft.com/graph/api/resources/licenseassignmentstate)
            out.append(
                {
                    "assignedByGroup": gid,
                    "disabledPlans": list(plans),
                    "error": failed or err,
                    "lastUpdatedDateTime": group.license_date,
                    "skuId": _sku(user, sku_id),
                    "state": "Error" if failed else state,
                }
            )
    return out


# How each selectable property is rendered; properties the simulator does not model are null.
_RENDER: dict[str, Callable[[GraphContext, User], Any]] = {
    "id": lambda ctx, u: u.id,
    "businessPhones": lambda ctx, u: [],
    "displayName": lambda ctx, u: u.display_name,
    "givenName": lambda ctx, u: u.given_name,
    "surname": lambda ctx, u: u.surname,
    "jobTitle": lambda ctx, u: u.job_title,
    "mail": lambda ctx, u: u.mail,
    "mobilePhone": lambda ctx, u: None,
    "officeLocation": lambda ctx, u: None,
    "companyName": lambda ctx, u: None,
    "employeeId": lambda ctx, u: None,
    "preferredLanguage": lambda ctx, u: "en-US",
    "userPrincipalName": lambda ctx, u: u.upn,
    "accountEnabled": lambda ctx, u: u.account_enabled,
    "userType": lambda ctx, u: u.user_type,
    "department": lambda ctx, u: u.department,
    "createdDateTime": lambda ctx, u: u.created,
    "usageLocation": lambda ctx, u: u.usage_location,
    "onPremisesSyncEnabled": lambda ctx, u: True if u.idx % 4 == 0 else None,
    "mailNickname": lambda ctx, u: u.upn.split("@")[0],
    "proxyAddresses": lambda ctx, u: [f"SMTP:{u.mail}"] if u.mail else [],
    "assignedPlans": lambda ctx, u: [],
    "assignedLicenses": assigned_licenses,
    "licenseAssignmentStates": license_states,
    "signInActivity": lambda ctx, u: sign_in_activity(ctx, u),
}


def render(ctx: GraphContext, user: User, fields: list[str]) -> dict[str, Any]:
    return {f: _RENDER[f](ctx, user) for f in fields if f in _RENDER}


def parse_expand(ctx: GraphContext) -> list[str] | None | Response:
    """`$expand=manager` or `manager($select=a,b)`: the manager's fields, None without it.

    https://learn.microsoft.com/graph/api/user-list-manager: `GET /users?$expand=manager`;
    `$levels` only on a single user, which the analyzer never asks for.
    """
    raw = (ctx.req.query.get("$expand") or "").strip()
    if not raw:
        return None
    name, _, inner = raw.partition("(")
    if name.strip().lower() != "manager":
        return ctx.error(400, "BadRequest", "Parsing OData Select and Expand failed: Could not"
                         f" find a property named '{name.strip()}' on type"
                         " 'microsoft.graph.user'.")
    options = dict(part.partition("=")[::2] for part in inner.rstrip(")").split(";") if part)
    if "$levels" in options and ctx.req.path.rstrip("/").lower().endswith("/users"):
        return ctx.error(400, "Request_UnsupportedQuery", "Transitive manager's list is only"
                         " supported on a single user, send the $expand request on"
                         " /users/{id} endpoint")
    chosen = options.get("$select")
    if not chosen:
        return list(DEFAULT)
    lower = {k.lower(): k for k in KNOWN}
    fields = [lower.get(f.strip().lower(), "") for f in chosen.split(",")]
    if "" in fields:
        return ctx.error(400, "BadRequest", "Parsing OData Select and Expand failed: Could not"
                         " find a property named in $select of manager.")
    return fields if "id" in fields else [*fields, "id"]


def with_manager(ctx: GraphContext, user: User, body: dict[str, Any],
                 fields: list[str] | None) -> dict[str, Any]:
    """A user without a manager has no `manager` property at all."""
    if fields is not None and user.manager is not None:
        manager = ctx.cloud.tenant.users[user.manager]
        body["manager"] = {"@odata.type": "#microsoft.graph.user",
                           **render(ctx, manager, fields)}
    return body


def _getter(ctx: GraphContext, user: User) -> Any:
    def get(path: str) -> Any:
        low = path.lower()
        if low.startswith("signinactivity/"):
            sia = sign_in_activity(ctx, user, raw=True) or {}
            key = next((k for k in sia if k.lower() == low.split("/", 1)[1]), "")
            return sia.get(key)
        if low == "assignedlicenses":
            return [
                {"skuId": s, "disabledPlans": p["disabledPlans"]}
                for s, p in ((a["skuId"].lower(), a) for a in assigned_licenses(ctx, user))
            ]
        name = next((k for k in KNOWN if k.lower() == low), None)
        if name is None:
            raise ODataError(
                f"Could not find a property named '{path}' on type 'microsoft.graph.user'."
            )
        return render(ctx, user, [name])[name]

    return get


def _advanced(node: Any) -> str | None:
    for n in walk(node):
        if n[0] == "func" and n[1] in ADVANCED_FUNCS:
            return {"endswith": "endsWith", "contains": "contains"}[n[1]]
        if n[0] == "not":
            return "not"
        if n[0] == "cmp" and n[1] == "ne":
            return "ne"
        if n[0] == "cmp" and n[2].lower().endswith("/$count"):
            return "$count"
    return None


def _matching(ctx: GraphContext, flt: str | None, search: str | None) -> list[int] | Response:
    cloud = ctx.cloud
    tenant = cloud.tenant
    # Group removals finishing in the background change results without a new version.
    t = time.monotonic()
    finished = sum(1 for g in tenant.groups for d in g.pending_removals.values() if d <= t)
    key = ("users", flt, search, int(tenant.now.timestamp()), tenant.version, finished)
    with cloud.cache_lock:
        hit = cloud.cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    users = tenant.users
    result: list[int]
    if flt:
        node = parse_filter(flt)
        result = [u.idx for u in users if odata_evaluate(node, _getter(ctx, u))]
    else:
        result = [u.idx for u in users]
    if search:
        term = search.strip('"').split(":", 1)[-1].lower()
        result = [
            i
            for i in result
            if term in users[i].display_name.lower() or term in users[i].upn.lower()
        ]
    with cloud.cache_lock:
        if len(cloud.cache) > 256:
            cloud.cache.clear()
        cloud.cache[key] = result
    return result


def _premium(ctx: GraphContext) -> Response | None:
    denied = ctx.require("AuditLog.Read.All")
    if denied:
        return denied
    if not ctx.cloud.tenant.has_p1:
        return ctx.error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    return None


def list_users(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    q = ctx.req.query
    traps = ctx.cloud.opts.traps
    fields = parse_select(ctx, "user", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    manager_fields = parse_expand(ctx)
    if isinstance(manager_fields, Response):
        return manager_fields
    flt = q.get("$filter")
    node = None
    if flt:
        try:
            node = parse_filter(flt)
        except ODataError as exc:
            return ctx.error(400, "BadRequest", f"Invalid filter clause: {exc}")
    eventual = (ctx.req.header("consistencylevel") or "").lower() == "eventual"
    count = q.get("$count", "").lower() == "true"
    adv = _advanced(node) if node else None
    if traps.consistency_level:
        if adv and not (eventual and count):
            return ctx.error(
                400,
                "Request_UnsupportedQuery",
                f"Operator '{adv}' is not supported because the required "
                "parameters might be missing. Try adding $count=true query "
                "parameter and ConsistencyLevel:eventual header. Refer to "
                "https://aka.ms/graph-docs/advanced-queries for more information",
            )
        if (count or "$search" in q) and not eventual:
            return ctx.error(
                400,
                "Request_BadRequest",
                "$count and $search require the ConsistencyLevel:eventual "
                "header. Refer to https://aka.ms/graph-docs/advanced-queries "
                "for more information",
            )
    filtered_paths = {p.lower() for p in paths(node)} if node else set()
    sia_filter = any(p.startswith("signinactivity") for p in filtered_paths)
    wants_sia = "signInActivity" in fields or sia_filter
    if wants_sia:
        denied = _premium(ctx)
        if denied:
            return denied
    if sia_filter and traps.signin_activity_limits and len(filtered_paths) > 1:
        return ctx.error(
            400,
            "Request_UnsupportedQuery",
            "Unsupported or invalid query filter clause specified for property "
            "'signInActivity' of resource 'User'.",
        )
    top = parse_top(ctx, 100, 999)
    if isinstance(top, Response):
        return top
    cap = 500 if wants_sia and traps.signin_activity_limits else 999
    size = min(top, cap)
    offset = start_offset(ctx)
    if isinstance(offset, Response):
        return offset
    try:
        matches = _matching(ctx, flt, q.get("$search"))
    except ODataError as exc:
        return ctx.error(400, "Request_UnsupportedQuery", str(exc))
    if isinstance(matches, Response):
        return matches
    size = short_page(size, offset, traps.short_pages)
    chunk = matches[offset : offset + size]
    users = ctx.cloud.tenant.users
    select = q.get("$select")
    body: dict[str, Any] = {
        "@odata.context": ctx.context(f"users({select})" if select else "users")
    }
    if count and offset == 0:
        body["@odata.count"] = len(matches)
    if offset + size < len(matches):
        body["@odata.nextLink"] = next_link(ctx, offset + size)
    body["value"] = [with_manager(ctx, users[i], render(ctx, users[i], fields), manager_fields)
                     for i in chunk]
    return ctx.ok(body)


READ = ("User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All")


def count_users(ctx: GraphContext) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    if (ctx.req.header("consistencylevel") or "").lower() != "eventual":
        return ctx.error(
            400,
            "Request_BadRequest",
            "Count is not currently supported without ConsistencyLevel:eventual.",
        )
    return Response(
        200, str(len(ctx.cloud.tenant.users)).encode(), [("Content-Type", "text/plain")]
    )


def find_user(ctx: GraphContext, key: str) -> User | None:
    tenant = ctx.cloud.tenant
    user = tenant.users_by_id.get(key.lower())
    if user is None:
        user = next((u for u in tenant.users if u.upn.lower() == key.lower()), None)
    return user


def not_found(ctx: GraphContext, key: str) -> Response:
    return ctx.error(
        404,
        "Request_ResourceNotFound",
        f"Resource '{key}' does not exist or one of its queried reference-property "
        "objects are not present.",
    )


def get_user(ctx: GraphContext, key: str) -> Response:
    denied = ctx.require(*READ)
    if denied:
        return denied
    fields = parse_select(ctx, "user", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    if "signInActivity" in fields:
        denied = _premium(ctx)
        if denied:
            return denied
    manager_fields = parse_expand(ctx)
    if isinstance(manager_fields, Response):
        return manager_fields
    user = find_user(ctx, key)
    if user is None:
        return not_found(ctx, key)
    body = {"@odata.context": ctx.context("users/$entity"), **render(ctx, user, fields)}
    return ctx.ok(with_manager(ctx, user, body, manager_fields))


def get_manager(ctx: GraphContext, key: str) -> Response:
    """GET /users/{id}/manager: 404 when none is assigned."""
    denied = ctx.require(*READ)
    if denied:
        return denied
    user = find_user(ctx, key)
    if user is None:
        return not_found(ctx, key)
    if user.manager is None:
        return not_found(ctx, "manager")
    manager = ctx.cloud.tenant.users[user.manager]
    fields = parse_select(ctx, "user", KNOWN, DEFAULT)
    if isinstance(fields, Response):
        return fields
    return ctx.ok({"@odata.context": ctx.context("directoryObjects/$entity"),
                   "@odata.type": "#microsoft.graph.user", **render(ctx, manager, fields)})


def assign_license(ctx: GraphContext, key: str) -> Response:
    denied = ctx.require(
        "LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"
    )
    if denied:
        return denied
    try:
        payload = orjson.loads(ctx.req.body or b"{}")
    except orjson.JSONDecodeError:
        return ctx.error(400, "BadRequest", "Unable to read JSON request payload.")
    missing = [
        k
        for k in ("addLicenses", "removeLicenses")
        if not isinstance(payload, dict) or payload.get(k) is None
    ]
    if missing:
        return ctx.error(
            400,
            "Request_BadRequest",
            "One or more parameters of the operation 'assignLicense' are missing "
            "from the request payload. The missing parameters are: "
            f"{', '.join(missing)}.",
        )
    tenant = ctx.cloud.tenant
    with tenant.lock:
        user = find_user(ctx, key)
        if user is None:
            return not_found(ctx, key)
        pools = {p.sku.sku_id: p for p in tenant.pools}
        adds = []
        for item in payload["addLicenses"]:
            sku_id = str(item.get("skuId", "")).lower()
            pool = pools.get(sku_id)
            if pool is None:
                return ctx.error(
                    400,
                    "Request_BadRequest",
                    f"License {sku_id} does not correspond to a valid company License.",
                )
            if sku_id not in effective_sku_ids(tenant, user):
                used = sum(1 for u in tenant.users if sku_id in effective_sku_ids(tenant, u))
                if used >= pool.enabled + pool.warning:
                    return ctx.error(
                        400,
                        "Request_BadRequest",
                        f"Subscription with SKU {sku_id} does not have any available licenses.",
                    )
            adds.append((sku_id, [str(p).lower() for p in item.get("disabledPlans") or []]))
        removes = [str(s).lower() for s in payload["removeLicenses"]]
        for sku_id in removes:
            if sku_id in user.direct:
                continue
            if sku_id in effective_sku_ids(tenant, user):
                return ctx.error(
                    400,
                    "Request_BadRequest",
                    "User license is inherited from a group membership and it "
                    "cannot be removed directly from the user.",
                )
            return ctx.error(
                400, "Request_BadRequest", "User does not have a corresponding license."
            )
        stamp = tenant.now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for sku_id, plans in adds:
            user.direct[sku_id] = plans
            user.direct_dates[sku_id] = stamp
        for sku_id in removes:
            user.direct.pop(sku_id, None)
            user.direct_dates.pop(sku_id, None)
        tenant.touch()
    body = {"@odata.context": ctx.context("users/$entity"), **render(ctx, user, DEFAULT)}
    return ctx.ok(body)
