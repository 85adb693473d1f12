"""Failed calls become one sentence that names the fix (Airbyte's traced exception).

`check(response, what)` is called on every response a source reads; `transport_error` turns a
connection failure into the same kind of sentence. The response body goes to `detail`,
redacted, for the log.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import unquote

import httpx
import orjson

from license_analyzer.errors import AuthError, LicenseAnalyzerError, SourceError
from license_analyzer.redact import redact

from .delegated_scopes import ROLES_FOR_PERMISSION
from .retry import ThrottledTooLong, is_untrusted_certificate

Resource = Literal["graph", "dataverse", "finance_operations", "power_platform"]

# set on every request by the Connection's clients, read here to pick the right fix
RESOURCE_EXTENSION = "license_analyzer.resource"
ENVIRONMENT_EXTENSION = "license_analyzer.environment"
AUTH_EXTENSION = "license_analyzer.auth"  # the profile's auth: whose permission is missing

NOT_A_MEMBER = "0x80072560"  # Dataverse: the app has no application user in this environment

APPLICATION_USER_FIX = (
    "add the app as an application user in {env} (Power Platform admin center > Environments >"
    " the environment > Settings > Users + permissions > Application users > New app user) "
    "with a security role that can read users and audit history"
)
FNO_REGISTRATION_FIX = (
    "register the app's client id in {env} under System administration > Setup > Microsoft "
    "Entra ID applications, linked to a user with read access to users"
)


class NoPremiumLicense(SourceError):
    """The tenant has no Entra ID P1/P2: sign-in data cannot be read; collectors degrade."""


class UntrustedCertificate(SourceError):
    """TLS verification failed: the profile's trust (ca_bundle) does not cover this server."""


class MissingPermission(AuthError):
    """Graph refused for lack of a permission; `permission` names it."""

    def __init__(self, message: str, permission: str, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.permission = permission


class MissingRole(MissingPermission):
    """Graph refused a signed-in person who holds none of the directory roles the call admits
    (403 Authentication_RequestFromUnsupportedUserRole); `roles`, least privileged first."""

    def __init__(self, message: str, permission: str, roles: tuple[str, ...],
                 detail: str | None = None) -> None:
        super().__init__(message, permission, detail=detail)
        self.roles = roles


def permission_fix(auth: str, permission: str) -> str:
    """Where the missing Graph permission is granted, for each way of signing in."""
    if auth == "delegated":
        return (f"add the {permission} delegated permission under API permissions > Microsoft "
                "Graph > Delegated permissions, grant admin consent and run `license-analyzer "
                "login` again")
    if auth == "managed_identity":
        return (f"assign the {permission} app role of Microsoft Graph to the managed identity's "
                "service principal with Microsoft Graph PowerShell "
                "(New-MgServicePrincipalAppRoleAssignment) or the Azure CLI")
    return (f"add the {permission} application permission under API permissions > Microsoft "
            "Graph > Application permissions and grant admin consent")


def role_fix(roles: tuple[str, ...]) -> str:
    others = f" (or {', '.join(roles[1:])})" if len(roles) > 1 else ""
    return (f"assign the signed-in account the {roles[0]} role{others} in the Microsoft Entra "
            "admin center under Roles & admins")


# first match wins; (method or None for any, regex on path + query) -> application permission
_PERMISSIONS: list[tuple[str | None, re.Pattern[str], str]] = [
    (None, re.compile(r"/assignLicense\b", re.I), "LicenseAssignment.ReadWrite.All"),
    ("DELETE", re.compile(r"/groups/[^/]+/members/[^/]+/\$ref", re.I),
     "GroupMember.ReadWrite.All"),
    ("POST", re.compile(r"/groups/[^/]+/members/\$ref", re.I), "GroupMember.ReadWrite.All"),
    (None, re.compile(r"/auditLogs/signIns", re.I), "AuditLog.Read.All"),
    # Microsoft 365 usage reports and their concealed-names setting
    (None, re.compile(r"/reports/", re.I), "Reports.Read.All"),
    ("PATCH", re.compile(r"/admin/reportSettings", re.I), "ReportSettings.ReadWrite.All"),
    (None, re.compile(r"/admin/reportSettings", re.I), "ReportSettings.Read.All"),
    (None, re.compile(r"/users\b.*signInActivity", re.I), "AuditLog.Read.All"),
    (None, re.compile(r"/(subscribedSkus|directory/subscriptions|organization)\b", re.I),
     "Organization.Read.All"),
    (None, re.compile(r"/groups\b", re.I), "GroupMember.Read.All"),
    (None, re.compile(r"/applications\b", re.I), "Application.Read.All"),
    (None, re.compile(r"/users\b", re.I), "User.Read.All"),
]


def permission_for(method: str, url: httpx.URL | str) -> str | None:
    """The least-privileged Graph application permission a request needs, when we know it."""
    parsed = httpx.URL(str(url))
    target = unquote(parsed.path + ("?" + parsed.query.decode() if parsed.query else ""))
    for only, pattern, permission in _PERMISSIONS:
        if (only is None or only == method.upper()) and pattern.search(target):
            return permission
    return None


def _body(response: httpx.Response) -> tuple[str, str, str]:
    """(code, message, redacted text) of an error body in Graph, Dataverse or F&O shape."""
    try:
        response.read()
        text = response.text
    except (httpx.HTTPError, UnicodeDecodeError):
        return "", "", ""
    code = message = ""
    try:
        data: Any = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            code = str(error.get("code") or "")
            message = str(error.get("message") or "")
        elif isinstance(error, str):  # OAuth style
            code, message = error, str(data.get("error_description") or "")
        elif "Message" in data:  # F&O
            message = str(data.get("Message") or "")
    return code, redact(message), redact(text[:4000])


def _auth_of(response: httpx.Response) -> str:
    request = _request_of(response)
    return str(request.extensions.get(AUTH_EXTENSION) or "application") if request else (
        "application")


def _caller(auth: str) -> str:
    return {"delegated": "the signed-in account", "managed_identity": "the managed identity"
            }.get(auth, "the app")


def _member_fix(auth: str, env: str) -> str:
    if auth == "delegated":
        return (f"add the signed-in account as a user of {env} with a security role that can "
                "read users and audit history (System Administrator)")
    if auth == "managed_identity":
        return (f"add the managed identity (its application id) as an application user in {env}"
                " with a security role that can read users and audit history")
    return APPLICATION_USER_FIX.format(env=env)


def _request_of(response: httpx.Response) -> httpx.Request | None:
    try:
        return response.request
    except RuntimeError:  # a response built by hand, without its request
        return None


def _resource(response: httpx.Response, resource: Resource | None) -> tuple[Resource | None, str]:
    request = _request_of(response)
    extensions = request.extensions if request is not None else {}
    kind = resource or extensions.get(RESOURCE_EXTENSION)
    env = str(extensions.get(ENVIRONMENT_EXTENSION) or response.url.copy_with(
        path="/", query=None, fragment=None)).rstrip("/")
    return kind, env


def check(response: httpx.Response, what: str, *, resource: Resource | None = None) -> None:
    """Raise the one-sentence error for a failed response; return quietly on success."""
    if response.is_success:
        return
    status = response.status_code
    code, message, text = _body(response)
    kind, env = _resource(response, resource)
    request = _request_of(response)
    method = request.method if request is not None else "GET"
    detail = f"HTTP {status} {method} {response.url.path}: {text}"
    said = f" ({code}: {message})" if code or message else ""
    if status == 401:
        auth = _auth_of(response)
        fix = {
            "dataverse": _member_fix(auth, env),
            "finance_operations": FNO_REGISTRATION_FIX.format(env=env) if auth != "delegated"
            else f"give the signed-in account an enabled user in {env} with a role that can read "
                 "users",
            "power_platform": "register the app once as a Power Platform management application "
                              "(New-PowerAppManagementApp -ApplicationId <client_id>)",
        }.get(kind or "", "check that tenant_id, client_id and the credential belong to the same "
                           "app registration and cloud")
        raise AuthError(f"{what}: the token was rejected (HTTP 401); {fix}.", detail=detail)
    if status == 403:
        _raise_forbidden(response, what, kind, env, code, message, detail)
    if status == 404:
        raise SourceError(f"{what}: not found (HTTP 404){said}; check the URL in the profile.",
                          detail=detail)
    if status == 429:
        raise ThrottledTooLong(method, response.url.path, 0.0, 0.0)
    raise SourceError(f"{what} failed with HTTP {status}{said}; it is retried on the next run.",
                      detail=detail)


def _raise_forbidden(response: httpx.Response, what: str, kind: Resource | None, env: str,
                     code: str, message: str, detail: str) -> None:
    if code == "Authentication_RequestFromNonPremiumTenantOrB2CTenant":
        raise NoPremiumLicense(
            f"{what}: the tenant has no Microsoft Entra ID P1 or P2 license, so sign-in activity"
            " cannot be read; collection continues without it (assign a P1 license to enable it).",
            detail=detail,
        )
    auth = _auth_of(response)
    if code == "Authentication_RequestFromUnsupportedUserRole":
        request = _request_of(response)
        needed = permission_for(request.method if request else "GET", response.url) or ""
        roles = ROLES_FOR_PERMISSION.get(needed, ("Global Reader",))
        raise MissingRole(f"{what}: the signed-in account holds no directory role that may do "
                          f"this; {role_fix(roles)}.", needed, roles, detail=detail)
    if code == "Authorization_RequestDenied" or kind == "graph":
        request = _request_of(response)
        method = request.method if request is not None else "GET"
        permission = permission_for(method, response.url)
        if permission:
            raise MissingPermission(f"{what}: {_caller(auth)} lacks the {permission} permission; "
                                    f"{permission_fix(auth, permission)}.", permission,
                                    detail=detail)
        raise AuthError(f"{what}: access denied (HTTP 403, {code or 'no code'}); grant the app "
                        "the Graph application permission this call needs, with admin consent.",
                        detail=detail)
    if code.lower() == NOT_A_MEMBER or "not a member of the organization" in message:
        raise AuthError(f"{what}: {_caller(auth)} is not a user of {env}; "
                        f"{_member_fix(auth, env)}.", detail=detail)
    privilege = re.search(r"\bprv\w+", message)
    if privilege:
        who = "your user" if auth == "delegated" else "the application user"
        raise AuthError(f"{what}: {who} in {env} lacks the {privilege.group(0)} privilege; give "
                        "it a security role that includes it.", detail=detail)
    if kind == "finance_operations":
        raise AuthError(f"{what}: access denied (HTTP 403); give the user linked to the app in "
                        f"{env} (Microsoft Entra ID applications) a role that can read users.",
                        detail=detail)
    raise AuthError(f"{what}: access denied (HTTP 403, {code or 'no code'}); give the app the "
                    "access this call needs.", detail=detail)


def transport_error(exc: httpx.TransportError, what: str) -> LicenseAnalyzerError:
    """A connection-level failure as a one-sentence error (host named, never the query)."""
    try:
        host = exc.request.url.host
        port = exc.request.url.port
        where = f"{host}:{port}" if port else host
    except RuntimeError:  # no request attached
        where = "the server"
    detail = redact(f"{type(exc).__name__}: {exc}")
    if is_untrusted_certificate(exc):
        return UntrustedCertificate(
            f"{what}: the TLS certificate of {where} is not trusted; set ca_bundle in the profile "
            "to the CA certificate file (PEM) of your proxy or server.", detail=detail)
    if isinstance(exc, httpx.ProxyError):
        return SourceError(f"{what}: the proxy refused the connection to {where}; check proxy in "
                           "the profile.", detail=detail)
    if isinstance(exc, httpx.TimeoutException):
        return SourceError(f"{what}: {where} did not answer in time; it is retried on the next "
                           "run (raise the timeout if it keeps happening).", detail=detail)
    if isinstance(exc, httpx.ConnectError):
        return SourceError(f"{what}: cannot connect to {where}; check the URL, the network and "
                           "the proxy setting.", detail=detail)
    return SourceError(f"{what}: the connection to {where} failed ({type(exc).__name__}); it is "
                       "retried on the next run.", detail=detail)
