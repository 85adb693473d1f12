"""A person's tokens: scopes and consent, access/ID/refresh tokens, the refresh-token grant.

What a delegated token may do is decided twice, as in Entra: the token carries only scopes an
administrator consented to (`scp`), and the resource then checks what the signed-in person may
do (their directory roles, their Dataverse or F&O user). The effective permission is the
intersection.

Microsoft's behaviour encoded here:
- token response fields (access, refresh and ID tokens, scope, expires_in):
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code
- AADSTS codes and texts (50057 disabled, 50173 revoked, 53003 Conditional Access,
  65001 no consent, 70011 invalid scope, 700082 inactive refresh token, 7000218 public client
  flows off, 9002313 malformed grant):
  https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
- refresh failures answer HTTP 400 `invalid_grant` with `error_codes` (and a `suberror` for
  sign-in frequency), as seen in https://github.com/Azure/azure-cli/issues/23822 and
  https://github.com/Azure/azure-sdk-for-python/issues/28478
- a public client presents no secret; with "Allow public client flows" off Entra asks for one
  (AADSTS7000218)
- `client_info` (uid, utid) and the ID token are what msal builds the account from
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import orjson

from .identities import ROLE_TEMPLATES
from .tokens import b64url
from .wire import Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud
    from .tenant import User

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
OIDC_SCOPES = frozenset({"openid", "profile", "offline_access", "email"})
API_NAMES = {
    "graph": "Microsoft Graph",
    "dataverse": "Dynamics CRM",
    "fno": "Microsoft Dynamics ERP",
    "bap": "PowerApps Service",
}


@dataclass
class RefreshGrant:
    user_id: str
    client_id: str
    issued_at: datetime  # tenant clock
    last_used: datetime
    revoked_at: datetime | None = None


@dataclass
class Delegation:
    """Refresh tokens, revoked sessions and Conditional Access blocks, per person."""

    grants: dict[str, RefreshGrant] = field(default_factory=dict)
    # object id -> APIs ("graph", "dataverse", ...; "*" for all) a CA policy blocks
    blocked: dict[str, set[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_refresh_token(self, user_id: str, client_id: str, now: datetime) -> str:
        token = "1.A" + b64url(secrets.token_bytes(96))
        with self.lock:
            self.grants[token] = RefreshGrant(user_id, client_id, now, now)
        return token

    def revoke(self, user_id: str, now: datetime) -> None:
        """What `revokeSignInSessions` or a password reset does: every refresh token issued
        to the person so far is void; a new sign-in gets new ones."""
        with self.lock:
            for grant in self.grants.values():
                if grant.user_id == user_id and grant.revoked_at is None:
                    grant.revoked_at = now

    def block(self, user_id: str, apis: set[str] | None = None) -> None:
        with self.lock:
            self.blocked.setdefault(user_id, set()).update(apis or {"*"})

    def unblock(self, user_id: str) -> None:
        with self.lock:
            self.blocked.pop(user_id, None)

    def is_blocked(self, user_id: str, api: str) -> bool:
        with self.lock:
            apis = self.blocked.get(user_id, set())
        return "*" in apis or api in apis


def error(cloud: Cloud, code: int, text: str, error: str = "invalid_grant",
          status: int = 400, suberror: str | None = None) -> Response:
    from .oauth import _error  # oauth routes here: imported when first needed

    resp = _error(cloud, status, error, code, text)
    if suberror:
        body = orjson.loads(resp.body)
        body["suberror"] = suberror
        resp.body = orjson.dumps(body)
    return resp


def check_client(cloud: Cloud, form: dict[str, str], *, public: bool = True) -> Response | None:
    """The request comes from the registered app (and, with `public`, as a public client)."""
    app = cloud.tenant.app
    client_id = form.get("client_id", "")
    if client_id.lower() != app.client_id:
        return error(
            cloud, 700016,
            f"Application with identifier '{client_id}' was not found in the directory "
            f"'{cloud.tenant.display_name}'. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant. You may have sent your authentication request to the wrong tenant.",
            error="unauthorized_client")
    if not public:
        return None
    if "client_secret" in form or "client_assertion" in form:
        if app.public_client:
            return error(cloud, 700025, "Client is public so neither 'client_assertion' nor "
                         "'client_secret' should be presented.", error="invalid_client",
                         status=401)
        return None
    if not app.public_client:
        return error(cloud, 7000218, "The request body must contain the following parameter: "
                     "'client_assertion' or 'client_secret'.", error="invalid_client",
                     status=401)
    return None


@dataclass
class Scopes:
    api: str  # graph | dataverse | fno | bap
    resource: str
    granted: list[str]  # the permission names the token carries in `scp`
    echoed: list[str]  # the `scope` of the response, which msal keys its cache on


def resolve(cloud: Cloud, scope: str) -> Scopes | Response:
    """The one resource a request names, and the consented permissions it may carry."""
    names = [s for s in scope.split() if s.lower() not in OIDC_SCOPES]
    wanted: dict[str, list[str]] = {}
    for name in names:
        if "://" in name:
            resource, _, permission = name.rpartition("/")
        else:  # a bare permission name is Microsoft Graph's
            resource, permission = cloud.graph_resource, name
        wanted.setdefault(resource.rstrip("/").lower(), []).append(permission)
    if len(wanted) != 1:
        return error(
            cloud, 70011,
            f"The provided value for the input parameter 'scope' isn't valid. The scope {scope} "
            "isn't valid: a request names exactly one resource.", error="invalid_scope")
    resource, permissions = next(iter(wanted.items()))
    api = cloud.resource_kind(resource)
    if api is None:
        return error(
            cloud, 500011,
            f"The resource principal named {resource} was not found in the tenant named "
            f"{cloud.tenant.display_name}. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any user in the "
            "tenant. You might have sent your authentication request to the wrong tenant.",
            error="invalid_resource")
    consented = cloud.tenant.app.delegated_grants.get(api, set())
    if permissions == [".default"]:
        granted = sorted(consented)
        echoed = [f"{resource}/{p}" for p in granted]
    else:
        granted, echoed = sorted(set(permissions)), [n for n in names]
    if not granted or not set(granted) <= consented:
        app = cloud.tenant.app
        return error(
            cloud, 65001,
            f"The user or administrator has not consented to use the application with ID "
            f"'{app.client_id}' named '{app.display_name}'. Send an interactive authorization "
            "request for this user and resource.", suberror="consent_required")
    return Scopes(api, resource, granted, echoed)


def refusal(cloud: Cloud, user: User, api: str, grant: RefreshGrant | None) -> Response | None:
    """Why Entra would not issue this person a token now (None: it would)."""
    tenant = cloud.tenant
    if not user.account_enabled:
        return error(cloud, 50057, "The user account is disabled.")
    if grant is not None:
        now = tenant.now
        revoked = grant.revoked_at
        if revoked is not None:
            return error(
                cloud, 50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is "
                "needed. The user might have changed or reset their password. The grant was "
                f"issued on '{_when(grant.issued_at)}' and the TokensValidFrom date (before "
                f"which tokens are not valid) for this user is '{_when(revoked)}'.")
        idle = now - grant.last_used
        if idle > timedelta(days=cloud.opts.refresh_token_inactive_days):
            return error(
                cloud, 700082,
                "The refresh token has expired due to inactivity. The token was issued on "
                f"{_when(grant.issued_at)} and was inactive for {idle.days}.00:00:00.")
    if cloud.delegation.is_blocked(user.id, api):
        return error(cloud, 53003, "Access has been blocked by Conditional Access policies. "
                     "The access policy does not allow token issuance.")
    return None


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def issue(cloud: Cloud, user: User, client_id: str, scopes: Scopes) -> Response:
    """The token response: a v1 access token for the resource, an ID token, a refresh token."""
    tenant = cloud.tenant
    now = time.time()
    lifetime = max(1.0, cloud.opts.scaled(cloud.opts.token_lifetime_s))
    tid = tenant.id
    pairwise = b64url(hashlib.sha256(f"{user.id}|{client_id}".encode()).digest())
    access = cloud.issuer.sign({
        "aud": scopes.resource,
        "iss": f"https://sts.windows.net/{tid}/",
        "iat": int(now),
        "nbf": int(now) - 1,
        "exp": now + lifetime,
        "acr": "1",
        "aio": b64url(secrets.token_bytes(24)),
        "amr": ["pwd", "mfa"],
        "app_displayname": tenant.app.display_name,
        "appid": client_id,
        "appidacr": "0",
        "family_name": user.surname,
        "given_name": user.given_name,
        "idtyp": "user",
        "ipaddr": "127.0.0.1",
        "name": user.display_name,
        "oid": user.id,
        "rh": "0.AAAA" + b64url(secrets.token_bytes(12)),
        "scp": " ".join(scopes.granted),
        "sub": pairwise,
        "tid": tid,
        "unique_name": user.upn,
        "upn": user.upn,
        "uti": b64url(secrets.token_bytes(16)),
        "ver": "1.0",
        "wids": sorted(ROLE_TEMPLATES[r] for r in tenant.roles_of(user.id)),
    })
    id_token = cloud.issuer.sign({
        "aud": client_id,
        "iss": f"{cloud.base_url}/{tid}/v2.0",
        "iat": int(now),
        "nbf": int(now) - 1,
        "exp": int(now) + 3600,
        "name": user.display_name,
        "oid": user.id,
        "preferred_username": user.upn,
        "rh": "0.AAAA" + b64url(secrets.token_bytes(12)),
        "sub": pairwise,
        "tid": tid,
        "uti": b64url(secrets.token_bytes(16)),
        "ver": "2.0",
    })
    client_info = b64url(orjson.dumps({"uid": user.id, "utid": tid}))
    refresh = cloud.delegation.new_refresh_token(user.id, client_id, tenant.now)
    expires_in = max(1, int(lifetime))
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "scope": " ".join(scopes.echoed),
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": client_info,
        },
        [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")],
    )


def refresh_grant(cloud: Cloud, form: dict[str, str]) -> Response:
    """grant_type=refresh_token: a new access token (for any consented resource) and a new
    refresh token; the old one stays valid until it expires or is revoked."""
    refused = check_client(cloud, form)
    if refused is not None:
        return refused
    state: Delegation = cloud.delegation
    with state.lock:
        grant = state.grants.get(form.get("refresh_token", ""))
    if grant is None:
        return error(cloud, 9002313, "Invalid request. Request is malformed or invalid.")
    if grant.client_id != form.get("client_id", "").lower():
        return error(cloud, 70000, "Provided grant is invalid or malformed.")
    user = cloud.tenant.users_by_id.get(grant.user_id)
    if user is None:
        return error(cloud, 50034, "The user account does not exist in the directory.")
    scopes = resolve(cloud, form.get("scope", ""))
    if isinstance(scopes, Response):
        return scopes
    refused = refusal(cloud, user, scopes.api, grant)
    if refused is not None:
        return refused
    with state.lock:
        grant.last_used = cloud.tenant.now
    return issue(cloud, user, grant.client_id, scopes)

