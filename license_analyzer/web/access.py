"""Who may do what in the review app, from the ID token's claims and [web].

viewers see every page; reviewers also decide; admins also see the access page. A group
object id or an app role value listed under [web] grants its level (the token's `groups` and
`roles` claims). With route_to_manager, someone whose people have candidates may see and
decide those, whatever their groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from license_analyzer.config import WebConfig
from license_analyzer.errors import AuthError

LEVELS = ("viewer", "reviewer", "admin")
MANAGER = "manager"


@dataclass(frozen=True)
class Identity:
    object_id: str  # oid: immutable, what decisions and managers are matched on
    upn: str  # preferred_username: shown and recorded, never used to authorize
    name: str | None
    tenant_id: str
    groups: frozenset[str]
    app_roles: frozenset[str]


def identity(claims: dict[str, Any]) -> Identity:
    if "groups" in (claims.get("_claim_names") or {}) or claims.get("hasgroups"):
        # https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
        # #groups-overage-claim: more than 200 groups and the token lists none
        raise AuthError(f"{claims.get('preferred_username', 'This account')} is in more groups"
                        " than an ID token can list, so its groups are unknown; in the app"
                        " registration's Token configuration emit only \"Groups assigned to the"
                        " application\", or grant access with app roles instead of groups.")
    oid = str(claims.get("oid") or "").lower()
    if not oid:
        raise AuthError("The ID token has no oid claim; the app registration must ask for the"
                        " openid and profile scopes.")
    return Identity(
        object_id=oid,
        upn=str(claims.get("preferred_username") or oid),
        name=str(claims["name"]) if claims.get("name") else None,
        tenant_id=str(claims.get("tid") or "").lower(),
        groups=frozenset(str(g).lower() for g in claims.get("groups") or []),
        app_roles=frozenset(str(r).lower() for r in claims.get("roles") or []),
    )


def roles_of(person: Identity, web: WebConfig, has_reports: bool) -> list[str]:
    """Every level the person holds (each implies those below it), and manager."""
    held = person.groups | person.app_roles
    granted = {level for level, names in (("viewer", web.viewers), ("reviewer", web.reviewers),
                                          ("admin", web.admins))
               if held & {n.lower() for n in names}}
    top = max((LEVELS.index(level) for level in granted), default=-1)
    roles = list(LEVELS[:top + 1])
    if web.route_to_manager and has_reports:
        roles.append(MANAGER)
    return roles


def can_view_all(roles: list[str]) -> bool:
    return "viewer" in roles


def can_decide(roles: list[str]) -> bool:
    return "reviewer" in roles


def is_admin(roles: list[str]) -> bool:
    return "admin" in roles


def only_manager(roles: list[str]) -> bool:
    return MANAGER in roles and not can_view_all(roles)
