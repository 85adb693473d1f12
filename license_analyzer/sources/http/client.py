"""The one client factory: a Connection per profile, one httpx client per resource.

Every client shares the profile's trust (tls.py), proxy, timeouts and one RetryStats, and sends
through a RetryTransport around its own keep-alive pool sized to the concurrency. Clients are
thread-safe: collectors share them between worker threads. `trust_env=False` everywhere, so
proxy and CA settings come from the profile and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from license_analyzer.config import ProfileConfig, normalize_resource_url
from license_analyzer.store.sign_in import StoredSignIn

from .auth import MsalAuth, TokenProvider, Tokens
from .clouds import Endpoints, endpoints, resource_scope
from .delegated import DelegatedTokenProvider
from .errors import AUTH_EXTENSION, ENVIRONMENT_EXTENSION, RESOURCE_EXTENSION, Resource
from .managed_identity import IDENTITY_RETRIES, IDENTITY_TIMEOUT, ManagedIdentityTokenProvider
from .retry import RetryPolicy, RetryStats, RetryTransport
from .tls import ssl_context

USER_AGENT = "license-analyzer"
DATAVERSE_API = "/api/data/v9.2"
ODATA_HEADERS = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0"}

TransportFactory = Callable[[], httpx.BaseTransport]


class Connection:
    """One profile's way to Microsoft: tokens, clients per resource, retry statistics."""

    def __init__(
        self,
        profile: ProfileConfig,
        *,
        concurrency: int = 16,
        max_wait_s: float = 300.0,
        timeout_s: float = 60.0,
        base_dir: Path | None = None,
        transport: TransportFactory | None = None,
        sleep: Callable[[float], None] = time.sleep,
        sign_in: StoredSignIn | None = None,
        graph_writes: bool = False,
    ) -> None:
        self.profile = profile
        self.endpoints: Endpoints = endpoints(profile)
        self.stats = RetryStats()
        self._policy = RetryPolicy(max_wait_s=max_wait_s)
        self._concurrency = max(1, concurrency)
        self._timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
        self._sleep = sleep
        self._transport = transport or self._http_transport(profile, base_dir, profile.proxy)
        self._clients: dict[tuple[str, str], httpx.Client] = {}
        self._lock = threading.Lock()
        self._identity_http: httpx.Client | None = None
        # the token client has no auth of its own; msal talks through it
        self._token_http = self._client(base_url="", auth=None, headers={}, resource=None,
                                        environment="")
        self.tokens: Tokens = self._tokens(base_dir, transport, sign_in, graph_writes)

    def _tokens(self, base_dir: Path | None, transport: TransportFactory | None,
                sign_in: StoredSignIn | None, graph_writes: bool) -> Tokens:
        """The profile's way in: as the app, as a signed-in person, or as a managed identity."""
        profile = self.profile
        if profile.auth == "delegated":
            return DelegatedTokenProvider(profile, self.endpoints, self._token_http, sign_in,
                                          graph_writes=graph_writes)
        if profile.auth == "managed_identity":
            # the identity endpoint is on the host (IMDS, App Service): never through a proxy
            local = transport or self._http_transport(profile, base_dir, None)
            self._identity_http = self._client(base_url="", auth=None, headers={},
                                               resource=None, environment="", transport=local,
                                               policy=IDENTITY_RETRIES,
                                               timeout=IDENTITY_TIMEOUT)
            return ManagedIdentityTokenProvider(profile, self._identity_http)
        return TokenProvider(profile, self.endpoints, self._token_http, base_dir)

    def _http_transport(self, profile: ProfileConfig, base_dir: Path | None, proxy: str | None
                        ) -> TransportFactory:
        ca_bundle = profile.ca_bundle
        if ca_bundle is not None and not ca_bundle.is_absolute() and base_dir is not None:
            ca_bundle = base_dir / ca_bundle
        verify = ssl_context(ca_bundle)
        limits = httpx.Limits(max_connections=self._concurrency,
                              max_keepalive_connections=self._concurrency, keepalive_expiry=30.0)

        def make() -> httpx.BaseTransport:
            return httpx.HTTPTransport(verify=verify, proxy=proxy, limits=limits,
                                       http1=True, http2=False, trust_env=False)

        return make

    def _client(self, *, base_url: str, auth: httpx.Auth | None, headers: dict[str, str],
                resource: Resource | None, environment: str,
                transport: TransportFactory | None = None,
                policy: RetryPolicy | None = None,
                timeout: httpx.Timeout | None = None) -> httpx.Client:
        def tag(request: httpx.Request) -> None:
            request.extensions[RESOURCE_EXTENSION] = resource
            request.extensions[ENVIRONMENT_EXTENSION] = environment
            request.extensions[AUTH_EXTENSION] = self.profile.auth

        retrying = RetryTransport((transport or self._transport)(), policy=policy or self._policy,
                                  stats=self.stats, sleep=self._sleep)
        return httpx.Client(
            base_url=base_url,
            auth=auth,
            headers={"User-Agent": USER_AGENT, **headers},
            timeout=timeout or self._timeout,
            transport=retrying,
            trust_env=False,
            follow_redirects=False,
            event_hooks={"request": [tag]},
        )

    def _cached(self, key: tuple[str, str], make: Callable[[], httpx.Client]) -> httpx.Client:
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = make()
            return client

    def check_sign_in(self) -> None:
        """A delegated profile: one silent refresh now, so a sign-in that is gone (revoked,
        expired, blocked) raises SignInRequired before any source is read."""
        if self.profile.auth == "delegated":
            self.tokens.token(self.endpoints.graph_scope)

    def auth(self, scope: str, origin: str | None = None) -> MsalAuth:
        """The bearer token for `scope`, sent only to `origin` (the client's base URL)."""
        return MsalAuth(self.tokens, scope, origin)

    def graph(self) -> httpx.Client:
        """Microsoft Graph, base URL with the version (…/v1.0): use paths like "/users"."""
        ep = self.endpoints
        return self._cached(("graph", ep.graph_url), lambda: self._client(
            base_url=ep.graph_url, auth=self.auth(ep.graph_scope, ep.graph_url), headers={},
            resource="graph", environment=ep.graph_url))

    def dataverse(self, env_url: str) -> httpx.Client:
        """A Dataverse environment's Web API: paths like "/systemusers"."""
        url = normalize_resource_url(env_url)
        return self._cached(("dataverse", url), lambda: self._client(
            base_url=url + DATAVERSE_API, auth=self.auth(resource_scope(url), url),
            headers=dict(ODATA_HEADERS), resource="dataverse", environment=url))

    def finance_operations(self, env_url: str, *, scope: str | None = None) -> httpx.Client:
        """A Finance & Operations environment's OData: paths like "/SystemUsers".

        `scope` overrides the token scope (doctor tries the URL as the user wrote it).
        """
        url = normalize_resource_url(env_url)
        token_scope = scope or resource_scope(url)
        return self._cached(("finance_operations", f"{url} {token_scope}"), lambda: self._client(
            base_url=url + "/data", auth=self.auth(token_scope, url),
            headers={"Accept": "application/json"}, resource="finance_operations",
            environment=url))

    def power_platform(self) -> httpx.Client:
        """The Power Platform admin (BAP) API, for environment discovery."""
        ep = self.endpoints
        return self._cached(("power_platform", ep.power_platform_url), lambda: self._client(
            base_url=ep.power_platform_url,
            auth=self.auth(ep.power_platform_scope, ep.power_platform_url),
            headers={"Accept": "application/json"}, resource="power_platform",
            environment=ep.power_platform_url))

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()
        self._token_http.close()
        if self._identity_http is not None:
            self._identity_http.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def connect(profile: ProfileConfig, *, concurrency: int = 16, max_wait_s: float = 300.0,
            timeout_s: float = 60.0, base_dir: Path | None = None,
            transport: TransportFactory | None = None,
            sleep: Callable[[float], None] = time.sleep,
            sign_in: StoredSignIn | None = None, graph_writes: bool = False) -> Connection:
    """A Connection for the profile.

    `base_dir` resolves relative ca_bundle / certificate_path (pass the config file's folder).
    A delegated profile needs its `sign_in` (store.sign_in.stored_sign_in) and asks Graph for
    write scopes only with `graph_writes` (apply).
    Tests may pass `transport` (a factory of transports, e.g. httpx.MockTransport) and `sleep`.
    """
    return Connection(profile, concurrency=concurrency, max_wait_s=max_wait_s,
                      timeout_s=timeout_s, base_dir=base_dir, transport=transport, sleep=sleep,
                      sign_in=sign_in, graph_writes=graph_writes)


def plain_client(*, ca_bundle: Path | None = None, proxy: str | None = None,
                 timeout_s: float = 15.0) -> httpx.Client:
    """A client for what is not Microsoft (the alert webhook), with the same rules: trust is
    the public roots plus `ca_bundle`, a proxy only when given, nothing from the environment
    (HTTPS_PROXY, SSL_CERT_FILE), no redirects followed."""
    return httpx.Client(verify=ssl_context(ca_bundle), proxy=proxy, trust_env=False,
                        follow_redirects=False, timeout=httpx.Timeout(timeout_s),
                        headers={"User-Agent": USER_AGENT})
