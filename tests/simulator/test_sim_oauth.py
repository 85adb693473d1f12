"""Entra ID: discovery, client credentials with secrets and certificates, AADSTS errors."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import Api, msal_app


def test_discovery_and_jwks_verify_issued_token(api: Api) -> None:
    info = api.info
    r = api.http.get(
        f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration"
    )
    assert r.status_code == 200
    conf = r.json()
    assert conf["token_endpoint"] == (
        f"{info['authority_host']}/{info['tenant_id']}/oauth2/v2.0/token"
    )
    keys = api.http.get(conf["jwks_uri"]).json()["keys"]
    token = api.token(api.graph_resource)
    key = jwt.PyJWK(keys[0]).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=api.graph_resource)
    assert claims["tid"] == info["tenant_id"]
    assert claims["appid"] == info["client_id"]
    assert "User.Read.All" in claims["roles"] and claims["oid"]


def test_msal_secret_and_resource_tokens(api: Api) -> None:
    app, http = msal_app(api.info, api.info["client_secret"])
    try:
        graph = app.acquire_token_for_client([api.graph_resource + "/.default"])
        assert "access_token" in graph, graph
        dv_url = api.info["dataverse"][0]
        dv = app.acquire_token_for_client([dv_url + "/.default"])
        claims = jwt.decode(dv["access_token"], options={"verify_signature": False})
        assert claims["aud"] == dv_url and "roles" not in claims
    finally:
        http.close()


def test_msal_certificate_credentials(sim: Simulator) -> None:
    key_pem, cert_pem = sim.tenant.app.generate_certificate()
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    thumb = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    cred = {"private_key": key_pem.decode(), "thumbprint": thumb}
    app, http = msal_app(sim.info, cred)
    try:
        res = app.acquire_token_for_client([sim.info["graph_url"].rsplit("/", 1)[0] + "/.default"])
        assert "access_token" in res, res
        claims = jwt.decode(res["access_token"], options={"verify_signature": False})
        assert claims["appidacr"] == "2"
        # The same key with a public certificate makes msal sign PS256 with x5t#S256.
        cred2 = {
            "private_key": key_pem.decode(),
            "public_certificate": cert_pem.decode(),
            "thumbprint": thumb,
        }
        app2, http2 = msal_app(sim.info, cred2)
        try:
            res2 = app2.acquire_token_for_client([sim.info["dataverse"][0] + "/.default"])
        finally:
            http2.close()
        assert "access_token" in res2, res2
    finally:
        http.close()


def test_certificate_not_registered(sim: Simulator) -> None:
    from license_analyzer.simulator.tokens import new_certificate

    key_pem, cert_pem = new_certificate("CN=stranger")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    thumb = x509.load_pem_x509_certificate(cert_pem).fingerprint(hashes.SHA1()).hex()
    app, http = msal_app(sim.info, {"private_key": key_pem.decode(), "thumbprint": thumb})
    try:
        res = app.acquire_token_for_client([sim.info["graph_url"].rsplit("/", 1)[0] + "/.default"])
    finally:
        http.close()
    assert res["error"] == "invalid_client"
    assert res["error_description"].startswith("AADSTS700027: ")
    assert 700027 in res["error_codes"]


@pytest.mark.parametrize(
    ("change", "status", "error", "code"),
    [
        ({"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        ({"client_id": "11111111-2222-3333-4444-555555555555"}, 400, "unauthorized_client", 700016),
        ({"scope": "https://nowhere.example.com/.default"}, 400, "invalid_resource", 500011),
        ({"scope": "https://127.0.0.1/graph/User.Read"}, 400, "invalid_scope", 1002012),
    ],
)
def test_token_errors(api: Api, change: dict[str, str], status: int, error: str, code: int) -> None:
    r = api.token_response(api.graph_resource, **change)
    assert r.status_code == status
    body = r.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_codes"] == [code]
    for key in ("timestamp", "trace_id", "correlation_id"):
        assert body[key]


def test_unknown_tenant(api: Api) -> None:
    base = api.info["authority_host"]
    r = api.http.post(
        f"{base}/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token",
        data={"grant_type": "client_credentials"},
    )
    assert r.status_code == 400
    assert r.json()["error_description"].startswith("AADSTS90002: ")
    r = api.http.get(f"{base}/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration")
    assert r.status_code == 400 and r.json()["error_codes"] == [90002]


def test_expired_secret(own: Api, sim: Simulator) -> None:
    sim.tenant.app.secret_expires_at = sim.tenant.now - timedelta(days=1)
    r = own.token_response(own.graph_resource)
    assert r.status_code == 401
    assert r.json()["error_description"].startswith("AADSTS7000222: ")


def test_token_expiry_gives_graph_and_dataverse_401() -> None:
    opts = SimulatorOptions(users=40, time_scale=0.0005, token_lifetime_s=3600)
    with Simulator(opts) as s:
        a = Api(s)
        r = a.token_response(a.graph_resource)
        assert r.json()["expires_in"] == 1
        token = r.json()["access_token"]
        time.sleep(2.0)
        expired = a.http.get(
            a.info["graph_url"] + "/organization", headers={"Authorization": f"Bearer {token}"}
        )
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
        dv_token = a.token_response(a.info["dataverse"][0]).json()["access_token"]
        time.sleep(2.0)
        dv = a.http.get(
            a.info["dataverse"][0] + "/api/data/v9.2/WhoAmI",
            headers={"Authorization": f"Bearer {dv_token}"},
        )
        assert dv.status_code == 401 and "WWW-Authenticate" in dv.headers
        a.http.close()


def test_wrong_audience_is_401(api: Api) -> None:
    dv_token = api.token(api.info["dataverse"][0])
    r = api.http.get(
        api.info["graph_url"] + "/users", headers={"Authorization": f"Bearer {dv_token}"}
    )
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "Access token validation failure. Invalid audience."
    g = api.token(api.graph_resource)
    r = api.http.get(
        api.info["dataverse"][1] + "/api/data/v9.2/WhoAmI", headers={"Authorization": f"Bearer {g}"}
    )
    assert r.status_code == 401 and r.content == b""


def test_ps256_assertion_with_sha256_thumbprint(own: Api, sim: Simulator) -> None:
    import base64
    import hashlib
    import uuid as uuidlib

    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key_pem, cert_pem = sim.tenant.app.generate_certificate()
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    s256 = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip("=")
    endpoint = f"{own.info['authority_host']}/{own.info['tenant_id']}/oauth2/v2.0/token"
    now = int(time.time())
    claims = {
        "aud": endpoint,
        "iss": own.info["client_id"],
        "sub": own.info["client_id"],
        "jti": str(uuidlib.uuid4()),
        "nbf": now,
        "exp": now + 600,
    }
    key = serialization.load_pem_private_key(key_pem, None)
    assertion = jwt.encode(
        claims,
        key,
        algorithm="PS256",  # type: ignore[arg-type]
        headers={"x5t#S256": s256},
    )
    form = {
        "grant_type": "client_credentials",
        "client_id": own.info["client_id"],
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
        "scope": own.graph_resource + "/.default",
    }
    r = own.http.post(endpoint, data=form)
    assert r.status_code == 200, r.text
    tampered = assertion[:-4] + ("AAAA" if not assertion.endswith("AAAA") else "BBBB")
    r = own.http.post(endpoint, data={**form, "client_assertion": tampered})
    assert r.status_code == 401
    assert r.json()["error_description"].startswith("AADSTS700027: ")
