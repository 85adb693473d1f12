"""Dataverse per environment: the audit settings (Environment) and the systemusers.

systemuserids differ per environment, so the only join to Entra is azureactivedirectoryobjectid.
Application users, SYSTEM, INTEGRATION, support (access mode 3), non-interactive (4) and
delegated admin (5) users are kept but marked is_human=False, so analysis leaves them out.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlmodel import col, delete, select

from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.paginate import Record, records
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import DATAVERSE_ORGANIZATION, SYSTEMUSERS
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import flag, guid, integer, text
from license_analyzer.store.models import DataverseUser, Environment

NON_HUMAN_NAMES = frozenset({"SYSTEM", "INTEGRATION"})
NON_HUMAN_MODES = frozenset({3, 4, 5})  # support, non-interactive, delegated admin


def _families(ctx: Context, url: str) -> list[str]:
    for env in ctx.profile.dataverse:
        if env.url == url:
            return list(env.families)
    return []


def collect_environment(ctx: Context, ticker: Ticker, url: str) -> str | None:
    client = ctx.clients.dataverse(url)
    rows = records(client, DATAVERSE_ORGANIZATION, what=f"Reading the audit settings of {url}",
                   on_page=ticker.page)
    org = rows[0] if rows else {}
    with ctx.store.session() as session:
        env = session.get(Environment, (ctx.name, url)) or Environment(
            profile=ctx.name, url=url, kind="dataverse")
        env.kind = "dataverse"
        env.families = _families(ctx, url) or env.families
        env.display_name = text(org.get("name")) or env.display_name
        env.audit_enabled = flag(org.get("isauditenabled"))
        env.user_access_audit_enabled = flag(org.get("isuseraccessauditenabled"))
        env.audit_interval_hours = integer(org.get("useraccessauditinginterval"))
        env.audit_retention_days = integer(org.get("auditretentionperiodv2"))
        env.checked_at = ctx.now
        session.add(env)
        save_state(session, ctx.name, DATAVERSE_ORGANIZATION.name, url, cursor=ctx.now,
                   status="ok")
    return None


def is_human(user: Record) -> bool:
    if guid(user.get("applicationid")):
        return False
    if (text(user.get("fullname")) or "").upper() in NON_HUMAN_NAMES:
        return False
    if integer(user.get("accessmode")) in NON_HUMAN_MODES:
        return False
    return not flag(user.get("isintegrationuser"))


def _row(ctx: Context, url: str, user: Record) -> dict[str, Any] | None:
    sid = guid(user.get("systemuserid"))
    if not sid:
        return None
    return {
        "profile": ctx.name, "environment_url": url, "systemuser_id": sid,
        "entra_object_id": guid(user.get("azureactivedirectoryobjectid")),
        "domain_name": text(user.get("domainname")), "full_name": text(user.get("fullname")),
        "access_mode": integer(user.get("accessmode")),
        "is_disabled": flag(user.get("isdisabled")),
        "is_application_user": guid(user.get("applicationid")) is not None,
        "is_integration_user": flag(user.get("isintegrationuser")),
        "is_human": is_human(user), "updated_at": ctx.now,
    }


def collect_systemusers(ctx: Context, ticker: Ticker, url: str) -> str | None:
    client = ctx.clients.dataverse(url)
    found = records(client, SYSTEMUSERS, what=f"Reading the users of {url}", on_page=ticker.page)
    rows = [r for r in (_row(ctx, url, u) for u in found) if r is not None]
    with ctx.store.session() as session:
        upsert(session, DataverseUser, rows)
        session.exec(delete(DataverseUser).where(
            col(DataverseUser.profile) == ctx.name, col(DataverseUser.environment_url) == url,
            col(DataverseUser.updated_at) < ctx.now))  # not in this complete listing
        save_state(session, ctx.name, SYSTEMUSERS.name, url, cursor=ctx.now, status="ok",
                   records=len(rows))
    return None


def human_map(ctx: Context, url: str) -> pl.DataFrame:
    """systemuser_id -> entra_object_id for this environment's human users."""
    with ctx.store.session() as session:
        pairs = session.exec(select(DataverseUser.systemuser_id, DataverseUser.entra_object_id)
                             .where(DataverseUser.profile == ctx.name,
                                    DataverseUser.environment_url == url,
                                    col(DataverseUser.is_human).is_(True),
                                    col(DataverseUser.entra_object_id).is_not(None))).all()
    return pl.DataFrame({"systemuser_id": [p[0] for p in pairs],
                         "entra_object_id": [p[1] for p in pairs]},
                        schema={"systemuser_id": pl.String, "entra_object_id": pl.String})
