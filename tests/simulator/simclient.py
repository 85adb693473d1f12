"""Test-side clients for the simulator: httpx calls, tokens, msal's http adapter."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
import msal

from license_analyzer.simulator import Simulator

FAST = {"time_scale": 0.01}


def wait_out(r: httpx.Response, resend: Any, tries: int = 50) -> httpx.Response:
    """`r`, or while it is a 429, the answer of `resend()` after its Retry-After."""
    for _ in range(tries):
        if r.status_code != 429:
            break
        time.sleep(float(r.headers.get("Retry-After", "0.05")))
        r = resend()
    return r


class MsalHttpClient:
    """What msal needs from an http client, on httpx with our CA (ignores REQUESTS_CA_BUNDLE)."""

    def __init__(self, ca_bundle: str) -> None:
        self.client = httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle))

    def get(self, url: str, params: Any = None, headers: Any = None, **kw: Any) -> Any:
        return self.client.get(url, params=params, headers=headers)

    def post(
        self, url: str, params: Any = None, data: Any = None, headers: Any = None, **kw: Any
    ) -> Any:
        if isinstance(data, dict):
            # msal hands the client assertion over as bytes; httpx would send "b'...'".
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return self.client.post(url, params=params, data=data, headers=headers)

    def close(self) -> None:
        self.client.close()


class Api:
    """A test client: tokens by scope, plain httpx calls."""

    def __init__(self, sim: Simulator, *, wait_out_throttling: bool = False) -> None:
        # Tests sharing one tenant wait out its limits as a real client does; a test of the
        # limits themselves builds its own Api and sees every 429.
        self.wait_out_throttling = wait_out_throttling
        self.sim = sim
        self.info = sim.info
        self.http = httpx.Client(
            verify=ssl.create_default_context(cafile=self.info["ca_bundle"]), timeout=30
        )
        self._tokens: dict[str, str] = {}

    def token_response(self, resource: str, **form: str) -> httpx.Response:
        data = {
            "grant_type": "client_credentials",
            "client_id": self.info["client_id"],
            "client_secret": self.info["client_secret"],
            "scope": f"{resource}/.default",
        }
        data.update(form)
        url = f"{self.info['authority_host']}/{self.info['tenant_id']}/oauth2/v2.0/token"
        return self.http.post(url, data=data)

    def token(self, resource: str) -> str:
        if resource not in self._tokens:
            r = self.token_response(resource)
            assert r.status_code == 200, r.text
            self._tokens[resource] = r.json()["access_token"]
        return self._tokens[resource]

    @property
    def graph_resource(self) -> str:
        return self.info["graph_url"].rsplit("/", 1)[0]

    def graph(
        self, path: str, method: str = "GET", headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        url = path if path.startswith("https://") else self.info["graph_url"] + path
        hdrs = {"Authorization": f"Bearer {self.token(self.graph_resource)}", **(headers or {})}
        return self._patient(lambda: self.http.request(method, url, headers=hdrs, **kw))

    def dataverse(
        self, env: int, path: str, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        base = self.info["dataverse"][env]
        url = path if path.startswith("https://") else f"{base}/api/data/v9.2{path}"
        hdrs = {"Authorization": f"Bearer {self.token(base)}", **(headers or {})}
        return self._patient(lambda: self.http.get(url, headers=hdrs))

    def fno(self, env: int, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        base = self.info["finance_operations"][env]
        url = path if path.startswith("https://") else f"{base}/data{path}"
        hdrs = {"Authorization": f"Bearer {self.token(base)}", **(headers or {})}
        return self._patient(lambda: self.http.get(url, headers=hdrs))

    def _patient(self, send: Any) -> httpx.Response:
        return wait_out(send(), send, 50 if self.wait_out_throttling else 0)

    def follow(self, first: httpx.Response, call: Any) -> list[dict[str, Any]]:
        """All items across pages, following @odata.nextLink verbatim."""
        out: list[dict[str, Any]] = []
        r = first
        while True:
            # a real client waits out throttling (shared tenants hit it)
            r = wait_out(r, lambda url=str(r.request.url): call(url))
            assert r.status_code == 200, r.text
            body = r.json()
            out.extend(body["value"])
            link = body.get("@odata.nextLink")
            if not link:
                return out
            r = call(link)


def msal_app(info: dict[str, Any], credential: Any) -> tuple[Any, MsalHttpClient]:
    http = MsalHttpClient(info["ca_bundle"])
    app = msal.ConfidentialClientApplication(
        info["client_id"],
        client_credential=credential,
        authority=f"{info['authority_host']}/{info['tenant_id']}",
        instance_discovery=False,
        http_client=http,
    )
    return app, http
