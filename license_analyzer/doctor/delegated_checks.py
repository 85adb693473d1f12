"""A delegated profile's Graph side: the stored sign-in, the consented scopes, the signed-in
person's directory roles. What a delegated token may do is the intersection of the two, so
doctor names each missing scope and each missing role (delegated_scopes.py says which and why).
"""

from __future__ import annotations

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.http import Connection, NoPremiumLicense, jwt_claims
from license_analyzer.sources.http.aadsts import TokenError
from license_analyzer.sources.http.delegated import DelegatedTokenProvider
from license_analyzer.sources.http.delegated_scopes import RoleNeed, role_needs
from license_analyzer.sources.http.errors import MissingPermission, role_fix
from license_analyzer.sources.paginate import records
from license_analyzer.sources.streams import MY_MEMBERSHIPS

from .graph_checks import Add, consent_fix, entra_p1
from .probe import fix_for, get_json, problem_of
from .result import Status

CONSENT_MISSING = 65001
ROLE_TYPE = "#microsoft.graph.directoryRole"


def check(conn: Connection, add: Add, reclamation: bool) -> bool:
    """Every Graph-side check of a delegated profile; False when there is no token at all."""
    tokens = conn.tokens
    assert isinstance(tokens, DelegatedTokenProvider)
    granted = _sign_in(conn, tokens, add)
    if granted is None:
        return False
    for permission in tokens.scopes.graph_permissions:
        target = f"graph {permission}"
        if permission in granted:
            add("consent", target, Status.OK, "Consented (delegated).", "")
        else:
            add("consent", target, Status.FAILED,
                f"The app has no consent for the {permission} delegated permission.",
                consent_fix(permission, "delegated"))
    held = _roles(conn, add)
    if held is not None:
        for need in role_needs(reclamation):
            _role(add, need, held, tokens.account or "the signed-in account")
    _p1(conn, add, granted, held)
    return True


def _sign_in(conn: Connection, tokens: DelegatedTokenProvider, add: Add) -> set[str] | None:
    """The scopes the Graph token carries. Entra refuses the whole request (AADSTS65001) when
    one asked scope lacks consent, so then each is asked alone to name the missing ones."""
    scope = conn.endpoints.graph_scope
    try:
        access = tokens.token(scope)
    except TokenError as exc:
        if exc.code != CONSENT_MISSING:
            add("token", "graph", Status.FAILED, problem_of(exc), fix_for(exc))
            return None
        return _one_by_one(conn, tokens, add)
    except LicenseAnalyzerError as exc:
        add("token", "graph", Status.FAILED, problem_of(exc), fix_for(exc))
        return None
    add("token", "graph", Status.OK,
        f"Token for {conn.endpoints.graph_url} ({tokens.describe()}).", "")
    return set(str(jwt_claims(access).get("scp") or "").split())


def _one_by_one(conn: Connection, tokens: DelegatedTokenProvider, add: Add) -> set[str] | None:
    granted: set[str] = set()
    for permission in tokens.scopes.graph_permissions:
        try:
            tokens.token_for(tokens.scopes.graph((permission,)))
        except TokenError as exc:
            if exc.code != CONSENT_MISSING:
                add("token", "graph", Status.FAILED, problem_of(exc), fix_for(exc))
                return None
        else:
            granted.add(permission)
    add("token", "graph", Status.OK,
        f"Signed in ({tokens.describe()}), but not every delegated permission is consented.", "")
    return granted


def _roles(conn: Connection, add: Add) -> set[str] | None:
    """The signed-in person's active directory roles (GET /me/memberOf, User.Read)."""
    try:
        items = records(conn.graph(), MY_MEMBERSHIPS)
    except LicenseAnalyzerError as exc:
        add("directory_role", "graph", Status.FAILED,
            f"Cannot read the signed-in account's directory roles: {problem_of(exc)}",
            fix_for(exc))
        return None
    return {str(i.get("displayName")) for i in items if i.get("@odata.type") == ROLE_TYPE}


def _role(add: Add, need: RoleNeed, held: set[str], account: str) -> None:
    target = f"graph role to {need.what}"
    having = [role for role in need.roles if role in held]
    if having:
        add("directory_role", target, Status.OK, f"{account} is {having[0]}.", "")
        return
    fix = role_fix(need.roles)
    add("directory_role", target, Status.FAILED,
        f"{account} holds no directory role that may {need.what}.", f"{fix[:1].upper()}{fix[1:]}.")


def _p1(conn: Connection, add: Add, granted: set[str], held: set[str] | None) -> None:
    """Entra ID P1, seen the way the collector would meet it (doctor never writes)."""
    outcomes: dict[str, LicenseAnalyzerError | None] = {}
    if "AuditLog.Read.All" in granted and held is not None:
        try:
            get_json(conn.graph(), "/auditLogs/signIns", "GET /auditLogs/signIns",
                     {"$top": "1"})
        except NoPremiumLicense as exc:
            outcomes["AuditLog.Read.All"] = exc
        except MissingPermission:
            pass  # the role line above already names what is missing
        except LicenseAnalyzerError as exc:
            outcomes["AuditLog.Read.All"] = exc
        else:
            outcomes["AuditLog.Read.All"] = None
    entra_p1(add, outcomes)
