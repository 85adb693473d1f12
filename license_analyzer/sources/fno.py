"""Finance & Operations SystemUsers per environment: who is enabled where (F&O exposes no
sign-in log). Joined to Entra by UserObjectId, else by Alias to the UPN (case-insensitive);
users that match nothing are kept with match_method None and reported."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, delete, select

from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.paginate import Record, records
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import FNO_SYSTEMUSERS
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import flag, guid, text
from license_analyzer.store.models import DirectoryUser, FinanceOperationsUser

log = logging.getLogger(__name__)


def match(user: Record, ids: set[str], by_upn: dict[str, str]) -> tuple[str | None, str | None]:
    """(Entra object id, how it was matched) for one F&O user."""
    oid = guid(user.get("UserObjectId"))
    if oid and oid in ids:
        return oid, "object_id"
    alias = (text(user.get("Alias")) or "").lower()
    if alias and alias in by_upn:
        return by_upn[alias], "alias"
    return None, None


def collect_fno_users(ctx: Context, ticker: Ticker, url: str) -> str | None:
    found = records(ctx.clients.finance_operations(url), FNO_SYSTEMUSERS,
                    what=f"Reading the users of {url}", on_page=ticker.page)
    with ctx.store.session() as session:
        directory = session.exec(select(DirectoryUser.id, DirectoryUser.user_principal_name)
                                 .where(DirectoryUser.profile == ctx.name)).all()
        ids = {d[0] for d in directory}
        by_upn = {d[1].lower(): d[0] for d in directory}
        rows: dict[str, dict[str, Any]] = {}
        for u in found:
            user_id = text(u.get("UserID"))
            if not user_id or user_id.lower() in rows:
                continue  # cross-company lists a user once per company
            matched, how = match(u, ids, by_upn)
            rows[user_id.lower()] = {
                "profile": ctx.name, "environment_url": url, "user_id": user_id,
                "user_name": text(u.get("UserName")), "alias": text(u.get("Alias")),
                "email": text(u.get("Email")), "enabled": flag(u.get("Enabled"), True),
                "object_id": guid(u.get("UserObjectId")), "matched_user_id": matched,
                "match_method": how, "updated_at": ctx.now,
            }
        upsert(session, FinanceOperationsUser, list(rows.values()))
        session.exec(delete(FinanceOperationsUser).where(
            col(FinanceOperationsUser.profile) == ctx.name,
            col(FinanceOperationsUser.environment_url) == url,
            col(FinanceOperationsUser.updated_at) < ctx.now))
        save_state(session, ctx.name, FNO_SYSTEMUSERS.name, url, cursor=ctx.now, status="ok",
                   records=len(rows))
    unmatched = sorted(r["user_id"] for r in rows.values() if r["match_method"] is None)
    if unmatched:
        shown = ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else "")
        log.info("%s %s: %d Finance & Operations user(s) match no Entra user: %s", ctx.name,
                 url, len(unmatched), shown)
        return f"{len(unmatched)} user(s) match no Entra user"
    return None
