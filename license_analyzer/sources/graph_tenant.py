"""Graph: the organization, subscribedSkus, directory subscriptions and licensing groups."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, delete, select

from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.paginate import Record, records
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import (
    GROUP_MEMBERS,
    LICENSED_GROUPS,
    ORGANIZATION,
    SUBSCRIBED_SKUS,
    SUBSCRIPTIONS,
)
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import flag, guid, integer, moment, text
from license_analyzer.store.models import (
    DirectoryGroup,
    GroupMember,
    Profile,
    SkuSnapshot,
    SkuState,
    Subscription,
)

log = logging.getLogger(__name__)

# Entra ID P1 / P2 service plans (Microsoft's licensing CSV)
P1_PLAN_IDS = frozenset({"41781fb2-bc02-4b7c-bd55-b576c07bb09d",
                         "eec0eb4f-6444-4f95-aba0-50c24d67f998"})
P1_SERVICES = frozenset({"aadpremiumservice"})
# "Warning: Available for normal use and assignment but is in a grace period": a P1 in its
# grace period still serves sign-in data (https://learn.microsoft.com/graph/api/resources/assignedplan)
USABLE = frozenset({"enabled", "warning"})


def usable(status: object) -> bool:
    """A capabilityStatus whose capability still works (missing counts as enabled)."""
    return (text(status) or "Enabled").strip().lower() in USABLE


def has_premium_plan(plans: list[Record]) -> bool:
    """A usable Entra ID P1/P2 plan among organization.assignedPlans."""
    for plan in plans:
        if not usable(plan.get("capabilityStatus")):
            continue
        if guid(plan.get("servicePlanId")) in P1_PLAN_IDS:
            return True
        if (text(plan.get("service")) or "").lower() in P1_SERVICES:
            return True
    return False


def collect_organization(ctx: Context, ticker: Ticker) -> str | None:
    rows = records(ctx.clients.graph(), ORGANIZATION, on_page=ticker.page)
    org = rows[0] if rows else {}
    ctx.has_p1 = has_premium_plan(list(org.get("assignedPlans") or []))
    with ctx.store.session() as session:
        existing = session.get(Profile, ctx.name)
        profile = existing or Profile(name=ctx.name, tenant_id=ctx.profile.tenant_id,
                                      created_at=ctx.now, updated_at=ctx.now)
        profile.tenant_id = ctx.profile.tenant_id
        profile.display_name = text(org.get("displayName")) or profile.display_name
        profile.has_p1 = ctx.has_p1
        profile.updated_at = ctx.now
        session.add(profile)
        save_state(session, ctx.name, ORGANIZATION.name, cursor=ctx.now, status="ok")
    return None


def _sku_row(ctx: Context, sku: Record) -> dict[str, Any]:
    units = sku.get("prepaidUnits") or {}
    return {
        "profile": ctx.name,
        "sku_id": guid(sku.get("skuId")) or "",
        "sku_part_number": text(sku.get("skuPartNumber")) or "",
        "applies_to": text(sku.get("appliesTo")) or "User",
        "capability_status": text(sku.get("capabilityStatus")) or "Enabled",
        "enabled": integer(units.get("enabled")) or 0,
        "warning": integer(units.get("warning")) or 0,
        "suspended": integer(units.get("suspended")) or 0,
        "locked_out": integer(units.get("lockedOut")) or 0,
        "consumed": integer(sku.get("consumedUnits")) or 0,
        "service_plans": [{"id": guid(p.get("servicePlanId")),
                           "name": text(p.get("servicePlanName")),
                           "applies_to": text(p.get("appliesTo")),
                           "status": text(p.get("provisioningStatus"))}
                          for p in sku.get("servicePlans") or []],
        "subscription_ids": [s for s in (guid(x) for x in sku.get("subscriptionIds") or []) if s],
        "updated_at": ctx.now,
    }


def collect_skus(ctx: Context, ticker: Ticker) -> str | None:
    rows = [_sku_row(ctx, s) for s in records(ctx.clients.graph(), SUBSCRIBED_SKUS,
                                              on_page=ticker.page)]
    rows = [r for r in rows if r["sku_id"]]
    if any(usable(r["capability_status"]) and any(
            (p["name"] or "").upper().startswith("AAD_PREMIUM") for p in r["service_plans"])
           for r in rows):
        ctx.has_p1 = True
    snapshot = [{k: r[k] for k in ("profile", "sku_id", "capability_status", "enabled",
                                   "warning", "suspended", "locked_out", "consumed")}
                | {"day": ctx.now.date()} for r in rows]
    with ctx.store.session() as session:
        upsert(session, SkuState, rows)
        upsert(session, SkuSnapshot, snapshot)
        session.exec(delete(SkuState).where(
            col(SkuState.profile) == ctx.name, col(SkuState.updated_at) < ctx.now))
        save_state(session, ctx.name, SUBSCRIBED_SKUS.name, cursor=ctx.now, status="ok",
                   records=len(rows))
    return None


def collect_subscriptions(ctx: Context, ticker: Ticker) -> str | None:
    rows = []
    for sub in records(ctx.clients.graph(), SUBSCRIPTIONS, on_page=ticker.page):
        sub_id = guid(sub.get("id"))
        if not sub_id:
            continue
        rows.append({
            "profile": ctx.name, "id": sub_id, "sku_id": guid(sub.get("skuId")) or "",
            "sku_part_number": text(sub.get("skuPartNumber")),
            "status": text(sub.get("status")) or "Enabled",
            "total_licenses": integer(sub.get("totalLicenses")) or 0,
            "is_trial": flag(sub.get("isTrial")),
            "created_at": moment(sub.get("createdDateTime")),
            "next_lifecycle_at": moment(sub.get("nextLifecycleDateTime")),
            "updated_at": ctx.now,
        })
    with ctx.store.session() as session:
        upsert(session, Subscription, rows)
        session.exec(delete(Subscription).where(
            col(Subscription.profile) == ctx.name,
            col(Subscription.updated_at) < ctx.now))
        save_state(session, ctx.name, SUBSCRIPTIONS.name, cursor=ctx.now, status="ok",
                   records=len(rows))
    return None


def _is_user(member: Record) -> bool:
    kind = text(member.get("@odata.type"))
    return kind is None or kind.lower() == "#microsoft.graph.user"


def collect_groups(ctx: Context, ticker: Ticker) -> str | None:
    graph = ctx.clients.graph()
    groups = []
    for g in records(graph, LICENSED_GROUPS, on_page=ticker.page):
        licenses = [{"skuId": guid(x.get("skuId")),
                     "disabledPlans": [p for p in (guid(d) for d in x.get("disabledPlans") or [])
                                       if p]}
                    for x in g.get("assignedLicenses") or [] if guid(x.get("skuId"))]
        if not licenses or not guid(g.get("id")):
            continue  # only groups that carry licenses matter here
        groups.append({
            "profile": ctx.name, "id": guid(g.get("id")),
            "display_name": text(g.get("displayName")),
            "group_types": [t for t in (text(x) for x in g.get("groupTypes") or []) if t],
            "membership_rule": text(g.get("membershipRule")),
            "on_premises_sync_enabled": flag(g.get("onPremisesSyncEnabled")),
            "mail_enabled": flag(g.get("mailEnabled")),
            "security_enabled": flag(g.get("securityEnabled"), True),
            "assigned_licenses": licenses, "updated_at": ctx.now,
        })
    members: list[dict[str, Any]] = []
    for g in groups:
        path = GROUP_MEMBERS.path.format(id=g["id"])
        for m in records(graph, GROUP_MEMBERS, path=path, on_page=ticker.page):
            user_id = guid(m.get("id"))
            if user_id and _is_user(m):
                members.append({"profile": ctx.name, "group_id": g["id"], "user_id": user_id})
    members = list({(m["group_id"], m["user_id"]): m for m in members}.values())
    with ctx.store.session() as session:
        session.exec(delete(GroupMember).where(
            col(GroupMember.profile) == ctx.name))
        session.exec(delete(DirectoryGroup).where(
            col(DirectoryGroup.profile) == ctx.name, col(DirectoryGroup.updated_at) < ctx.now))
        upsert(session, DirectoryGroup, groups)
        upsert(session, GroupMember, members)
        save_state(session, ctx.name, LICENSED_GROUPS.name, cursor=ctx.now, status="ok",
                   records=len(groups))
    log.debug("%s: %d licensing groups, %d memberships", ctx.name, len(groups), len(members))
    return None


def known_p1(ctx: Context) -> bool | None:
    """has_p1 as the store last knew it (for a run that starts with the users stream)."""
    with ctx.store.session() as session:
        row = session.exec(select(Profile).where(Profile.name == ctx.name)).first()
        return row.has_p1 if row else None
