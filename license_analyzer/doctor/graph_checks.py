"""The Entra / Graph side: token, application permissions, Entra ID P1, credential expiry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from license_analyzer.config import Config
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.http import (
    Connection,
    MissingPermission,
    NoPremiumLicense,
    jwt_claims,
)
from license_analyzer.sources.http.errors import permission_fix

from .probe import fix_for, get_json, problem_of
from .result import Status

Add = Callable[[str, str, Status, str, str], None]

READ_PERMISSIONS = ("Organization.Read.All", "User.Read.All", "AuditLog.Read.All",
                    "GroupMember.Read.All")
RECLAMATION_PERMISSIONS = ("LicenseAssignment.ReadWrite.All", "GroupMember.ReadWrite.All")

# higher-privileged permissions that include a needed one (Graph's permission reference)
INCLUDED_IN: dict[str, tuple[str, ...]] = {
    "Organization.Read.All": ("Organization.ReadWrite.All", "Directory.Read.All",
                              "Directory.ReadWrite.All"),
    "User.Read.All": ("User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"),
    "AuditLog.Read.All": (),
    "GroupMember.Read.All": ("GroupMember.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
                             "Directory.Read.All", "Directory.ReadWrite.All"),
    "LicenseAssignment.ReadWrite.All": ("User.ReadWrite.All", "Directory.ReadWrite.All"),
    "GroupMember.ReadWrite.All": ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
}

# the read-only call that proves each read permission works (not just that it is in the token)
CONFIRM: dict[str, tuple[str, dict[str, str]]] = {
    "Organization.Read.All": ("/organization", {"$select": "id"}),
    "User.Read.All": ("/users", {"$top": "1", "$select": "id"}),
    "AuditLog.Read.All": ("/auditLogs/signIns", {"$top": "1"}),
    "GroupMember.Read.All": ("/groups", {"$top": "1", "$select": "id"}),
}


def consent_fix(permission: str, auth: str = "application") -> str:
    text = permission_fix(auth, permission)
    return f"{text[:1].upper()}{text[1:]}."


def token(conn: Connection, add: Add) -> set[str] | None:
    """The roles the Graph token carries, or None when no token could be had."""
    target = "graph"
    try:
        access = conn.tokens.token(conn.endpoints.graph_scope)
    except LicenseAnalyzerError as exc:
        add("token", target, Status.FAILED, problem_of(exc), fix_for(exc))
        return None
    claims = jwt_claims(access)
    source = (f"{conn.endpoints.authority} ({conn.tokens.describe()})"
              if conn.profile.auth == "application" else conn.tokens.describe())
    add("token", target, Status.OK, f"Token for {conn.endpoints.graph_scope} from {source}.", "")
    roles = claims.get("roles")
    return {str(r) for r in roles} if isinstance(roles, list) else set()


def permissions(conn: Connection, add: Add, roles: set[str], reclamation: bool
                ) -> dict[str, LicenseAnalyzerError | None]:
    """One line per needed permission; returns what each confirming call raised (None: fine)."""
    needed = READ_PERMISSIONS + (RECLAMATION_PERMISSIONS if reclamation else ())
    outcomes: dict[str, LicenseAnalyzerError | None] = {}
    graph = conn.graph()
    for permission in needed:
        target = f"graph {permission}"
        via = [p for p in (permission, *INCLUDED_IN[permission]) if p in roles]
        if not via:
            add("permission", target, Status.FAILED,
                f"The token's roles do not include {permission}.",
                consent_fix(permission, conn.profile.auth))
            continue
        granted = f"Granted{'' if via[0] == permission else f' through {via[0]}'}"
        if permission not in CONFIRM:
            add("permission", target, Status.OK,
                f"{granted} (not exercised: doctor never writes).", "")
            continue
        path, params = CONFIRM[permission]
        try:
            get_json(graph, path, f"GET {path}", params)
        except NoPremiumLicense as exc:
            outcomes[permission] = exc  # the permission works; the tenant lacks P1
        except MissingPermission as exc:
            outcomes[permission] = exc
            add("permission", target, Status.FAILED,
                f"{permission} is in the token but Graph refused GET {path}; admin consent may "
                "still be propagating.", consent_fix(permission, conn.profile.auth))
            continue
        except LicenseAnalyzerError as exc:
            outcomes[permission] = exc
            add("permission", target, Status.FAILED, problem_of(exc), fix_for(exc))
            continue
        else:
            outcomes[permission] = None
        add("permission", target, Status.OK, f"{granted}; GET {path} answered.", "")
    return outcomes


def entra_p1(add: Add, outcomes: dict[str, LicenseAnalyzerError | None]) -> None:
    target = "graph tenant"
    if "AuditLog.Read.All" not in outcomes:
        add("entra_p1", target, Status.SKIPPED,
            "Cannot tell without AuditLog.Read.All.", consent_fix("AuditLog.Read.All"))
        return
    outcome = outcomes["AuditLog.Read.All"]
    if isinstance(outcome, NoPremiumLicense):
        add("entra_p1", target, Status.WARNING,
            "The tenant has no Microsoft Entra ID P1: sign-in activity and the sign-in log "
            "cannot be read, so Microsoft 365 products without Dataverse activity show no data.",
            "Assign at least one Microsoft Entra ID P1 (or P2) license in the tenant.")
    elif outcome is None:
        add("entra_p1", target, Status.OK, "Sign-in activity is readable (Entra ID P1 present).",
            "")
    else:
        add("entra_p1", target, Status.SKIPPED, "Cannot tell: the sign-in log call failed.",
            fix_for(outcome))


def credential_expiry(conn: Connection, add: Add, config: Config, now: datetime) -> None:
    warn_days = config.notify.secret_expiry_warning_days
    cert = conn.tokens.certificate
    if cert is not None:  # the PEM says it itself: no Graph call needed
        _judge(add, f"certificate {cert.thumbprint_sha1}", cert.not_after, now, warn_days,
               "Create a new certificate, upload it to the app registration and update "
               "certificate_path.")
        return
    client_id = conn.profile.client_id
    try:
        data = get_json(conn.graph(), "/applications", "GET /applications",
                        {"$filter": f"appId eq '{client_id}'",
                         "$select": "passwordCredentials,keyCredentials"})
    except MissingPermission:
        add("credential_expiry", "graph client secret", Status.WARNING,
            "Cannot tell when the client secret expires: reading it needs Application.Read.All.",
            "Optionally grant Application.Read.All (with admin consent) so doctor and the daily "
            "run can warn before the secret expires.")
        return
    except LicenseAnalyzerError as exc:
        add("credential_expiry", "graph client secret", Status.WARNING,
            f"Cannot tell when the client secret expires: {problem_of(exc)}", fix_for(exc))
        return
    apps = data.get("value") or []
    creds = [c for app in apps if isinstance(app, dict)
             for c in app.get("passwordCredentials") or [] if isinstance(c, dict)]
    secret = conn.profile.client_secret.get_secret_value() if conn.profile.client_secret else ""
    # Graph shows the first characters of each secret as its hint: pick ours when we can
    ours = [c for c in creds if c.get("hint") and secret.startswith(str(c["hint"]))] or creds
    ends = [_parse(c.get("endDateTime")) for c in ours]
    known = [e for e in ends if e is not None]
    if not known:
        add("credential_expiry", "graph client secret", Status.WARNING,
            "Cannot tell when the client secret expires: Graph lists no end date for it.", "")
        return
    _judge(add, "graph client secret", max(known), now, warn_days,
           "Create a new secret under Certificates & secrets and update client_secret.")


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _judge(add: Add, target: str, ends: datetime, now: datetime, warn_days: int,
           fix: str) -> None:
    days = (ends - now).total_seconds() / 86400
    when = ends.strftime("%Y-%m-%d")
    if days <= 0:
        add("credential_expiry", target, Status.FAILED, f"Expired on {when}.", fix)
    elif days <= warn_days:
        add("credential_expiry", target, Status.WARNING,
            f"Expires on {when}, in {int(days)} days.", fix)
    else:
        add("credential_expiry", target, Status.OK, f"Valid until {when}.", "")


