"""Per Dataverse environment: who creates, updates or deletes a table Microsoft restricts to
Dynamics 365 app licenses, through their own security roles or a team's.

Roles come from the Web API (`roles`), each role's privileges from `roleprivileges_association`
(prv<Create|Write|Delete><table's SchemaName>), its holders from `systemuserroles_association`
and `teamroles_association` + `teammembership_association`. Only roles that write a restricted
table are followed to their users, so an environment costs a few requests per role.

Creating cases is left out: "Power Apps ... licensed users can 'create' cases"
(https://learn.microsoft.com/en-us/power-apps/maker/data-platform/data-platform-restricted-entities).
"""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, delete

from license_analyzer.catalog.restricted_tables import restricted_tables
from license_analyzer.errors import AuthError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.paginate import records
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import (
    DATAVERSE_ROLES,
    ROLE_PRIVILEGES,
    ROLE_TEAMS,
    ROLE_USERS,
    TEAM_MEMBERS,
)
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import guid, text
from license_analyzer.store.models import DataverseRestrictedWrite

STREAM = "dataverse_restricted_writes"
_WRITE = re.compile(r"^prv(Create|Write|Delete)(\w+)$")


def written_tables(privileges: list[str]) -> set[str]:
    """The restricted tables these privilege names create, update or delete."""
    tables = restricted_tables()
    out: set[str] = set()
    for name in privileges:
        found = _WRITE.match(name)
        if not found:
            continue
        action, table = found.group(1), found.group(2).lower()
        if table in tables and not (table == "incident" and action == "Create"):
            out.add(table)
    return out


def collect_restricted_writes(ctx: Context, ticker: Ticker, url: str) -> str | None:
    client = ctx.clients.dataverse(url)

    def read(stream: Any, key: str | None = None) -> list[dict[str, Any]]:
        path = stream.path.replace("{id}", key) if key else None
        try:
            return records(client, stream, path=path, what=f"{stream.what} in {url}",
                           on_page=ticker.page)
        except AuthError as exc:
            if "HTTP 403" not in exc.message:
                raise
            # compliance is missing, activity is not: degraded, not failed
            raise Degraded(f"{stream.what} in {url}: access denied (HTTP 403); give the "
                           "application user a security role with read on Security Role, "
                           "User and Team.", detail=exc.detail) from exc

    rows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    members: dict[str, list[dict[str, Any]]] = {}
    for role in read(DATAVERSE_ROLES):
        role_id, name = guid(role.get("roleid")), text(role.get("name")) or ""
        if not role_id:
            continue
        tables = written_tables([text(p.get("name")) or "" for p in read(ROLE_PRIVILEGES, role_id)])
        if not tables:
            continue
        holders = [(u, "direct") for u in read(ROLE_USERS, role_id)]
        for team in read(ROLE_TEAMS, role_id):
            team_id = guid(team.get("teamid"))
            if not team_id:
                continue
            if team_id not in members:
                members[team_id] = read(TEAM_MEMBERS, team_id)
            holders += [(u, f"team:{text(team.get('name')) or team_id}")
                        for u in members[team_id]]
        for user, via in holders:
            oid = guid(user.get("azureactivedirectoryobjectid"))
            if not oid:
                continue  # application and system users: no license
            for table in tables:
                rows[(oid, table, name, via)] = {
                    "profile": ctx.name, "environment_url": url, "user_id": oid,
                    "table_name": table, "role_name": name, "via": via, "updated_at": ctx.now}
    with ctx.store.session() as session:
        session.exec(delete(DataverseRestrictedWrite).where(
            col(DataverseRestrictedWrite.profile) == ctx.name,
            col(DataverseRestrictedWrite.environment_url) == url))
        upsert(session, DataverseRestrictedWrite, list(rows.values()))
        save_state(session, ctx.name, STREAM, url, cursor=ctx.now, status="ok",
                   records=len(rows))
    return None
