"""auth = "delegated": tokens of a signed-in person, refreshed silently from a stored sign-in.

`login` runs msal's device-code flow (msal prints nothing; we show Microsoft's message: the URL
and the code, https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-device-code),
for the Graph scopes; Entra's refresh token then buys tokens for every other consented API of
the same person (Dataverse, F&O) without another prompt. msal's serializable cache holds the
account and tokens; store/sign_in.py seals it with the profile's token_cache_key after every
change (refresh tokens rotate on use); access tokens are not kept, so every command refreshes
silently once per API.

A refresh Entra refuses with `invalid_grant` / `interaction_required` (revoked, expired,
blocked by Conditional Access, MFA now required) cannot be mended by retrying: it becomes
SignInRequired, one sentence naming who must run `login` again, and later calls fail at once
instead of asking Entra again. A Conditional Access block may concern one API only (a policy
on Dynamics CRM), so it is remembered per resource.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import msal
import orjson

from license_analyzer.config import ProfileConfig
from license_analyzer.errors import ConfigError
from license_analyzer.redact import redact, register_secret
from license_analyzer.store.sign_in import StoredSignIn, UnreadableSignIn

from .aadsts import (
    SignInRequired,
    TokenError,
    aadsts_code,
    login_command,
    sign_in_required,
    token_error,
)
from .auth import MsalHttpClient, build_msal, msal_calls
from .clouds import Endpoints
from .credentials import CertificateInfo
from .delegated_scopes import DelegatedScopes

CONDITIONAL_ACCESS = (53000, 53003)
CONSENT_MISSING = 65001


class DelegatedTokenProvider:
    """One profile's msal PublicClientApplication over its sealed, stored token cache."""

    def __init__(self, profile: ProfileConfig, endpoints: Endpoints, http: httpx.Client,
                 sign_in: StoredSignIn | None, *, graph_writes: bool = False) -> None:
        self.profile = profile
        self.endpoints = endpoints
        self.scopes = DelegatedScopes(profile, endpoints, graph_writes)
        self._client_id = str(profile.client_id)
        self._sign_in = sign_in
        self._http = MsalHttpClient(http)
        self._cache = msal.SerializableTokenCache()
        self._app: Any = None
        self.account: str | None = None
        self._lock = threading.Lock()
        self._scope_locks: dict[str, threading.Lock] = {}
        self._refused: SignInRequired | None = None  # the sign-in itself is unusable
        self._blocked: dict[str, SignInRequired] = {}  # per resource scope

    @property
    def certificate(self) -> CertificateInfo | None:
        return None

    def describe(self) -> str:
        return f"signed in as {self.account or 'nobody yet'}, refreshed silently"

    def _build(self) -> Any:
        return build_msal(self.endpoints, self.profile,
                          lambda **where: msal.PublicClientApplication(
                              self._client_id, http_client=self._http,
                              token_cache=self._cache, **where))

    def _msal(self) -> Any:
        """The app over the stored sign-in, read and unsealed on first use."""
        with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._app is None:
                try:
                    self._load()
                except SignInRequired as exc:
                    self._refused = exc
                    raise
                self._app = self._build()
            return self._app

    def _load(self) -> None:
        name = self.profile.name
        if self._sign_in is None:
            raise sign_in_required(name, None, None)
        try:
            stored = self._sign_in.load()
        except UnreadableSignIn:
            whose = self._sign_in.account()  # kept in clear to say who signed in
            raise SignInRequired(
                f"the stored sign-in of {whose} for profile {name} does not open with its "
                "token_cache_key",
                f"Set token_cache_key to the key it was stored with, or run "
                f"{login_command(name)} again.", None) from None
        if stored is None:
            raise sign_in_required(name, None, None)
        self._cache.deserialize(stored.cache)
        self._cache.has_state_changed = False
        self.account = stored.account
        self._register_secrets()

    def _scope_lock(self, scope: str) -> threading.Lock:
        with self._lock:
            return self._scope_locks.setdefault(scope, threading.Lock())

    def token(self, scope: str) -> str:
        """An access token for the resource scope, from cache or refreshed silently."""
        return self._acquire(scope, self.scopes.for_resource(scope), force=False)

    def token_for(self, scopes: list[str]) -> str:
        """A token for these delegated scopes of one resource (doctor asks them one by one)."""
        return self._acquire(" ".join(scopes), scopes, force=False)

    def refresh(self, scope: str, rejected: str) -> str:
        wanted = self.scopes.for_resource(scope)
        current = self._acquire(scope, wanted, force=False)
        return current if current != rejected else self._acquire(scope, wanted, force=True)

    def _acquire(self, key: str, scopes: list[str], *, force: bool) -> str:
        blocked = self._blocked.get(key)
        if blocked is not None:
            raise blocked
        with self._scope_lock(key):
            app = self._msal()
            accounts = app.get_accounts(username=self.account) or app.get_accounts()
            if not accounts:
                raise self._refuse(sign_in_required(self.profile.name, None, None), key)
            with msal_calls(self.endpoints):
                result = app.acquire_token_silent_with_error(scopes, accounts[0],
                                                             force_refresh=force)
            self._persist()
        if isinstance(result, dict) and result.get("access_token"):
            return str(result["access_token"])
        raise self._failure(result if isinstance(result, dict) else None, key, scopes[0])

    def _failure(self, result: dict[str, Any] | None, key: str, scope: str) -> TokenError:
        name, resource = self.profile.name, scope.rpartition("/")[0]
        if result is None:  # msal holds no refresh token for the account
            return self._refuse(sign_in_required(name, self.account, None), key)
        error = str(result.get("error") or "")
        description = str(result.get("error_description") or "")
        codes = [int(c) for c in result.get("error_codes") or []]
        code = codes[0] if codes else aadsts_code(description)
        if error in ("invalid_grant", "interaction_required") and code != CONSENT_MISSING:
            detail = redact(f"{error}: {description}")
            return self._refuse(sign_in_required(name, self.account, code, detail), key)
        return token_error(error=error, description=description, codes=codes,
                           tenant=self.profile.tenant_id, client=self._client_id,
                           resource=resource)

    def _refuse(self, exc: SignInRequired, key: str) -> SignInRequired:
        """Remember a refusal: nothing but a new sign-in (or a changed policy) mends it."""
        with self._lock:
            if exc.code in CONDITIONAL_ACCESS:
                self._blocked[key] = exc
            else:
                self._refused = exc
        return exc

    def _persist(self) -> None:
        """Seal and store the cache whenever msal changed it (a refresh rotates the token)."""
        with self._lock:
            if not self._cache.has_state_changed or self._sign_in is None or not self.account:
                return
            self._register_secrets()
            self._sign_in.save(self._kept(), self.account)
            self._cache.has_state_changed = False

    def _kept(self) -> str:
        """The cache without access tokens: they live an hour and stay in this process, so
        every command refreshes with the refresh token and meets a revocation at once."""
        data = orjson.loads(self._cache.serialize())
        data["AccessToken"] = {}
        return orjson.dumps(data).decode()

    def _register_secrets(self) -> None:
        for entry in self._cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN):
            register_secret(str(entry.get("secret") or ""))

    def login(self, show: Callable[[str], None]) -> str:
        """The device-code flow for the Graph scopes; stores the new sign-in, sealed. Returns
        who signed in."""
        if self._sign_in is None:
            raise ConfigError(f"Profile {self.profile.name} cannot keep a sign-in without a "
                              "store; check [storage].")
        with self._lock:  # a new sign-in replaces the old one entirely
            self._cache = msal.SerializableTokenCache()
            self._app = self._build()
            self._refused, self.account = None, None
            self._blocked.clear()
            app = self._app
        resource = self.scopes.graph_resource
        with msal_calls(self.endpoints):
            flow = app.initiate_device_flow(scopes=self.scopes.graph())
        if "user_code" not in flow:
            raise self._login_error(flow, resource)
        show(str(flow.get("message") or f"Open {flow['verification_uri']} and enter the code "
                                            f"{flow['user_code']}."))
        with msal_calls(self.endpoints):
            result = app.acquire_token_by_device_flow(flow)
        if "access_token" not in result:
            if result.get("error") == "expired_token":
                raise TokenError("the code was not entered in time",
                                 f"Run {login_command(self.profile.name)} again and enter the "
                                 "code before it expires.", aadsts_code(
                                     str(result.get("error_description") or "")))
            raise self._login_error(result, resource)
        claims = result.get("id_token_claims") or {}
        account = str(claims.get("preferred_username") or claims.get("upn") or "")
        with self._lock:
            self.account = account or "the signed-in account"
            self._register_secrets()
            self._sign_in.save(self._kept(), self.account, fresh=True)
            self._cache.has_state_changed = False
        return self.account

    def _login_error(self, result: dict[str, Any], resource: str) -> TokenError:
        description = str(result.get("error_description") or "")
        return token_error(error=str(result.get("error") or ""), description=description,
                           codes=[int(c) for c in result.get("error_codes") or []],
                           tenant=self.profile.tenant_id, client=self._client_id,
                           resource=resource)
