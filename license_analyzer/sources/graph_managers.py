"""Each user's manager (Entra object id), for the review app's routing to managers.

Collected only when [web] route_to_manager is on. A manager that is an organizational contact
(Graph allows it) cannot sign in, so only user managers are kept. One listing per run: a user
seen without a manager has none now; a listing cut short changes nobody it did not see.
"""

from __future__ import annotations

import logging

from sqlalchemy import bindparam, update

from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.paginate import pages
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import MANAGERS
from license_analyzer.sources.upsert import table_of
from license_analyzer.sources.values import guid
from license_analyzer.store.models import DirectoryUser

log = logging.getLogger(__name__)
USER_TYPE = "#microsoft.graph.user"


def collect_managers(ctx: Context, ticker: Ticker) -> str | None:
    managers: dict[str, str | None] = {}
    for page in pages(ctx.clients.graph(), MANAGERS, on_page=ticker.page):
        for user in page:
            user_id = guid(user.get("id"))
            if not user_id:
                continue
            manager = user.get("manager") or {}
            kind = manager.get("@odata.type") or USER_TYPE
            managers[user_id] = guid(manager.get("id")) if kind == USER_TYPE else None
    table = table_of(DirectoryUser)
    with ctx.store.session() as session:
        if managers:
            session.connection().execute(
                update(table).where(table.c.profile == ctx.name, table.c.id == bindparam("_id"))
                .values(manager_id=bindparam("_manager")),
                [{"_id": u, "_manager": m} for u, m in managers.items()])
        save_state(session, ctx.name, MANAGERS.name, cursor=ctx.now, status="ok",
                   records=len(managers))
    log.debug("%s: managers of %d users", ctx.name, len(managers))
    return None
