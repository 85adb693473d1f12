"""Dataverse WhoAmI, organizations and systemusers."""

from __future__ import annotations

import uuid
import zlib
from typing import TYPE_CHECKING, Any

from .odata import ODataError, dict_getter, parse_filter
from .odata import evaluate as odata_evaluate
from .paging import SkiptokenError, build_link, dataverse_position, dataverse_token
from .tenant import SystemUser
from .wire import Response

if TYPE_CHECKING:
    from .dataverse import DataverseContext

ACCESSMODE = {
    0: "Read-Write",
    1: "Administrative",
    2: "Read",
    3: "Support User",
    4: "Non-interactive",
    5: "Delegated Admin",
}


def whoami(ctx: DataverseContext) -> Response:
    from .dataverse import app_systemuser

    caller = ctx.caller
    if "scp" in caller:  # a signed-in person: their own systemuser
        user_id = next(s.systemuserid for s in ctx.env.systemusers
                       if s.aad_object_id == caller.get("oid"))
    elif caller.get("appid", ctx.cloud.tenant.app.client_id) != ctx.cloud.tenant.app.client_id:
        user_id = str(uuid.uuid5(uuid.UUID(ctx.env.org_id), str(caller["appid"])))
    else:
        user_id = app_systemuser(ctx.cloud, ctx.env).systemuserid
    return ctx.ok(
        {
            "@odata.context": f"{ctx.root}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": ctx.env.business_unit_id,
            "UserId": user_id,
            "OrganizationId": ctx.env.org_id,
        }
    )


def organizations(ctx: DataverseContext) -> Response:
    env = ctx.env
    row = {
        "@odata.etag": 'W/"18204556"',
        "organizationid": env.org_id,
        "name": env.name,
        "isauditenabled": env.auditing_enabled,
        "isuseraccessauditenabled": env.user_access_audit_enabled,
        "useraccessauditinginterval": env.audit_interval_hours,
        "auditretentionperiodv2": env.audit_retention_days,
        "auditsettings": '{"StoreLabelNameforPicklistAudits":false}',
        "isreadauditenabled": False,
    }
    selected = _select(ctx, list(row))
    if isinstance(selected, Response):
        return selected
    out = {k: v for k, v in row.items() if k in selected or k.startswith("@")}
    out["organizationid"] = env.org_id
    body = {"@odata.context": f"{ctx.root}/$metadata#organizations", "value": [out]}
    return ctx.ok(body)


def _select(ctx: DataverseContext, known: list[str]) -> list[str] | Response:
    raw = ctx.req.query.get("$select")
    if not raw:
        return [k for k in known if not k.startswith("@")]
    fields = [f.strip().lower() for f in raw.split(",") if f.strip()]
    for f in fields:
        if f not in known:
            return ctx.error(
                400,
                "0x80060888",
                f"Could not find a property named '{f}' on type "
                "'Microsoft.Dynamics.CRM.systemuser'.",
            )
    return fields


def render_systemuser(ctx: DataverseContext, s: SystemUser, fields: list[str]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "@odata.etag": f'W/"{zlib.crc32(s.systemuserid.encode()) % 90000000 + 1000000}"',
        "systemuserid": s.systemuserid,
        "fullname": s.fullname,
        "domainname": s.domainname,
        "internalemailaddress": s.email,
        "windowsliveid": s.domainname or None,
        "azureactivedirectoryobjectid": s.aad_object_id,
        "isdisabled": s.isdisabled,
        "accessmode": s.accessmode,
        "applicationid": s.applicationid,
        "islicensed": s.islicensed,
        "isintegrationuser": s.kind == "integration",
        "caltype": 0,
        "userlicensetype": 6 if s.islicensed else -1,
        "azurestate": s.azurestate,
        "systemmanagedusertype": 0,
        "setupuser": s.kind in ("system", "integration"),
        "createdon": s.createdon,
        "modifiedon": s.createdon,
        "_businessunitid_value": ctx.env.business_unit_id,
    }
    out = {"@odata.etag": full["@odata.etag"]}
    for f in fields:
        out[f] = full[f]
        if f == "accessmode" and ctx.wants("OData.Community.Display.V1.FormattedValue"):
            out["accessmode@OData.Community.Display.V1.FormattedValue"] = ACCESSMODE[s.accessmode]
        if f == "isdisabled" and ctx.wants("OData.Community.Display.V1.FormattedValue"):
            out["isdisabled@OData.Community.Display.V1.FormattedValue"] = (
                "Disabled" if s.isdisabled else "Enabled"
            )
    out["systemuserid"] = s.systemuserid
    return out


SYSTEMUSER_FIELDS = [
    "systemuserid",
    "fullname",
    "domainname",
    "internalemailaddress",
    "windowsliveid",
    "azureactivedirectoryobjectid",
    "isdisabled",
    "accessmode",
    "applicationid",
    "islicensed",
    "isintegrationuser",
    "caltype",
    "userlicensetype",
    "azurestate",
    "systemmanagedusertype",
    "setupuser",
    "createdon",
    "modifiedon",
    "_businessunitid_value",
]


def systemusers(ctx: DataverseContext) -> Response:
    from .dataverse import app_systemuser

    fields = _select(ctx, SYSTEMUSER_FIELDS)
    if isinstance(fields, Response):
        return fields
    rows = list(ctx.env.systemusers)
    if ctx.env.application_user:
        rows.insert(2, app_systemuser(ctx.cloud, ctx.env))
    flt = ctx.req.query.get("$filter")
    if flt:
        try:
            node = parse_filter(flt)
            rows = [
                s
                for s in rows
                if odata_evaluate(node, dict_getter(render_systemuser(ctx, s, SYSTEMUSER_FIELDS)))
            ]
        except (ODataError, KeyError) as exc:
            return ctx.error(400, "0x80060888", f"Invalid $filter: {exc}")
    size = min(ctx.maxpagesize or 5000, 5000)
    if ctx.maxpagesize:
        ctx.applied.append(f"odata.maxpagesize={size}")
    start, page = 0, 1
    token = ctx.req.query.get("$skiptoken")
    if token:
        try:
            page, start = dataverse_position(token)
        except SkiptokenError:
            return ctx.error(400, "0x80060888", "The paging cookie is not valid.")
    top = ctx.req.query.get("$top")
    if top and not ctx.maxpagesize:
        rows, size = rows[: int(top)], int(top)
    body: dict[str, Any] = {"@odata.context": f"{ctx.root}/$metadata#systemusers"}
    chunk = rows[start : start + size]
    body["value"] = [render_systemuser(ctx, s, fields) for s in chunk]
    if start + size < len(rows):
        params = [(k, v) for k, v in ctx.req.query.items() if k != "$skiptoken"]
        params.append(("$skiptoken", dataverse_token(page, start + size)))
        body["@odata.nextLink"] = build_link(f"{ctx.root}/systemusers", params)
    return ctx.ok(body)


def systemuser(ctx: DataverseContext, key: str) -> Response:
    from .dataverse import app_systemuser

    fields = _select(ctx, SYSTEMUSER_FIELDS)
    if isinstance(fields, Response):
        return fields
    rows = [*ctx.env.systemusers, app_systemuser(ctx.cloud, ctx.env)]
    found = next((s for s in rows if s.systemuserid == key.strip("'{}")), None)
    if found is None:
        return ctx.error(
            404, "0x80040217", f"systemuser With Id = {key.strip(chr(39))} Does Not Exist"
        )
    body = {
        "@odata.context": f"{ctx.root}/$metadata#systemusers/$entity",
        **render_systemuser(ctx, found, fields),
    }
    return ctx.ok(body)
