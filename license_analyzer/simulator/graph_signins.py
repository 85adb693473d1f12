"""Graph /auditLogs/signIns: newest first, 30-day retention; v1.0 lists interactive sign-ins
only, beta also non-interactive ones when asked with signInEventTypes.

"This API returns only interactive sign-ins unless you set an explicit filter. For example, the
filter for getting non-interactive sign-ins is ...$filter=signInEventTypes/any(t: t eq
'nonInteractiveUser')" (https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta);
signInEventTypes is a beta property: v1.0 does not know it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .activity import APPS, ERRORS, RESOURCES
from .graph_query import next_link, page_window
from .odata import Lit, ODataError, parse_filter, paths, time_bounds, vector_evaluate
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext

RETENTION_DAYS = 30
EVENT_TYPES = ("interactiveUser", "nonInteractiveUser")  # indexed by "not interactive"
CITIES = (
    ("Redmond", "Washington", "US", 47.68, -122.12),
    ("Dublin", "Dublin", "IE", 53.35, -6.26),
    ("Munich", "Bavaria", "DE", 48.14, 11.58),
)


def _ops(op: str, col: npt.NDArray[Any], value: Any) -> npt.NDArray[np.bool_]:
    if op == "eq":
        return np.asarray(col == value)
    if op == "ne":
        return np.asarray(col != value)
    if op == "ge":
        return np.asarray(col >= value)
    if op == "gt":
        return np.asarray(col > value)
    if op == "le":
        return np.asarray(col <= value)
    return np.asarray(col < value)


def _matches(ctx: GraphContext, flt: str | None) -> npt.NDArray[np.int64]:
    """Indices of visible matching sign-ins, newest first (cached per query and clock)."""
    cloud = ctx.cloud
    tenant = cloud.tenant
    now_ts = int(tenant.now.timestamp())
    key = ("signins", ctx.version, flt, now_ts)
    with cloud.cache_lock:
        hit = cloud.cache.get(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    s = tenant.signins
    lo_ts = now_ts - RETENTION_DAYS * 86400 if cloud.opts.traps.signin_log_rules else 0
    node = parse_filter(flt) if flt else None
    by_type = node is not None and "signineventtypes" in {p.lower() for p in paths(node)}
    if by_type and ctx.version != "beta":
        raise ODataError(
            "Could not find a property named 'signInEventTypes' on type 'microsoft.graph.signIn'."
        )
    if node is not None:
        lo_f, hi_f = time_bounds(node, "createddatetime")
        lo_ts = max(lo_ts, int(lo_f) if lo_f > -1e18 else lo_ts)
        hi_ts = min(now_ts, int(hi_f) if hi_f < 1e18 else now_ts)
    else:
        hi_ts = now_ts
    lo = int(np.searchsorted(s.t, lo_ts, side="left"))
    hi = int(np.searchsorted(s.t, hi_ts, side="right"))
    idx = np.arange(lo, hi, dtype=np.int64)
    if node is not None and hi > lo:
        users = tenant.users
        t, u, r, a, e = s.t[lo:hi], s.user[lo:hi], s.resource[lo:hi], s.app[lo:hi], s.error[lo:hi]
        kind = (~s.interactive[lo:hi]).astype(np.int8)

        def code(table: tuple[tuple[Any, ...], ...], value: str) -> int:
            return next((i for i, row in enumerate(table) if str(row[0]).lower() == value), -1)

        def leaf(op: str, path: str, lit: Lit) -> Any:
            p = path.lower()
            val = lit.value
            if p == "createddatetime" and lit.kind == "dt":
                return _ops(op, t, int(val.timestamp()))
            if p == "resourceid":
                return _ops(op, r, code(RESOURCES, str(val).lower()))
            if p == "appid":
                return _ops(op, a, code(APPS, str(val).lower()))
            if p == "status/errorcode":
                return _ops(op, e, code(ERRORS, str(val)))
            if p == "signineventtypes":
                names = [n.lower() for n in EVENT_TYPES]
                return _ops(op, kind, names.index(str(val).lower()) if str(val).lower() in names
                            else -1)
            if p in ("userid", "userprincipalname"):
                target = next(
                    (
                        x.idx
                        for x in users
                        if (x.id if p == "userid" else x.upn.lower()) == str(val).lower()
                    ),
                    -1,
                )
                return _ops(op, u, target)
            raise ODataError(f"Invalid filter clause: property '{path}' is not supported.")

        mask = vector_evaluate(node, leaf)
        idx = idx[np.asarray(mask, dtype=bool)]
    if not by_type:
        idx = idx[s.interactive[idx]]  # interactive sign-ins only, unless asked otherwise
    idx = idx[::-1].copy()
    with cloud.cache_lock:
        stale = [k for k in cloud.cache if isinstance(k, tuple) and k[0] == "signins"]
        for k in stale[:-16]:
            del cloud.cache[k]
        cloud.cache[key] = idx
    return idx


def render(ctx: GraphContext, i: int) -> dict[str, Any]:
    s = ctx.cloud.tenant.signins
    user = ctx.cloud.tenant.users[int(s.user[i])]
    res_id, res_name = RESOURCES[int(s.resource[i])]
    app_id, app_name = APPS[int(s.app[i])]
    code, reason = ERRORS[int(s.error[i])]
    city, state, country, lat, lon = CITIES[user.idx % len(CITIES)]
    ts = int(s.t[i])
    interactive = bool(s.interactive[i])
    sid = uuid.UUID(
        int=(ctx.cloud.opts.seed * 1_000_003 + i * 2654435761) % (1 << 128) | (1 << 127)
    )
    body: dict[str, Any] = {
        "id": str(sid),
        "createdDateTime": datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "userDisplayName": user.display_name,
        "userPrincipalName": user.upn.lower(),
        "userId": user.id,
        "appId": app_id,
        "appDisplayName": app_name,
        "ipAddress": f"203.0.113.{user.idx % 250 + 1}",
        "clientAppUsed": "Browser" if interactive else "Mobile Apps and Desktop clients",
        "correlationId": str(uuid.uuid5(sid, "correlation")),
        "conditionalAccessStatus": "notApplied",
        "isInteractive": interactive,
        "riskDetail": "none",
        "riskLevelAggregated": "none",
        "riskLevelDuringSignIn": "none",
        "riskState": "none",
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "resourceDisplayName": res_name,
        "resourceId": res_id,
        "status": {
            "errorCode": code,
            "failureReason": reason,
            "additionalDetails": None
            if code == 0
            else "The user didn't enter the right credentials.",
        },
        "deviceDetail": {
            "deviceId": "",
            "displayName": None,
            "operatingSystem": "Windows 10",
            "browser": "Edge 131.0.0",
            "isCompliant": None,
            "isManaged": None,
            "trustType": None,
        },
        "location": {
            "city": city,
            "state": state,
            "countryOrRegion": country,
            "geoCoordinates": {"altitude": None, "latitude": lat, "longitude": lon},
        },
        "appliedConditionalAccessPolicies": [],
    }
    if ctx.version == "beta":
        body["signInEventTypes"] = [EVENT_TYPES[0 if interactive else 1]]
    return body


def list_signins(ctx: GraphContext) -> Response:
    denied = ctx.require("AuditLog.Read.All")
    if denied:
        return denied
    if not ctx.cloud.tenant.has_p1:
        return ctx.error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    window = page_window(ctx, 1000, 1000)
    if isinstance(window, Response):
        return window
    top, offset = window
    try:
        idx = _matches(ctx, ctx.req.query.get("$filter"))
    except ODataError as exc:
        return ctx.error(400, "Request_UnsupportedQuery", str(exc))
    chunk = idx[offset : offset + top]
    body: dict[str, Any] = {"@odata.context": ctx.context("auditLogs/signIns")}
    if offset + top < len(idx):
        body["@odata.nextLink"] = next_link(ctx, offset + top)
    body["value"] = [render(ctx, int(i)) for i in chunk]
    return ctx.ok(body)
