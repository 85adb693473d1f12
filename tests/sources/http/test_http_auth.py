from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from license_analyzer.errors import AuthError, ConfigError
from license_analyzer.sources.http import connect
from license_analyzer.sources.http.aadsts import TokenError
from license_analyzer.sources.http.auth import jwt_claims
from tests.sources.http.http_fakes import AUTHORITY_HOST, CLIENT, SECRET, TENANT, FakeCloud, profile

GRAPH_SCOPE = "https://graph.test.example/.default"


def _bearer_claims(request: httpx.Request) -> dict[str, Any]:
    return jwt_claims(request.headers["Authorization"].removeprefix("Bearer "))


def test_bearer_token_is_added_and_cached() -> None:
    cloud = FakeCloud()
    with connect(profile(), transport=cloud.transport) as conn:
        graph = conn.graph()
        assert graph.get("/users").status_code == 200
        assert graph.get("/users").status_code == 200
    resource_calls = [r for r in cloud.requests if r.url.host == "graph.test.example"]
    assert [_bearer_claims(r)["n"] for r in resource_calls] == [1, 1]
    assert len(cloud.tokens_issued) == 1
    assert cloud.tokens_issued[0]["scope"].split()[0] == GRAPH_SCOPE
    assert cloud.tokens_issued[0]["client_secret"] == SECRET


def test_a_401_gets_one_fresh_token_and_one_retry() -> None:
    seen: list[int] = []

    def resource(request: httpx.Request) -> httpx.Response:
        serial = _bearer_claims(request)["n"]
        seen.append(serial)
        return httpx.Response(401 if serial == 1 else 200, json={})

    cloud = FakeCloud(resource)
    with connect(profile(), transport=cloud.transport) as conn:
        assert conn.graph().get("/users").status_code == 200
        assert conn.graph().get("/users").status_code == 200  # the fresh token is cached
    assert seen == [1, 2, 2]
    assert len(cloud.tokens_issued) == 2


def test_a_second_401_is_returned_not_looped() -> None:
    cloud = FakeCloud(lambda request: httpx.Response(401, json={}))
    with connect(profile(), transport=cloud.transport) as conn:
        assert conn.graph().get("/users").status_code == 401
    assert len([r for r in cloud.requests if r.url.host == "graph.test.example"]) == 2


def test_refresh_of_one_scope_keeps_the_others_cached() -> None:
    def resource(request: httpx.Request) -> httpx.Response:
        claims = _bearer_claims(request)
        stale = claims["aud"].endswith("graph.test.example") and claims["n"] == 1
        return httpx.Response(401 if stale else 200, json={})

    cloud = FakeCloud(resource)
    with connect(profile(), transport=cloud.transport) as conn:
        dataverse = conn.dataverse("https://org.crm.test.example")
        assert dataverse.get("/WhoAmI").status_code == 200
        assert conn.graph().get("/users").status_code == 200
        assert dataverse.get("/WhoAmI").status_code == 200
    scopes = [form["scope"].split()[0] for form in cloud.tokens_issued]
    assert scopes.count("https://org.crm.test.example/.default") == 1


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (90002, "check tenant_id"),
        (700016, "check client_id"),
        (7000215, "Value (not its Secret ID)"),
        (7000222, "create a new secret"),
        (700027, "upload the certificate"),
        (500011, "check the environment URL"),
    ],
)
def test_token_failures_are_one_sentence_per_aadsts_code(code: int, words: str) -> None:
    cloud = FakeCloud()
    cloud.token_error = (400 if code != 7000215 else 401, {
        "error": "invalid_client",
        "error_description": f"AADSTS{code}: something went wrong. Trace ID: x",
        "error_codes": [code]})
    with connect(profile(), transport=cloud.transport) as conn, \
            pytest.raises(TokenError) as caught:
        conn.graph().get("/users")
    assert caught.value.code == code
    assert words in caught.value.message
    assert caught.value.message.count(".") >= 1 and "\n" not in caught.value.message
    assert isinstance(caught.value, AuthError)


def test_unknown_codes_still_name_the_code() -> None:
    cloud = FakeCloud()
    cloud.token_error = (400, {"error": "invalid_request",
                               "error_description": "AADSTS123456: odd", "error_codes": [123456]})
    with connect(profile(), transport=cloud.transport) as conn, pytest.raises(TokenError) as caught:
        conn.tokens.token(GRAPH_SCOPE)
    assert "AADSTS123456" in caught.value.message


def test_unknown_tenant_at_discovery() -> None:
    cloud = FakeCloud()
    other = "33333333-3333-3333-3333-333333333333"
    with connect(profile(tenant_id=other), transport=cloud.transport) as conn, \
            pytest.raises(TokenError) as caught:
        conn.tokens.token(GRAPH_SCOPE)
    assert caught.value.code == 90002
    assert "tenant_id" in caught.value.message


def test_the_secret_never_shows_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cloud = FakeCloud()
    cloud.token_error = (401, {
        "error": "invalid_client",
        # a server that echoes the secret back must not get it into our messages
        "error_description": f"AADSTS7000215: Invalid client secret provided: {SECRET}",
        "error_codes": [7000215]})
    with connect(profile(), transport=cloud.transport) as conn, \
            pytest.raises(TokenError) as caught:
        conn.graph().get("/users")
    assert SECRET not in caught.value.message
    assert SECRET not in (caught.value.detail or "")
    assert SECRET not in str(caught.value)
    from license_analyzer.redact import redact

    assert SECRET not in redact(caplog.text)


def test_msal_token_requests_go_through_our_transport() -> None:
    cloud = FakeCloud()
    with connect(profile(), transport=cloud.transport) as conn:
        conn.tokens.token(GRAPH_SCOPE)
    hosts = {r.url.host for r in cloud.requests}
    assert hosts == {httpx.URL(AUTHORITY_HOST).host}  # discovery + token, nothing else


def _write_pem(tmp_path: Path, key_pem: bytes, cert_pem: bytes) -> Path:
    path = tmp_path / "app.pem"
    path.write_bytes(key_pem + cert_pem)
    return path


def _new_cert() -> tuple[bytes, bytes]:
    import trustme

    ca = trustme.CA(key_type=trustme.KeyType.RSA)
    leaf = ca.issue_cert("license-analyzer.test", key_type=trustme.KeyType.RSA)
    return leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes()


def test_certificate_credential_signs_a_client_assertion(tmp_path: Path) -> None:
    key_pem, cert_pem = _new_cert()
    path = _write_pem(tmp_path, key_pem, cert_pem)
    cloud = FakeCloud()
    prof = profile(client_secret=None, certificate_path=str(path.name))
    with connect(prof, transport=cloud.transport, base_dir=tmp_path) as conn:
        conn.tokens.token(GRAPH_SCOPE)
        info = conn.tokens.certificate
    form = cloud.tokens_issued[0]
    assert "client_secret" not in form
    assert form["client_assertion_type"].endswith("jwt-bearer")
    header = jwt.get_unverified_header(form["client_assertion"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert info is not None
    assert info.thumbprint_sha1 == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert "x5t#S256" in header or "x5t" in header
    claims = jwt.decode(form["client_assertion"], cert.public_key(),  # type: ignore[arg-type]
                        algorithms=[header["alg"]], audience=f"{AUTHORITY_HOST}/{TENANT}"
                        "/oauth2/v2.0/token")
    assert claims["iss"] == claims["sub"] == CLIENT


def test_encrypted_certificate_key_needs_its_passphrase(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key_pem, cert_pem = _new_cert()
    key = serialization.load_pem_private_key(key_pem, None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pass-phrase-1"))
    path = _write_pem(tmp_path, encrypted, cert_pem)
    cloud = FakeCloud()
    with pytest.raises(ConfigError, match="certificate_passphrase"):
        connect(profile(client_secret=None, certificate_path=str(path)),
                transport=cloud.transport)
    prof = profile(client_secret=None, certificate_path=str(path),
                   certificate_passphrase="pass-phrase-1")
    with connect(prof, transport=cloud.transport) as conn:
        conn.tokens.token(GRAPH_SCOPE)
    assert "client_assertion" in cloud.tokens_issued[0]


def test_a_non_rsa_key_is_a_config_error(tmp_path: Path) -> None:
    import trustme

    leaf = trustme.CA().issue_cert("x.test", key_type=trustme.KeyType.ECDSA)
    path = _write_pem(tmp_path, leaf.private_key_pem.bytes(), leaf.cert_chain_pems[0].bytes())
    with pytest.raises(ConfigError, match="RSA"):
        connect(profile(client_secret=None, certificate_path=str(path)),
                transport=FakeCloud().transport)


def test_a_pem_without_key_is_a_config_error(tmp_path: Path) -> None:
    _, cert_pem = _new_cert()
    path = tmp_path / "cert-only.pem"
    path.write_bytes(cert_pem)
    with pytest.raises(ConfigError, match="no private key"):
        connect(profile(client_secret=None, certificate_path=str(path)),
                transport=FakeCloud().transport)
    with pytest.raises(ConfigError, match="does not exist"):
        connect(profile(client_secret=None, certificate_path=str(tmp_path / "missing.pem")),
                transport=FakeCloud().transport)


@pytest.mark.parametrize("link", [
    "https://collector.evil.example/v1.0/users?$skiptoken=x",  # another host
    "http://graph.test.example/v1.0/users?$skiptoken=x",  # the same host, unencrypted
    "https://graph.test.example:8443/v1.0/users?$skiptoken=x",  # another port
])
def test_a_next_link_elsewhere_never_receives_the_token(link: str) -> None:
    """Graph's answer names a next page on another server: it is neither followed by the
    paginator nor, if some code follows it anyway, sent the bearer token."""
    from license_analyzer.errors import SourceError
    from license_analyzer.sources.paginate import records
    from license_analyzer.sources.streams import USERS

    def resource(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{"id": "1"}], "@odata.nextLink": link})

    cloud = FakeCloud(resource)
    with connect(profile(), transport=cloud.transport) as conn:
        with pytest.raises(SourceError, match="next-page link to another address"):
            records(conn.graph(), USERS)
        with pytest.raises(SourceError, match="was not sent"):
            conn.graph().get(link)  # a caller following the link by hand
    elsewhere = [r for r in cloud.requests if str(r.url).startswith(link.split("/v1.0")[0])]
    assert elsewhere == []
    sent = [r for r in cloud.requests if r.url.host == "graph.test.example"]
    assert len(sent) == 1 and sent[0].url.scheme == "https" and sent[0].url.port is None
