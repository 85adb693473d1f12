"""Customer Engagement: Dynamics 365 Team Members holders whose Dataverse security roles (their
own or a team's) create, update or delete a table Microsoft restricts to Dynamics 365 app
licenses are under-licensed; the cheapest license that may write each such table is required
(https://learn.microsoft.com/en-us/power-apps/maker/data-platform/data-platform-restricted-entities).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import col

from license_analyzer.catalog.restricted_tables import (
    NO_LONGER_SOLD,
    list_prices,
    restricted_tables,
)
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    DataverseRestrictedWrite,
    DirectoryUser,
    LicenseAssignment,
    SkuState,
)

TEAM_MEMBERS = ("DYN365_TEAM_MEMBERS", "DYN365_ENTERPRISE_TEAM_MEMBERS")


def _price(sku: str, configured: Mapping[str, float]) -> float:
    return configured.get(sku, list_prices().get(sku, 0.0))


def cheapest_cover(need: set[str], configured: Mapping[str, float]) -> list[str]:
    """The licenses to buy so every table in `need` may be written: the cheapest single one
    that covers them all, else the cheapest per table, the most constrained table first."""
    tables = restricted_tables()

    def buyable(table: str) -> list[str]:
        return [s for s in tables[table] if s not in NO_LONGER_SOLD]

    def cost(sku: str) -> tuple[float, str]:
        return _price(sku, configured), sku

    if not need:
        return []
    options = {s for t in need for s in buyable(t)}
    single = [s for s in options if all(s in tables[t] for t in need)]
    if single:
        return [min(single, key=cost)]
    chosen: list[str] = []
    for table in sorted(need, key=lambda t: (len(buyable(t)), t)):
        if not set(chosen) & set(tables[table]):
            chosen.append(min(buyable(table), key=cost))
    return chosen


def ce_rows(store: Store, profiles: list[str], configured: Mapping[str, float],
            shown: Callable[[str], str]) -> list[dict[str, Any]]:
    """One row per Team Members holder who writes a restricted table: compliant when they also
    hold a license that may write every such table, else under_licensed with what is missing."""
    writers = sa_select(col(DataverseRestrictedWrite.user_id))
    with store.session() as session:
        writes = session.execute(sa_select(
            col(DataverseRestrictedWrite.profile), col(DataverseRestrictedWrite.user_id),
            col(DataverseRestrictedWrite.environment_url), col(DataverseRestrictedWrite.table_name),
            col(DataverseRestrictedWrite.role_name), col(DataverseRestrictedWrite.via))
            .where(col(DataverseRestrictedWrite.profile).in_(profiles))).all()
        held_rows = session.execute(sa_select(
            col(LicenseAssignment.profile), col(LicenseAssignment.user_id),
            col(SkuState.sku_part_number))
            .join(SkuState, (col(SkuState.profile) == col(LicenseAssignment.profile))
                  & (col(SkuState.sku_id) == col(LicenseAssignment.sku_id)))
            .where(col(LicenseAssignment.profile).in_(profiles),
                   col(LicenseAssignment.user_id).in_(writers),
                   col(LicenseAssignment.valid_to).is_(None),
                   (col(LicenseAssignment.state).is_(None))
                   | (col(LicenseAssignment.state) != "Error"))).all()
        upns = dict(((p, u), upn) for p, u, upn in session.execute(sa_select(
            col(DirectoryUser.profile), col(DirectoryUser.id),
            col(DirectoryUser.user_principal_name))
            .where(col(DirectoryUser.profile).in_(profiles),
                   col(DirectoryUser.id).in_(writers))).all())
    held: dict[tuple[str, str], set[str]] = {}
    for profile, user_id, part in held_rows:
        held.setdefault((profile, user_id), set()).add(part.upper())
    per_user: dict[tuple[str, str], list[tuple[str, str, str, str]]] = {}
    for profile, user_id, env, table, role, via in writes:
        per_user.setdefault((profile, user_id), []).append((env, table, role, via))
    tables = restricted_tables()
    rows: list[dict[str, Any]] = []
    for key, found in sorted(per_user.items()):
        mine = held.get(key, set())
        if not mine & set(TEAM_MEMBERS):
            continue  # the check is for Team Members holders
        driving: set[str] = set()
        need: set[str] = set()
        for _env, table, role, via in found:
            if mine & set(tables[table]):
                continue
            need.add(table)
            driving.add(role if via == "direct" else f"{role} ({via.replace(':', ' ', 1)})")
        missing = {s: _price(s, configured) for s in cheapest_cover(need, configured)}
        rows.append({
            "profile": key[0], "user_id": key[1],
            "user_principal_name": upns.get(key),
            "environments": sorted({f[0] for f in found}),
            "required": [shown(s) for s in missing],
            "assigned": sorted(shown(s) for s in mine & set(TEAM_MEMBERS)),
            "status": "under_licensed" if missing else "compliant",
            "driving_roles": sorted(driving) or sorted({f[2] for f in found}),
            "monthly_delta": round(sum(missing.values()), 2),
            "source": "computed", "missing": [shown(s) for s in missing],
            "fo_user_id": None, "object_id": None, "disagreement": None,
            "restricted_tables": sorted({f[1] for f in found}),
        })
    return rows


def merge_ce(rows: list[dict[str, Any]], ce: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A user with an F&O row gets the Customer Engagement need added to it: one row per
    (profile, user)."""
    by_key = {(r["profile"], r["user_id"]): r for r in rows if r["source"] != "admin_center"}
    out = list(rows)
    for c in ce:
        mine = by_key.get((c["profile"], c["user_id"]))
        if mine is None:
            out.append(c)
            continue
        if c["status"] == "under_licensed":
            mine["required"] = mine["required"] + [s for s in c["required"]
                                                   if s not in mine["required"]]
            mine["missing"] = mine["missing"] + c["missing"]
            mine["monthly_delta"] = round(max(mine["monthly_delta"], 0.0) + c["monthly_delta"],
                                          2)
            mine["status"] = "under_licensed"
        mine["environments"] = sorted(set(mine["environments"]) | set(c["environments"]))
        mine["driving_roles"] = mine["driving_roles"] + [d for d in c["driving_roles"]
                                                         if d not in mine["driving_roles"]]
        mine["restricted_tables"] = c["restricted_tables"]
    return out
