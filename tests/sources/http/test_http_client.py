from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import trustme

from license_analyzer.errors import ConfigError
from license_analyzer.simulator.cloud import TlsHttpServer
from license_analyzer.sources.http import connect, transport_error
from license_analyzer.sources.http.errors import (
    ENVIRONMENT_EXTENSION,
    RESOURCE_EXTENSION,
    UntrustedCertificate,
)
from tests.sources.http.http_fakes import FakeCloud, profile


def test_clients_have_their_base_urls_and_headers() -> None:
    cloud = FakeCloud()
    with connect(profile(), transport=cloud.transport) as conn:
        conn.graph().get("/users")
        conn.dataverse("https://Org.CRM.test.example/").get("/WhoAmI")
        conn.finance_operations("https://fno.test.example").get("/SystemUsers")
        conn.power_platform().get("/providers/Microsoft.BusinessAppPlatform/scopes/admin/"
                                  "environments")
    calls = {r.url.host: r for r in cloud.requests if not r.url.host.startswith("login")}
    assert str(calls["graph.test.example"].url) == "https://graph.test.example/v1.0/users"
    dv = calls["org.crm.test.example"]
    assert str(dv.url) == "https://org.crm.test.example/api/data/v9.2/WhoAmI"
    assert dv.headers["OData-Version"] == "4.0" and dv.headers["OData-MaxVersion"] == "4.0"
    assert dv.headers["Accept"] == "application/json"
    assert dv.extensions[RESOURCE_EXTENSION] == "dataverse"
    assert dv.extensions[ENVIRONMENT_EXTENSION] == "https://org.crm.test.example"
    assert str(calls["fno.test.example"].url) == "https://fno.test.example/data/SystemUsers"
    assert calls["api.bap.microsoft.com"].extensions[RESOURCE_EXTENSION] == "power_platform"
    scopes = sorted(form["scope"].split()[0] for form in cloud.tokens_issued)
    # the admin API's audience is the Power Apps service, not its host
    assert scopes == ["https://fno.test.example/.default",
                      "https://graph.test.example/.default",
                      "https://org.crm.test.example/.default",
                      "https://service.powerapps.com/.default"]


def test_one_client_per_resource_shared_between_threads() -> None:
    cloud = FakeCloud()
    with connect(profile(), transport=cloud.transport, concurrency=4) as conn:
        assert conn.graph() is conn.graph()
        assert conn.dataverse("https://a.test.example") is conn.dataverse("https://A.test.example/")
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda _: conn.graph().get("/users").status_code, range(32)))
    assert statuses == [200] * 32
    assert len(cloud.tokens_issued) == 1  # one token, however many threads asked at once


def test_retry_stats_are_shared_by_every_client() -> None:
    flaky = {"n": 0}

    def resource(request: httpx.Request) -> httpx.Response:
        flaky["n"] += 1
        if flaky["n"] % 2:
            return httpx.Response(429, headers={"Retry-After": "0"})
        return httpx.Response(200, json={})

    cloud = FakeCloud(resource)
    with connect(profile(), transport=cloud.transport, sleep=lambda s: None) as conn:
        conn.graph().get("/users")
        conn.dataverse("https://a.test.example").get("/WhoAmI")
        assert conn.stats.throttled == 2 and conn.stats.retries == 2


# ---- real TLS on loopback: ca_bundle means exactly what it says ----

class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    ca = trustme.CA()
    ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(ssl_ctx)
    server = TlsHttpServer(("127.0.0.1", 0), _Hello, ssl_ctx)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield f"https://127.0.0.1:{server.server_address[1]}", bundle
    server.shutdown()
    server.server_close()
    thread.join(timeout=30)


def test_ca_bundle_is_trusted_and_environment_variables_are_not(
        https_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, bundle = https_server
    # a machine-wide setting must neither add nor remove trust
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # would break every call if used
    prof = profile(ca_bundle=str(bundle.name))
    with connect(prof, base_dir=bundle.parent) as conn:
        client = conn.finance_operations(url)
        # no token needed to prove the TLS handshake: call the raw transport through the client
        response = client.get(url + "/data/ping", auth=None)
        assert response.status_code == 200
    with connect(profile()) as conn, pytest.raises(httpx.ConnectError) as caught:
        conn.finance_operations(url).get(url + "/data/ping", auth=None)
    assert isinstance(transport_error(caught.value, "Ping"), UntrustedCertificate)


def test_a_missing_ca_bundle_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ca_bundle"):
        connect(profile(ca_bundle=str(tmp_path / "nope.pem")))
