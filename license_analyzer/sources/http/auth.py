"""Tokens: one msal app per profile, one httpx.Auth per resource scope (httpx's auth_flow).

msal's own HTTP goes through an adapter over our httpx client, so the profile's ca_bundle,
proxy and retry transport apply to token requests too, and REQUESTS_CA_BUNDLE & co. (which
requests would let override `verify=`) have no say. This file is the application's way in
(client credentials); delegated.py and managed_identity.py are the other two, behind the same
`Tokens` face. The application's token cache is msal's in-memory one: tokens live for an hour
and a run is shorter than a restart.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import httpx
import msal
import orjson
from msal.authority import WELL_KNOWN_AUTHORITY_HOSTS

from license_analyzer.config import ProfileConfig
from license_analyzer.errors import SourceError
from license_analyzer.redact import redact

from .aadsts import TokenError, aadsts_code, token_error
from .clouds import Endpoints
from .credentials import CertificateInfo, client_credential
from .errors import transport_error


class MsalHttpClient:
    """The object msal calls as `http_client`: get/post returning httpx responses."""

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any
            ) -> httpx.Response:
        return self._client.get(url, params=params, headers=headers, **_timeout(kwargs))

    def post(self, url: str, params: Any = None, data: Any = None, headers: Any = None,
             **kwargs: Any) -> httpx.Response:
        if isinstance(data, str | bytes):
            return self._client.post(url, params=params, content=data, headers=headers,
                                     **_timeout(kwargs))
        # msal hands the client assertion over as bytes; requests form-encodes bytes as they
        # are, httpx would write "b'...'", so decode them first
        form = {k: v.decode() if isinstance(v, bytes) else v for k, v in (data or {}).items()}
        return self._client.post(url, params=params, data=form, headers=headers,
                                 **_timeout(kwargs))

    def close(self) -> None:
        self._client.close()


def _timeout(kwargs: dict[str, Any]) -> dict[str, Any]:
    timeout = kwargs.get("timeout")
    return {"timeout": timeout} if isinstance(timeout, int | float) else {}


class Tokens(Protocol):
    """What a Connection asks of a profile's way in, whichever it is."""

    @property
    def certificate(self) -> CertificateInfo | None: ...

    def token(self, scope: str) -> str:
        """A valid access token for the resource scope (`<resource>/.default`)."""
        ...

    def refresh(self, scope: str, rejected: str) -> str:
        """A token other than `rejected`, which the resource refused."""
        ...

    def describe(self) -> str:
        """How the tokens are had, for doctor ("client secret", "signed in as ...")."""
        ...


@contextmanager
def msal_calls(endpoints: Endpoints) -> Iterator[None]:
    """msal's HTTP failures as our sentences: it lets our client's exceptions through."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(exc, f"Sign-in at {endpoints.authority_host}") from None
    except httpx.HTTPStatusError as exc:
        raise SourceError(
            f"The sign-in service {endpoints.authority_host} answered HTTP "
            f"{exc.response.status_code}; it is retried on the next run.",
            detail=redact(str(exc))) from None


def build_msal(endpoints: Endpoints, profile: ProfileConfig, make: Any) -> Any:
    """An msal app, built with tenant (OIDC) discovery: its failures become TokenErrors."""
    try:
        with msal_calls(endpoints):
            return make(
                authority=endpoints.authority,
                # msal would ask login.microsoftonline.com about hosts it does not know:
                # for a simulator, a proxy or an unlisted cloud, trust the configured host
                instance_discovery=None if httpx.URL(endpoints.authority_host).host
                in WELL_KNOWN_AUTHORITY_HOSTS else False)
    except ValueError as exc:  # tenant (OIDC) discovery failed
        text = f"{exc} {exc.__context__ or ''}"
        if aadsts_code(text) is None:
            raise TokenError(
                f"cannot read the sign-in metadata of {endpoints.authority}",
                "Check tenant_id and, for other clouds, cloud or authority_host in the profile.",
                None, detail=redact(text)) from None
        raise token_error(error="discovery_failed", description=text, codes=[],
                          tenant=profile.tenant_id, client=str(profile.client_id or ""),
                          resource=endpoints.authority) from None


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, NOT verified: only for reading what Entra granted us (roles)."""
    try:
        payload = token.split(".")[1]
        data = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


class TokenProvider:
    """One profile's msal ConfidentialClientApplication and its in-memory token cache."""

    def __init__(self, profile: ProfileConfig, endpoints: Endpoints, http: httpx.Client,
                 base_dir: Path | None = None) -> None:
        self.profile = profile
        self.endpoints = endpoints
        # read the credential now: a broken PEM is a config error before any network call
        self._credential, self.certificate = client_credential(profile, base_dir)
        self._client_id = str(profile.client_id)
        self._http = MsalHttpClient(http)
        self._app: Any = None
        self._lock = threading.Lock()
        self._scope_locks: dict[str, threading.Lock] = {}

    @property
    def certificate_info(self) -> CertificateInfo | None:
        return self.certificate

    def _msal(self) -> Any:
        with self._lock:
            if self._app is None:
                self._app = self._build()
            return self._app

    def _build(self) -> Any:
        return build_msal(self.endpoints, self.profile,
                          lambda **where: msal.ConfidentialClientApplication(
                              self._client_id, client_credential=self._credential,
                              http_client=self._http, token_cache=msal.TokenCache(), **where))

    def _error(self, error: str, description: str, codes: list[int], resource: str
               ) -> TokenError:
        return token_error(error=error, description=description, codes=codes,
                           tenant=self.profile.tenant_id, client=self._client_id,
                           resource=resource)

    def _scope_lock(self, scope: str) -> threading.Lock:
        with self._lock:
            return self._scope_locks.setdefault(scope, threading.Lock())

    def _acquire(self, scope: str) -> str:
        app = self._msal()
        with msal_calls(self.endpoints):
            result = app.acquire_token_for_client(scopes=[scope])
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        result = result if isinstance(result, dict) else {}
        raise self._error(str(result.get("error") or ""),
                          str(result.get("error_description") or ""),
                          [int(c) for c in result.get("error_codes") or []],
                          scope.removesuffix("/.default"))

    def token(self, scope: str) -> str:
        """A valid access token for the scope, from msal's cache when it has one."""
        with self._scope_lock(scope):
            return self._acquire(scope)

    def refresh(self, scope: str, rejected: str) -> str:
        """A token other than `rejected`: the resource refused it, so msal's cache must not win."""
        with self._scope_lock(scope):
            current = self._acquire(scope)
            if current != rejected:  # another thread refreshed meanwhile
                return current
            self._forget(scope)
            current = self._acquire(scope)
            if current == rejected:  # the cache keyed the scope differently: drop all
                self._forget(None)
                current = self._acquire(scope)
            return current

    def _forget(self, scope: str | None) -> None:
        cache = self._msal().token_cache
        kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
        target = [scope] if scope else None
        for entry in list(cache.search(kind, target=target,
                                       query={"client_id": self._client_id})):
            cache.remove_at(entry)

    def claims(self, scope: str) -> dict[str, Any]:
        """What the token for this scope says (roles, audience, app id); unverified."""
        return jwt_claims(self.token(scope))

    def describe(self) -> str:
        return "certificate" if self.certificate else "client secret"


def origin_of(url: httpx.URL | str) -> tuple[str, str, int]:
    """(scheme, host, port) with the scheme's default port filled in."""
    parsed = httpx.URL(str(url))
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or (443 if scheme == "https" else 80)


class MsalAuth(httpx.Auth):
    """Bearer token for one scope; a 401 gets one fresh token and one retry.

    The token goes only to the origin (scheme, host, port) of the client it belongs to, given
    as `origin` or pinned by the first request: a link that points elsewhere (an
    `@odata.nextLink` to another host, a downgrade to http) never receives it.
    """

    def __init__(self, tokens: Tokens, scope: str, origin: str | None = None) -> None:
        self.tokens = tokens
        self.scope = scope
        self._origin = origin_of(origin) if origin else None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        target = origin_of(request.url)
        if self._origin is None:
            self._origin = target
        if target != self._origin:
            raise SourceError(
                f"A request to {target[0]}://{target[1]}:{target[2]} would carry the token for"
                f" {self._origin[0]}://{self._origin[1]}:{self._origin[2]}; it was not sent (a"
                " link pointing to another server is never followed with a token).")
        token = self.tokens.token(self.scope)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            fresh = self.tokens.refresh(self.scope, token)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request
