"""A tiny Entra ID + resource server behind httpx.MockTransport, for unit tests."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

from license_analyzer.config import ProfileConfig

TENANT = "11111111-1111-1111-1111-111111111111"
CLIENT = "22222222-2222-2222-2222-222222222222"
SECRET = "s3cr3t-Value~With.Chars_42"
AUTHORITY_HOST = "https://login.test.example"

Handler = Callable[[httpx.Request], httpx.Response]


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def fake_jwt(claims: dict[str, Any]) -> str:
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(claims)}.c2lnbmF0dXJl"


def profile(**overrides: Any) -> ProfileConfig:
    data: dict[str, Any] = {
        "name": "contoso", "tenant_id": TENANT, "client_id": CLIENT, "client_secret": SECRET,
        "authority_host": AUTHORITY_HOST, "graph_url": "https://graph.test.example/v1.0",
    }
    data.update(overrides)
    return ProfileConfig.model_validate({k: v for k, v in data.items() if v is not None})


class FakeCloud:
    """Answers OIDC discovery and token requests; everything else goes to `resource`."""

    def __init__(self, resource: Handler | None = None, roles: list[str] | None = None) -> None:
        self.resource: Handler = resource or (lambda request: httpx.Response(200, json={}))
        self.roles = roles if roles is not None else ["User.Read.All"]
        self.token_error: tuple[int, dict[str, Any]] | None = None
        self.tokens_issued: list[dict[str, Any]] = []  # the form fields of each token request
        self.requests: list[httpx.Request] = []
        self._lock = threading.Lock()

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        base = f"{AUTHORITY_HOST}/{TENANT}"
        url = str(request.url)
        if url.startswith(f"{base}/v2.0/.well-known/openid-configuration"):
            return httpx.Response(200, json={
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "issuer": f"{AUTHORITY_HOST}/{TENANT}/v2.0",
            })
        if url.startswith(AUTHORITY_HOST) and "/.well-known/" in url:
            return httpx.Response(400, json={
                "error": "invalid_tenant",
                "error_description": "AADSTS90002: Tenant 'x' not found.",
                "error_codes": [90002]})
        if url == f"{base}/oauth2/v2.0/token":
            form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
            with self._lock:
                self.tokens_issued.append(form)
                serial = len(self.tokens_issued)
            if self.token_error is not None:
                status, body = self.token_error
                return httpx.Response(status, json=body)
            scope = form.get("scope", "").split(" ")[0]
            claims = {"aud": scope.removesuffix("/.default"), "roles": self.roles, "n": serial,
                      "appid": CLIENT, "tid": TENANT}
            return httpx.Response(200, json={"access_token": fake_jwt(claims),
                                             "token_type": "Bearer", "expires_in": 3600})
        return self.resource(request)
