"""Entra ID sign-in for web apps: the authorize endpoint with a sign-in page, the authorization
code grant with PKCE, and ID tokens.

Protocol: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
(authorize parameters, `code`/`state` on the redirect, code redemption with `code_verifier`,
the token response); claims: https://learn.microsoft.com/entra/identity-platform/
id-token-claims-reference (oid, preferred_username, name, tid, nonce, groups, roles, the groups
overage claim); redirect URIs: https://learn.microsoft.com/entra/identity-platform/reply-url
(exact match, except that a loopback URI matches on any port). There are no passwords: the
sign-in page lists the tenant's people and anyone may be picked or typed in.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from .people import GROUPS_CLAIM_LIMIT, token_groups, token_roles
from .sign_in_page import error_page, sign_in_page
from .tenant import User
from .tokens import b64url
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

# "Authorization codes are short lived. Typically, they expire after about 10 minutes."
CODE_LIFETIME_S = 600.0
ID_TOKEN_LIFETIME_S = 3600
AUTHORIZE_PARAMS = ("client_id", "response_type", "redirect_uri", "response_mode", "scope",
                    "state", "nonce", "prompt", "login_hint", "code_challenge",
                    "code_challenge_method", "client_info")


@dataclass
class AuthCode:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str | None
    method: str
    user: int
    expires: float
    redeemed: bool = False


class CodeBook:
    """The codes handed out by the authorize endpoint, until redeemed or expired."""

    def __init__(self) -> None:
        self._codes: dict[str, AuthCode] = {}
        self._lock = threading.Lock()

    def issue(self, code: AuthCode) -> str:
        value = "0.A" + b64url(secrets.token_bytes(48))
        with self._lock:
            now = time.monotonic()
            self._codes = {k: c for k, c in self._codes.items() if c.expires > now}
            self._codes[value] = code
        return value

    def take(self, value: str) -> AuthCode | None | str:
        """The code, "redeemed" if it was already, None if unknown or expired."""
        with self._lock:
            code = self._codes.get(value)
            if code is None or code.expires <= time.monotonic():
                return None
            if code.redeemed:
                return "redeemed"
            code.redeemed = True
            return code


def _codes(cloud: Cloud) -> CodeBook:
    with cloud.cache_lock:
        book = cloud.cache.get("oidc-codes")
        if book is None:
            book = cloud.cache["oidc-codes"] = CodeBook()
    assert isinstance(book, CodeBook)
    return book


def redirect_registered(registered: list[str], uri: str) -> bool:
    """Exact match, except that loopback URIs (http allowed) match on any port."""
    if uri in registered:
        return True
    parts = urlsplit(uri)
    if parts.hostname not in ("localhost", "127.0.0.1"):
        return False
    for known in registered:
        k = urlsplit(known)
        if (k.scheme, k.hostname, k.path) == (parts.scheme, parts.hostname, parts.path):
            return True
    return False


def _params(req: Request) -> dict[str, str]:
    if req.method == "POST":
        return dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    return dict(req.query)


def _redirect(location: str) -> Response:
    return Response(302, b"", [("Location", location), ("Cache-Control", "no-store")])


def _back(redirect_uri: str, values: dict[str, str]) -> Response:
    sep = "&" if urlsplit(redirect_uri).query else "?"
    return _redirect(redirect_uri + sep + urlencode(values))


def authorize(cloud: Cloud, req: Request, tenant_name: str) -> Response:
    """GET shows the sign-in page; its form POSTs back here with the person chosen."""
    p = _params(req)
    app = cloud.tenant.web_app
    if (p.get("client_id") or "").lower() != app.client_id:
        return error_page(700016, f"Application with identifier '{p.get('client_id', '')}' was"
                          f" not found in the directory '{cloud.tenant.display_name}'.")
    redirect_uri = p.get("redirect_uri") or ""
    if not redirect_registered(app.redirect_uris, redirect_uri):
        return error_page(50011, f"The redirect URI '{redirect_uri}' specified in the request"
                          " does not match the redirect URIs configured for the application"
                          f" '{app.client_id}'. Make sure the redirect URI sent in the request"
                          " matches one added to your application in the Azure portal.")
    state = {"state": p["state"]} if "state" in p else {}
    if p.get("response_type") != "code":
        return _back(redirect_uri, {"error": "unsupported_response_type",
                                    "error_description": "AADSTS700054: response_type"
                                    f" '{p.get('response_type', '')}' is not enabled for the"
                                    " application.", **state})
    method = p.get("code_challenge_method") or "plain"
    if p.get("code_challenge") and method not in ("S256", "plain"):
        return _back(redirect_uri, {"error": "invalid_request", "error_description":
                                    "AADSTS501491: Invalid code_challenge_method.", **state})
    if req.method != "POST" or not p.get("login"):
        return sign_in_page(cloud, {k: p[k] for k in AUTHORIZE_PARAMS if k in p})
    user = _find(cloud, p["login"])
    if user is None:
        return error_page(50034, f"The user account {p['login']} does not exist in the"
                          f" '{cloud.tenant.display_name}' directory. To sign into this"
                          " application, the account must be added to the directory.")
    if not user.account_enabled:
        return error_page(50057, "The user account is disabled.")
    code = _codes(cloud).issue(AuthCode(
        client_id=app.client_id, redirect_uri=redirect_uri, scope=p.get("scope", ""),
        nonce=p.get("nonce"), challenge=p.get("code_challenge"), method=method,
        user=user.idx, expires=time.monotonic() + cloud.opts.scaled(CODE_LIFETIME_S)))
    answer = {"code": code, **state, "session_state": str(uuid.uuid4())}
    if p.get("client_info") == "1":
        answer["client_info"] = _client_info(cloud, user)
    return _back(redirect_uri, answer)


def _find(cloud: Cloud, login: str) -> User | None:
    key = login.strip().lower()
    tenant = cloud.tenant
    user = tenant.users_by_id.get(key)
    return user or next((u for u in tenant.users if u.upn.lower() == key), None)


def _client_info(cloud: Cloud, user: User) -> str:
    return b64url(orjson.dumps({"uid": user.id, "utid": cloud.tenant.id}))


def _error(cloud: Cloud, status: int, error: str, code: int, text: str) -> Response:
    from .oauth import _error as oauth_error

    return oauth_error(cloud, status, error, code, text)


def _verifier_matches(code: AuthCode, verifier: str | None) -> bool:
    if code.challenge is None:
        return True
    if not verifier:
        return False
    if code.method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    else:
        expected = verifier
    return secrets.compare_digest(expected, code.challenge)


def redeem(cloud: Cloud, form: dict[str, str]) -> Response:
    """grant_type=authorization_code at the token endpoint: the web app's own credentials,
    the code, the same redirect_uri, and the PKCE verifier."""
    app = cloud.tenant.web_app
    client_id = (form.get("client_id") or "").lower()
    if client_id != app.client_id:
        return _error(cloud, 400, "unauthorized_client", 700016,
                      f"Application with identifier '{form.get('client_id', '')}' was not found"
                      f" in the directory '{cloud.tenant.display_name}'.")
    if "client_secret" not in form:
        return _error(cloud, 401, "invalid_client", 7000218,
                      "The request body must contain the following parameter:"
                      " 'client_assertion' or 'client_secret'.")
    if not secrets.compare_digest(form["client_secret"], app.client_secret):
        return _error(cloud, 401, "invalid_client", 7000215,
                      "Invalid client secret provided. Ensure the secret being sent in the"
                      " request is the client secret value, not the client secret ID, for a"
                      f" secret added to app '{app.client_id}'.")
    code = _codes(cloud).take(form.get("code") or "")
    if code == "redeemed":
        return _error(cloud, 400, "invalid_grant", 54005,
                      "OAuth2 Authorization code was already redeemed, please retry with a new"
                      " valid code or use an existing refresh token.")
    if not isinstance(code, AuthCode) or code.client_id != client_id:
        return _error(cloud, 400, "invalid_grant", 70008,
                      "The provided authorization code or refresh token has expired due to"
                      " inactivity. Send a new interactive authorization request for this user"
                      " and resource.")
    if form.get("redirect_uri") != code.redirect_uri:
        return _error(cloud, 400, "invalid_grant", 50011,
                      f"The redirect URI '{form.get('redirect_uri', '')}' specified in the"
                      " request does not match the redirect URI of the authorization code.")
    if not _verifier_matches(code, form.get("code_verifier")):
        return _error(cloud, 400, "invalid_grant", 501481,
                      "The Code_Verifier does not match the code_challenge supplied in the"
                      " authorization request.")
    user = cloud.tenant.users[code.user]
    scopes = code.scope.split()
    lifetime = cloud.opts.scaled(cloud.opts.token_lifetime_s)
    # only OpenID scopes asked for: the access token is Graph's (what the userinfo endpoint
    # takes); the app does not use it
    access, expires_in = cloud.issuer.issue(
        audience=cloud.graph_resource, client_id=app.client_id, sp_object_id=user.id,
        roles=[], lifetime_s=lifetime, acr="1")
    body: dict[str, object] = {
        "token_type": "Bearer", "scope": " ".join(s for s in scopes if s != "offline_access"),
        "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access,
        "id_token": id_token(cloud, user, code.nonce),
        "client_info": _client_info(cloud, user),
    }
    if "offline_access" in scopes:  # opaque; the simulator does not redeem it
        body["refresh_token"] = "1.A" + b64url(secrets.token_bytes(64))
    return json_response(200, body, [("Cache-Control", "no-store, no-cache"),
                                     ("Pragma", "no-cache")])


def id_token(cloud: Cloud, user: User, nonce: str | None) -> str:
    tenant = cloud.tenant
    app = tenant.web_app
    now = int(time.time())
    claims: dict[str, object] = {
        "aud": app.client_id, "iss": f"{cloud.base_url}/{tenant.id}/v2.0", "iat": now,
        "nbf": now, "exp": now + int(max(60, cloud.opts.scaled(ID_TOKEN_LIFETIME_S))),
        "aio": b64url(secrets.token_bytes(24)), "name": user.display_name,
        "oid": user.id, "preferred_username": user.upn,
        "rh": "0.A" + b64url(secrets.token_bytes(12)),
        # pairwise: unique per user and app
        "sub": b64url(hashlib.sha256(f"{user.id}/{app.client_id}".encode()).digest()),
        "tid": tenant.id, "uti": b64url(secrets.token_bytes(16)), "ver": "2.0",
        "sid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{user.id}/{now}")),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if app.group_membership_claims:
        groups = token_groups(tenant, user.idx)
        if len(groups) > GROUPS_CLAIM_LIMIT:
            claims["_claim_names"] = {"groups": "src1"}
            claims["_claim_sources"] = {"src1": {
                "endpoint": f"{cloud.base_url}/graph/v1.0/users/{user.id}/getMemberObjects"}}
        elif groups:
            claims["groups"] = groups
    roles = token_roles(tenant, user.idx)
    if roles:
        claims["roles"] = roles
    return cloud.issuer.sign(claims)
