"""Finance & Operations security roles and users' role assignments per environment: what each
role's license type asks for and who holds it (the compliance computation reads them).

Each run replaces an environment's rows: an assignment gone from F&O is gone here."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, delete

from license_analyzer.errors import AuthError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.paginate import Record, records
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import FNO_SECURITY_ROLES, FNO_SECURITY_USER_ROLES, Stream
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import text
from license_analyzer.store.models import FnoSecurityRole, FnoUserRole

# where an administrator gives the app's F&O user the right to read the security entities
SECURITY_FIX = ("in {env} open System administration > Setup > Microsoft Entra applications, "
                "note the User ID mapped to the app, and give that user the Security "
                "administrator (or System administrator) role")


def _read(ctx: Context, ticker: Ticker, url: str, stream: Stream) -> list[Record]:
    try:
        return records(ctx.clients.finance_operations(url), stream,
                       what=f"{stream.what} of {url}", on_page=ticker.page)
    except AuthError as exc:
        if "HTTP 403" not in exc.message:
            raise
        # compliance is missing, the rest of the environment is not: degraded, not failed
        raise Degraded(f"{stream.what} of {url}: access denied (HTTP 403); "
                       f"{SECURITY_FIX.format(env=url)}.", detail=exc.detail) from exc


def _raw(value: Any) -> str | None:
    """A license type as F&O wrote it: "None" is a license type (no license needed), not a
    missing value; only an empty one is missing."""
    out = str(value).strip() if value is not None else ""
    return out or None


def collect_security_roles(ctx: Context, ticker: Ticker, url: str) -> str | None:
    found = _read(ctx, ticker, url, FNO_SECURITY_ROLES)
    rows: dict[str, dict[str, Any]] = {}
    for r in found:
        role_id = text(r.get("SecurityRoleIdentifier"))
        if not role_id:
            continue
        rows[role_id] = {"profile": ctx.name, "environment_url": url, "role_id": role_id,
                         "name": text(r.get("SecurityRoleName")),
                         "license_type": _raw(r.get("UserLicenseType")),
                         "updated_at": ctx.now}
    with ctx.store.session() as session:
        session.exec(delete(FnoSecurityRole).where(
            col(FnoSecurityRole.profile) == ctx.name,
            col(FnoSecurityRole.environment_url) == url))
        upsert(session, FnoSecurityRole, list(rows.values()))
        save_state(session, ctx.name, FNO_SECURITY_ROLES.name, url, cursor=ctx.now,
                   status="ok", records=len(rows))
    untyped = sorted(r["name"] or r["role_id"] for r in rows.values() if not r["license_type"])
    if untyped:
        return f"{len(untyped)} role(s) report no license type"
    return None


def collect_user_roles(ctx: Context, ticker: Ticker, url: str) -> str | None:
    found = _read(ctx, ticker, url, FNO_SECURITY_USER_ROLES)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in found:
        user_id, role_id = text(r.get("UserId")), text(r.get("SecurityRoleIdentifier"))
        if not user_id or not role_id:
            continue
        # cross-company or per-organization listings repeat an assignment: keep it once
        rows[(user_id.lower(), role_id)] = {
            "profile": ctx.name, "environment_url": url, "user_id": user_id,
            "role_id": role_id, "role_name": text(r.get("SecurityRoleName")),
            "assignment_status": text(r.get("AssignmentStatus")),
            "assignment_mode": text(r.get("AssignmentMode")),
            "license_type": _raw(r.get("UserLicenseType")), "updated_at": ctx.now}
    with ctx.store.session() as session:
        session.exec(delete(FnoUserRole).where(
            col(FnoUserRole.profile) == ctx.name, col(FnoUserRole.environment_url) == url))
        upsert(session, FnoUserRole, list(rows.values()))
        save_state(session, ctx.name, FNO_SECURITY_USER_ROLES.name, url, cursor=ctx.now,
                   status="ok", records=len(rows))
    return None
