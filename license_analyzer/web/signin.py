"""Sign-in with Entra ID: the OpenID Connect authorization code flow with PKCE, through msal.

msal builds the authorize URL (state, nonce, PKCE verifier and S256 challenge), checks the
state and nonce on the way back and redeems the code with the app's credential. Since msal
1.38 it no longer validates ID tokens, so this module does: signature against the tenant's
published keys (jwks_uri of the OIDC discovery document), issuer, audience (our client id),
tenant, lifetime.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import Any

import httpx
import jwt
import msal
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from license_analyzer.config import ProfileConfig, WebConfig
from license_analyzer.errors import AuthError, ConfigError
from license_analyzer.redact import redact
from license_analyzer.sources.http.auth import MsalHttpClient
from license_analyzer.sources.http.clouds import CLOUDS
from license_analyzer.sources.http.credentials import client_credential
from license_analyzer.sources.http.tls import ssl_context

log = logging.getLogger(__name__)
# what the ID token must carry: oid and preferred_username need `profile`; msal adds openid,
# profile and offline_access to any request itself
SCOPES: list[str] = []
CALLBACK = "/auth/callback"


class SignIn:
    """The web app's msal ConfidentialClientApplication and the checks of what comes back."""

    def __init__(self, web: WebConfig, base_dir: Path | None = None) -> None:
        assert web.tenant_id and web.client_id and web.base_url  # serve checked [web]
        self.web = web
        host = (web.authority_host or CLOUDS[web.cloud].authority_host).rstrip("/")
        self.authority = f"{host}/{web.tenant_id}"
        self.redirect_uri = web.base_url.rstrip("/") + CALLBACK
        ca = web.ca_bundle
        if ca is not None and not ca.is_absolute() and base_dir is not None:
            ca = base_dir / ca
        self._http = httpx.Client(verify=ssl_context(ca), timeout=30.0)
        credential, _ = client_credential(_as_profile(web), base_dir)
        try:
            self._app = msal.ConfidentialClientApplication(
                web.client_id, client_credential=credential, authority=self.authority,
                http_client=MsalHttpClient(self._http), token_cache=msal.TokenCache(),
                instance_discovery=None if httpx.URL(host).host in WELL_KNOWN_AUTHORITY_HOSTS
                else False)
        except ValueError as exc:
            raise ConfigError(f"Cannot read the sign-in metadata of {self.authority}; check"
                              " [web] tenant_id and, for other clouds, cloud or authority_host.",
                              detail=redact(str(exc))) from None
        self._keys: dict[str, Any] = {}
        self._issuer: str | None = None
        self._lock = threading.Lock()

    def begin(self) -> tuple[dict[str, Any], str]:
        """msal's flow (to keep in the session) and where to send the browser."""
        with warnings.catch_warnings():
            # msal recommends form_post (RFC 9700 4.3.1: a code in a URL can leak through
            # history or Referer). Entra's form_post is a cross-site POST, which the session's
            # SameSite=Lax cookie does not follow, so the flow could not be bound to the
            # browser that began it. Here the code is single-use, PKCE-bound to a verifier
            # that never leaves the server, redeemed at once, and the callback answers with a
            # redirect under Referrer-Policy same-origin.
            warnings.filterwarnings("ignore", message="response_mode='form_post'")
            flow: dict[str, Any] = self._app.initiate_auth_code_flow(
                SCOPES, redirect_uri=self.redirect_uri, prompt="select_account",
                response_mode="query")
        return flow, str(flow["auth_uri"])

    def finish(self, flow: dict[str, Any], response: dict[str, str]) -> dict[str, Any]:
        """The validated claims of the ID token, or AuthError with a sentence for the page."""
        if "error" in response:
            raise AuthError(f"Microsoft Entra ID refused the sign-in: "
                            f"{response.get('error_description') or response['error']}")
        try:
            result = self._app.acquire_token_by_auth_code_flow(flow, response)
        except ValueError as exc:  # state mismatch, or a flow already used
            raise AuthError("This sign-in does not match the one this browser began (it was"
                            " begun elsewhere or already used); sign in again.",
                            detail=str(exc)) from None
        except RuntimeError as exc:  # msal's nonce check
            raise AuthError("The ID token was not issued for this sign-in; sign in again.",
                            detail=str(exc)) from None
        if "error" in result:
            raise AuthError(f"Microsoft Entra ID refused to redeem the sign-in code:"
                            f" {result.get('error_description') or result['error']}",
                            detail=redact(str(result)))
        token = result.get("id_token")
        if not token:
            raise AuthError("Microsoft Entra ID sent no ID token; the app registration must"
                            " allow the openid scope.")
        return self.validate(str(token))

    def validate(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._key(str(kid))
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=self.web.client_id,
                issuer=self._metadata_issuer(), leeway=120,
                options={"require": ["exp", "iat", "iss", "aud", "oid"]})
        except jwt.PyJWTError as exc:
            raise AuthError("The ID token Microsoft Entra ID sent could not be verified"
                            f" ({exc}); sign in again.", detail=str(exc)) from None
        if str(claims.get("tid", "")).lower() != str(self.web.tenant_id).lower():
            raise AuthError("This account belongs to another Microsoft Entra tenant than"
                            " [web] tenant_id; sign in with an account of that tenant.")
        return claims

    def _metadata(self) -> dict[str, Any]:
        response = self._http.get(f"{self.authority}/v2.0/.well-known/openid-configuration")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def _metadata_issuer(self) -> str:
        with self._lock:
            if self._issuer is None:
                self._issuer = str(self._metadata()["issuer"])
            return self._issuer

    def _key(self, kid: str) -> Any:
        with self._lock:
            if kid not in self._keys:  # Entra rolls its keys: fetch again for a new kid
                jwks = self._http.get(str(self._metadata()["jwks_uri"]))
                jwks.raise_for_status()
                self._keys = {k.key_id: k.key for k in jwt.PyJWKSet.from_dict(jwks.json()).keys
                              if k.key_id}
            if kid not in self._keys:
                raise jwt.InvalidKeyError(f"no published key has id {kid}")
            return self._keys[kid]

    def close(self) -> None:
        self._http.close()


def _as_profile(web: WebConfig) -> ProfileConfig:
    """client_credential() reads a profile's credential fields; [web] has the same ones."""
    return ProfileConfig.model_construct(
        name="web", tenant_id=str(web.tenant_id), client_id=str(web.client_id),
        client_secret=web.client_secret, certificate_path=web.certificate_path,
        certificate_passphrase=web.certificate_passphrase)
