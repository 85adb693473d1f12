"""Dataverse security roles, their privileges, and who holds them directly or through a team.

Served as the Web API's navigation collections of the role and team entities
(https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/role:
`roleprivileges_association`, `systemuserroles_association`, `teamroles_association`;
https://learn.microsoft.com/en-us/power-apps/developer/data-platform/webapi/reference/team:
`teammembership_association`). Privileges are named prv<Create|Read|Write|Delete><table's
SchemaName> (prvWriteIncident, prvWriteKnowledgeArticle).

Team Members holders get, on a random stream of their own drawn after the rest of the tenant:
a role writing cases directly, the same through the Support team, only creating cases (which
Microsoft allows any Power Apps user), or only the basic role.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import numpy as np

from .wire import Response

if TYPE_CHECKING:
    from .dataverse import DataverseContext
    from .options import SimulatorOptions
    from .tenant import DataverseEnv, Tenant

ROLES: dict[str, tuple[str, ...]] = {
    "Basic User": ("prvReadAccount", "prvCreateContact", "prvWriteContact", "prvReadIncident"),
    "Customer Service Representative": ("prvReadIncident", "prvCreateIncident",
                                        "prvWriteIncident", "prvWriteKnowledgeArticle"),
    "Salesperson": ("prvReadAccount", "prvWriteOpportunity", "prvCreateGoal", "prvWriteGoal"),
    "Case Creator": ("prvReadIncident", "prvCreateIncident"),
}
TEAMS = {"Support Team": "Customer Service Representative", "Sales Team": "Salesperson"}
TEAM_MEMBERS_SKU = "DYN365_TEAM_MEMBERS"


def _id(env: DataverseEnv, kind: str, name: str) -> str:
    return str(uuid.uuid5(uuid.UUID(env.org_id), f"{kind}:{name}"))


def assign_dataverse_roles(tenant: Tenant, opts: SimulatorOptions) -> None:
    from .generate import effective_sku_ids

    rng = np.random.default_rng(opts.seed + 211)  # its own stream: the rest stays as it was
    tm = {p.sku.sku_id.lower() for p in tenant.pools if p.sku.part_number == TEAM_MEMBERS_SKU}
    holders = {u.id for u in tenant.users
               if tm & {s.lower() for s in effective_sku_ids(tenant, u)}}
    for env in tenant.dataverse:
        env.security_roles = {_id(env, "role", n): n for n in ROLES}
        env.user_role_ids = {}
        env.teams = {_id(env, "team", t): (t, [_id(env, "role", role)], [])
                     for t, role in TEAMS.items()}
        support = _id(env, "team", "Support Team")
        for s in env.systemusers:
            if s.kind != "human" or s.isdisabled:
                continue
            mine = [_id(env, "role", "Basic User")]
            if s.aad_object_id in holders:
                r = float(rng.random())
                if r < 0.3:
                    mine.append(_id(env, "role", "Customer Service Representative"))
                elif r < 0.55:
                    env.teams[support][2].append(s.systemuserid)
                elif r < 0.7:
                    mine.append(_id(env, "role", "Case Creator"))
            env.user_role_ids[s.systemuserid] = mine


def _page(ctx: DataverseContext, entity: str, rows: list[dict[str, Any]]) -> Response:
    raw = ctx.req.query.get("$select", "")
    fields = [f.strip().lower() for f in raw.split(",") if f.strip()]
    if fields and rows and any(f not in rows[0] for f in fields):
        bad = next(f for f in fields if f not in rows[0])
        return ctx.error(400, "0x80060888", f"Could not find a property named '{bad}'.")
    shown = [{k: v for k, v in r.items() if not fields or k in fields} for r in rows]
    return ctx.ok({"@odata.context": f"{ctx.root}/$metadata#{entity}", "value": shown})


def _user(env: DataverseEnv, systemuserid: str) -> dict[str, Any]:
    s = next(x for x in env.systemusers if x.systemuserid == systemuserid)
    return {"systemuserid": s.systemuserid, "azureactivedirectoryobjectid": s.aad_object_id,
            "fullname": s.fullname}


def route(ctx: DataverseContext, entity: str) -> Response | None:
    """roles, roles(id)/<nav>, teams(id)/teammembership_association; None: not ours."""
    env = ctx.env
    low = entity.lower()
    if low == "roles":
        return _page(ctx, "roles", [{"roleid": rid, "name": name, "_businessunitid_value":
                                     env.business_unit_id}
                                    for rid, name in env.security_roles.items()])
    head, _, nav = low.partition("/")
    for kind in ("roles(", "teams("):
        if not head.startswith(kind) or not head.endswith(")"):
            continue
        key = head[len(kind):-1]
        if kind == "roles(" and key in env.security_roles:
            name = env.security_roles[key]
            if nav == "roleprivileges_association":
                return _page(ctx, "privileges", [
                    {"privilegeid": _id(env, "privilege", p), "name": p}
                    for p in ROLES[name]])
            if nav == "systemuserroles_association":
                return _page(ctx, "systemusers", [
                    _user(env, uid) for uid, roles in env.user_role_ids.items() if key in roles])
            if nav == "teamroles_association":
                return _page(ctx, "teams", [{"teamid": tid, "name": t[0]}
                                            for tid, t in env.teams.items() if key in t[1]])
        if kind == "teams(" and key in env.teams and nav == "teammembership_association":
            return _page(ctx, "systemusers", [_user(env, uid) for uid in env.teams[key][2]])
        return ctx.error(404, "0x80040217", f"{head} Does Not Exist")
    return None
