"""Dataverse `audits`: user-access records served straight from the columnar store.

JSON is built per page only, scanning forward from the paging cookie's position, so a
page costs the same at record 10 and at record 10 million.
"""

from __future__ import annotations

import time
import zlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .odata import Lit, ODataError, parse_filter, time_bounds, vector_evaluate
from .paging import SkiptokenError, build_link, dataverse_position, dataverse_token
from .tenant import DataverseEnv
from .wire import Response

if TYPE_CHECKING:
    from .dataverse import DataverseContext

FIELDS = [
    "operation",
    "attributemask",
    "action",
    "useradditionalinfo",
    "createdon",
    "objecttypecode",
    "_callinguserid_value",
    "_regardingobjectid_value",
    "_objectid_value",
    "_userid_value",
    "transactionid",
    "auditid",
]
ACTIONS = {64: "User Access via Web", 65: "User Access via Web Services"}
EMPTY_GUID = "00000000-0000-0000-0000-000000000000"
FV = "OData.Community.Display.V1.FormattedValue"
LL = "Microsoft.Dynamics.CRM.lookuplogicalname"
MAX_PAGE = 5000


def visible(env: DataverseEnv, lo: int, hi: int, now_ts: int) -> npt.NDArray[np.bool_]:
    """Which records in [lo, hi) a client can see at `now_ts`."""
    a = env.audit
    t = a.t[lo:hi]
    mask = (t + a.delay[lo:hi]) <= now_ts
    if env.audit_retention_days >= 0:
        mask &= t >= now_ts - env.audit_retention_days * 86400
    for start, end in env.off_intervals:
        assert start is not None
        mask &= ~((t >= start) & (t < (end if end is not None else 1 << 62)))
    return np.asarray(mask)


def _ops(op: str, col: npt.NDArray[Any], value: Any) -> npt.NDArray[np.bool_]:
    return np.asarray(
        {
            "eq": col == value,
            "ne": col != value,
            "ge": col >= value,
            "gt": col > value,
            "le": col <= value,
            "lt": col < value,
        }[op]
    )


class _Query:
    def __init__(self, ctx: DataverseContext, node: Any) -> None:
        self.env = ctx.env
        self.node = node
        self.ids: dict[str, int] = {}

    def su_index(self, guid: str) -> int:
        if not self.ids:
            self.ids = {s.systemuserid: i for i, s in enumerate(self.env.systemusers)}
        return self.ids.get(guid.lower(), -1)

    def mask(self, lo: int, hi: int, now_ts: int) -> npt.NDArray[np.bool_]:
        m = visible(self.env, lo, hi, now_ts)
        if self.node is None:
            return m
        a = self.env.audit
        sl = slice(lo, hi)

        def leaf(op: str, path: str, lit: Lit) -> Any:
            p = path.lower()
            n = hi - lo
            if p == "createdon":
                if lit.kind != "dt":
                    raise ODataError("createdon must be compared with a DateTimeOffset.")
                return _ops(op, a.t[sl], int(lit.value.timestamp()))
            if p == "action":
                return _ops(op, a.action[sl].astype(np.int64), lit.value)
            if p == "operation":
                return _ops(op, np.full(n, 4), lit.value)
            if p == "objecttypecode":
                codes = np.where(a.legacy[sl], "none", "systemuser")
                return _ops(op, codes, str(lit.value).lower())
            if p in ("_objectid_value", "_userid_value"):
                su = a.su[sl].astype(np.int64)
                if p == "_objectid_value":
                    su = np.where(a.legacy[sl], -1, su)
                if lit.kind == "null":
                    return _ops(op, su, -1)
                return _ops(op, su, self.su_index(str(lit.value)))
            raise ODataError(
                f"Could not find a property named '{path}' on type 'Microsoft.Dynamics.CRM.audit'."
            )

        return np.asarray(m & vector_evaluate(self.node, leaf))


def _page_positions(
    q: _Query, lo: int, hi: int, start: int, size: int, desc: bool, now_ts: int
) -> npt.NDArray[np.int64]:
    """The next size+1 matching positions scanning from `start` in the requested order."""
    found: list[npt.NDArray[np.int64]] = []
    need = size + 1
    chunk = max(4 * size, 65536)
    if not desc:
        pos = max(lo, start)
        while pos < hi and need > 0:
            end = min(hi, pos + chunk)
            idx = np.nonzero(q.mask(pos, end, now_ts))[0] + pos
            found.append(idx[:need])
            need -= len(found[-1])
            pos = end
    else:
        pos = min(hi, start)
        while pos > lo and need > 0:
            begin = max(lo, pos - chunk)
            idx = (np.nonzero(q.mask(begin, pos, now_ts))[0] + begin)[::-1]
            found.append(idx[:need])
            need -= len(found[-1])
            pos = begin
    return np.concatenate(found) if found else np.zeros(0, np.int64)


def audits(ctx: DataverseContext) -> Response:
    if ctx.cloud.opts.audit_page_latency_ms > 0:
        # The audit store is slow in real tenants; the bench measures serving under it.
        time.sleep(ctx.cloud.opts.audit_page_latency_ms / 1000.0)
    env = ctx.env
    a = env.audit
    query = ctx.req.query
    raw_select = query.get("$select")
    fields = FIELDS if not raw_select else [f.strip().lower() for f in raw_select.split(",")]
    unknown = [f for f in fields if f not in FIELDS]
    if unknown:
        return ctx.error(
            400,
            "0x80060888",
            f"Could not find a property named '{unknown[0]}' "
            "on type 'Microsoft.Dynamics.CRM.audit'.",
        )
    order = (query.get("$orderby") or "createdon asc").strip().lower().split()
    if not order or order[0] != "createdon" or (len(order) > 1 and order[1] not in ("asc", "desc")):
        return ctx.error(400, "0x80060888", "The $orderby expression is not supported.")
    desc = len(order) > 1 and order[1] == "desc"
    try:
        node = parse_filter(query["$filter"]) if query.get("$filter") else None
    except ODataError as exc:
        return ctx.error(400, "0x80060888", f"Invalid $filter: {exc}")
    size = MAX_PAGE if ctx.maxpagesize is None else max(1, min(ctx.maxpagesize, MAX_PAGE))
    if ctx.maxpagesize is not None:
        ctx.applied.append(f"odata.maxpagesize={size}")
    top = query.get("$top")
    if top and ctx.maxpagesize is None:
        size = min(size, max(1, int(top)))
    now_ts = int(ctx.cloud.tenant.now.timestamp())
    lo_t, hi_t = time_bounds(node, "createdon") if node is not None else (-1e30, 1e30)
    lo = int(np.searchsorted(a.t, max(lo_t, -1e18), side="left"))
    hi = int(np.searchsorted(a.t, min(hi_t, 1e18), side="right"))
    page, start = 1, (hi if desc else lo)
    token = query.get("$skiptoken")
    if token:
        try:
            page, last = dataverse_position(token)
        except SkiptokenError:
            return ctx.error(400, "0x80060888", "The paging cookie is not valid.")
        start = last if desc else last + 1
    try:
        positions = _page_positions(_Query(ctx, node), lo, hi, start, size, desc, now_ts)
    except ODataError as exc:
        return ctx.error(400, "0x80060888", str(exc))
    # $top without odata.maxpagesize caps the whole result: no further pages.
    more = len(positions) > size and not (top and ctx.maxpagesize is None)
    positions = positions[:size]
    body: dict[str, Any] = {
        "@odata.context": f"{ctx.root}/$metadata#audits"
        + (f"({','.join(fields)})" if raw_select else ""),
    }
    if ctx.annotations:
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = -1
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = False
        body["@Microsoft.Dynamics.CRM.globalmetadataversion"] = "8921344"
    body["value"] = render_page(ctx, positions, fields)
    if more and len(positions):
        params = [(k, v) for k, v in query.items() if k != "$skiptoken"]
        params.append(("$skiptoken", dataverse_token(page, int(positions[-1]))))
        body["@odata.nextLink"] = build_link(f"{ctx.root}/audits", params)
    return ctx.ok(body)


def _env_prefix(env: DataverseEnv) -> str:
    h = zlib.crc32(env.org_id.encode())
    return f"{h:08x}-{env.index:04x}-4{h % 4096:03x}-8{(h >> 12) % 4096:03x}-"


def render_page(
    ctx: DataverseContext, positions: npt.NDArray[np.int64], fields: list[str]
) -> list[dict[str, Any]]:
    env = ctx.env
    a = env.audit
    if len(positions) == 0:
        return []
    t = a.t[positions]
    stamps = np.datetime_as_string(t.astype("datetime64[s]"), unit="s").tolist()
    su = a.su[positions].tolist()
    actions = a.action[positions].tolist()
    legacy = a.legacy[positions].tolist()
    pos = positions.tolist()
    users = env.systemusers
    prefix = _env_prefix(env)
    fv = ctx.wants(FV)
    ll = ctx.wants(LL)
    want = set(fields)
    out = []
    for k in range(len(pos)):
        s = users[su[k]]
        old = legacy[k]
        rec: dict[str, Any] = {}
        if "operation" in want:
            if fv:
                rec["operation@" + FV] = "Access"
            rec["operation"] = 4
        if "attributemask" in want:
            rec["attributemask"] = None
        if "action" in want:
            if fv:
                rec["action@" + FV] = ACTIONS[actions[k]]
            rec["action"] = actions[k]
        if "useradditionalinfo" in want:
            rec["useradditionalinfo"] = None
        if "createdon" in want:
            if fv:
                dt = datetime.fromtimestamp(int(t[k]), UTC)
                rec["createdon@" + FV] = (
                    f"{dt.month}/{dt.day}/{dt.year} {dt.strftime('%I:%M %p').lstrip('0')}"
                )
            rec["createdon"] = stamps[k] + "Z"
        if "objecttypecode" in want:
            if fv:
                rec["objecttypecode@" + FV] = "None" if old else "User"
            rec["objecttypecode"] = "none" if old else "systemuser"
        if "_callinguserid_value" in want:
            rec["_callinguserid_value"] = None
        if "_regardingobjectid_value" in want:
            rec["_regardingobjectid_value"] = None
        if "_objectid_value" in want:
            if not old and ll:
                rec["_objectid_value@" + LL] = "systemuser"
            rec["_objectid_value"] = None if old else s.systemuserid
        if "_userid_value" in want:
            if ll:
                rec["_userid_value@" + LL] = "systemuser"
            if fv:
                rec["_userid_value@" + FV] = s.fullname
            rec["_userid_value"] = s.systemuserid
        # Dataverse returns transactionid even when $select leaves it out.
        rec["transactionid"] = EMPTY_GUID
        rec["auditid"] = f"{prefix}{pos[k]:012x}"
        out.append(rec)
    return out
