"""auth = "managed_identity": app-only tokens of the Azure host's managed identity, no secret.

msal's ManagedIdentityClient (system-assigned, or user-assigned by client id) finds the token
endpoint itself: App Service, Functions and Container Apps publish it in IDENTITY_ENDPOINT and
IDENTITY_HEADER, Azure Arc and Service Fabric likewise, a VM has the Instance Metadata Service
at http://169.254.169.254 (msal's `get_managed_identity_source`). The profile's
`managed_identity_endpoint` replaces only that fixed IMDS address, for a test harness or the
simulator. IMDS "isn't intended to be used behind a proxy", so this client never uses the
profile's proxy:
https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
The identity's Graph permissions are app roles assigned to its service principal (with Graph
PowerShell or the Azure CLI:
https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-assign-app-role-managed-identity),
so the tokens carry `roles` just like the application's.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import msal
from msal.managed_identity import APP_SERVICE, AZURE_ARC, DEFAULT_TO_VM, SERVICE_FABRIC

from license_analyzer.config import ProfileConfig
from license_analyzer.redact import redact

from .aadsts import TokenError, token_error
from .auth import MsalHttpClient
from .credentials import CertificateInfo
from .retry import RetryPolicy, ThrottledTooLong

IMDS_TOKEN_URL = "http://169.254.169.254/metadata/identity/oauth2/token"
SOURCES = {APP_SERVICE: "App Service's IDENTITY_ENDPOINT", AZURE_ARC: "Azure Arc",
           SERVICE_FABRIC: "Service Fabric", DEFAULT_TO_VM: "the instance metadata service"}
# IMDS's advice: 5 tries, exponential backoff, 404/410/429/5xx retried (same page); a host
# with no identity endpoint at all should fail in seconds, not minutes
IDENTITY_RETRIES = RetryPolicy(max_attempts=5, max_wait_s=60.0, backoff_base_s=0.5,
                               backoff_max_s=30.0)
# the endpoint is on this host or its hypervisor: a connection that does not come at once
# will not come (off Azure, 169.254.169.254 usually just drops the packets)
IDENTITY_TIMEOUT = httpx.Timeout(30.0, connect=2.0)
FIX = ("Run the job on an Azure resource with this managed identity assigned (or set "
       "managed_identity_endpoint), and check client_id.")


class IdentityHttpClient(MsalHttpClient):
    """msal's HTTP for managed identity; IMDS's fixed address may be pointed elsewhere."""

    def __init__(self, client: httpx.Client, imds: str | None) -> None:
        super().__init__(client)
        self._imds = imds

    def get(self, url: str, params: Any = None, headers: Any = None, **kwargs: Any
            ) -> httpx.Response:
        if self._imds and url == IMDS_TOKEN_URL:
            url = self._imds
        return super().get(url, params=params, headers=headers, **kwargs)


class ManagedIdentityTokenProvider:
    def __init__(self, profile: ProfileConfig, http: httpx.Client) -> None:
        self.profile = profile
        client_id = str(profile.client_id) if profile.client_id else None
        identity: Any = (msal.UserAssignedManagedIdentity(client_id=client_id) if client_id
                         else msal.SystemAssignedManagedIdentity())
        self.identity = (f"user-assigned managed identity {client_id}" if client_id
                         else "system-assigned managed identity")
        self._cache = msal.TokenCache()
        self._client = msal.ManagedIdentityClient(
            identity, http_client=IdentityHttpClient(http, profile.managed_identity_endpoint),
            token_cache=self._cache)
        self._lock = threading.Lock()

    @property
    def certificate(self) -> CertificateInfo | None:
        return None

    def describe(self) -> str:
        found = msal.managed_identity.get_managed_identity_source()
        source = SOURCES.get(found, "the host")
        if found is DEFAULT_TO_VM and self.profile.managed_identity_endpoint:
            source = f"managed_identity_endpoint {self.profile.managed_identity_endpoint}"
        return f"the {self.identity}, through {source}"

    def token(self, scope: str) -> str:
        resource = scope.removesuffix("/.default")
        with self._lock:
            try:
                result = self._client.acquire_token_for_client(resource=resource)
            except (httpx.TransportError, ThrottledTooLong) as exc:
                raise TokenError(f"no managed identity endpoint answered ({type(exc).__name__})",
                                 FIX, None, detail=redact(str(exc))) from None
            except ValueError as exc:  # msal: not JSON, or an identity it cannot use
                raise TokenError(f"the managed identity endpoint gave no token ({exc})", FIX,
                                 None, detail=redact(repr(exc))) from None
        token = result.get("access_token") if isinstance(result, dict) else None
        if token:
            return str(token)
        result = result if isinstance(result, dict) else {}
        error = str(result.get("error") or "")
        description = str(result.get("error_description") or "")
        if "AADSTS" in description:  # Entra's own refusal, relayed by the endpoint
            raise token_error(error=error, description=description, codes=[],
                              tenant=self.profile.tenant_id, client=self.identity,
                              resource=resource)
        raise TokenError(f"the {self.identity} gave no token for {resource} ({error}: "
                         f"{description})", FIX, None, detail=redact(description))

    def refresh(self, scope: str, rejected: str) -> str:
        """The resource refused the token: forget msal's cached one and ask again."""
        with self._lock:
            kind = msal.TokenCache.CredentialType.ACCESS_TOKEN
            for entry in list(self._cache.search(kind)):
                if entry.get("secret") == rejected:
                    self._cache.remove_at(entry)
        return self.token(scope)
