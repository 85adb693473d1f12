"""Alerts reach a local webhook receiver and a local SMTP server, once a day each."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from license_analyzer.config import Config, parse_config
from license_analyzer.errors import ConfigError
from license_analyzer.notify import notify_after_run
from license_analyzer.redact import RedactingFilter, redact
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import Environment, Run, StreamState


class Webhook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        self.messages.append(envelope.content)
        return "250 OK"


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # aiosmtpd's readiness check cannot use port 0
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def make_config(tmp_path: Path, webhook_url: str, smtp_port: int) -> Config:
    return parse_config(
        f"""
[notify]
webhook_url = "{webhook_url}"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
smtp_from = "la@example.com"
smtp_to = ["am@example.com"]
""", tmp_path / "la.toml")


def test_failed_run_and_retention_risk_are_alerted_once(
    store: Store, tmp_path: Path, webhook: Webhook, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    config = make_config(tmp_path, webhook.url, port)
    now = utcnow()
    with store.session() as session:
        run = Run(command="run", started_at=now, finished_at=now, status="failed",
                  error="collect failed: 403 on /users", stages={}, counts={},
                  sources={"contoso/audits/https://env": {"status": "failed"}})
        session.add(run)
        session.add(StreamState(profile="contoso", stream="signins_crm", partition="",
                                cursor=(now - timedelta(days=29)).isoformat(), updated_at=now))
        session.add(StreamState(profile="contoso", stream="dataverse_audits",
                                partition="https://env",
                                cursor=(now - timedelta(days=1)).isoformat(), updated_at=now))
        session.add(Environment(profile="contoso", url="https://env", kind="dataverse",
                                audit_retention_days=90))
        session.flush()
        assert run.id is not None
        run_id = run.id
    sent = notify_after_run(config, store, run_id)
    kinds = sorted(a.kind for a in sent)
    assert kinds == ["retention", "run_degraded", "run_failed"]
    assert len(webhook.bodies) == 1
    assert "403 on /users" in webhook.bodies[0]["text"]
    assert "30-day retention" in webhook.bodies[0]["text"]
    assert len(box.messages) == 1
    mail = message_from_bytes(box.messages[0])
    assert mail["To"] == "am@example.com"
    assert "signins_crm" in mail.get_payload()  # type: ignore[operator]
    # the same alerts are not sent again the same day
    assert notify_after_run(config, store, run_id) == []
    assert len(webhook.bodies) == 1


# --- e-mail over verified TLS, never a password in the clear ------------------------------

class Server:
    """A local SMTP server with a certificate from its own CA (trusted only via ca_bundle)."""

    def __init__(self, tmp_path: Path, implicit: bool) -> None:
        ca = trustme.CA(organization_name="Mail Test CA")
        self.ca_path = tmp_path / "mail-ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_tls)
        self.box = Mailbox()
        self.logins: list[tuple[bytes, bytes]] = []
        logins = self.logins

        def authenticate(server: object, session: object, envelope: object, mechanism: str,
                         data: Any) -> AuthResult:
            logins.append((data.login, data.password))
            return AuthResult(success=True)

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        tls = ({"ssl_context": server_tls} if implicit
               else {"tls_context": server_tls, "require_starttls": True})
        self.controller = Controller(self.box, hostname="127.0.0.1", port=self.port,
                                     # implicit TLS: aiosmtpd cannot tell, the socket is TLS
                                     authenticator=authenticate, auth_require_tls=not implicit,
                                     **tls)  # type: ignore[arg-type]
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def mail_config(tmp_path: Path, port: int, extra: str) -> Config:
    return parse_config(f"""
[notify]
smtp_host = "127.0.0.1"
smtp_port = {port}
smtp_user = "alerts"
smtp_password = "mail-secret-8734"
smtp_from = "la@example.com"
smtp_to = ["am@example.com"]
{extra}
""", tmp_path / "la.toml")


def _failed_run(store: Store) -> int:
    now = utcnow()
    with store.session() as session:
        run = Run(command="run", started_at=now, finished_at=now, status="failed",
                  error="collect failed", stages={}, counts={}, sources={})
        session.add(run)
        session.flush()
        assert run.id is not None
        return run.id


def test_starttls_verifies_the_server_certificate(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    server = Server(tmp_path, implicit=False)
    try:
        untrusted = mail_config(tmp_path, server.port, "smtp_starttls = true")
        with caplog.at_level(logging.ERROR):
            notify_after_run(untrusted, store, _failed_run(store))
        assert server.box.messages == [] and server.logins == []
        assert "certificate verify failed" in caplog.text.lower()
        trusted = mail_config(tmp_path, server.port,
                              f'smtp_starttls = true\nca_bundle = "{server.ca_path}"')
        notify_after_run(trusted, store, _failed_run(store))
        assert len(server.box.messages) == 1
        assert server.logins == [(b"alerts", b"mail-secret-8734")]
    finally:
        server.close()


def test_implicit_tls(store: Store, tmp_path: Path) -> None:
    server = Server(tmp_path, implicit=True)
    try:
        config = mail_config(tmp_path, server.port,
                             f'smtp_implicit_tls = true\nca_bundle = "{server.ca_path}"')
        assert config.notify.smtp_tls == "implicit"
        assert mail_config(tmp_path, 465, "").notify.smtp_tls == "implicit"  # by its port
        notify_after_run(config, store, _failed_run(store))
        assert len(server.box.messages) == 1
    finally:
        server.close()


def test_a_password_is_never_sent_in_the_clear_unless_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="smtp_password would be sent unencrypted") as refused:
        mail_config(tmp_path, 25, "")
    assert "smtp_allow_plaintext_password" in refused.value.message
    assert "mail-secret-8734" not in refused.value.message
    allowed = mail_config(tmp_path, 25, "smtp_allow_plaintext_password = true")
    assert allowed.notify.smtp_tls is None


# --- the webhook: the project's own client, https only -----------------------------------

def test_webhook_ignores_proxies_and_cas_from_the_environment(
        store: Store, tmp_path: Path, webhook: Webhook, monkeypatch: pytest.MonkeyPatch) -> None:
    # a proxy nobody configured in license-analyzer.toml must not see the alert (or its token)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "nothing.pem"))
    config = parse_config(f'[notify]\nwebhook_url = "{webhook.url}"\n', tmp_path / "la.toml")
    notify_after_run(config, store, _failed_run(store))
    assert len(webhook.bodies) == 1


def test_webhook_must_be_https_except_to_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"notify\.webhook_url is not valid.*https://"):
        parse_config('[notify]\nwebhook_url = "http://hooks.example.com/T0/B0/abc"\n',
                     tmp_path / "la.toml")
    for url in ("https://hooks.example.com/x", "http://localhost:8080/x", "http://[::1]/x"):
        parse_config(f'[notify]\nwebhook_url = "{url}"\n', tmp_path / "la.toml")


def test_a_failing_webhook_is_logged_by_its_host_only(
        store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = "https://127.0.0.1:9/services/T000/B000/hook-token-5521?sig=query-secret-9"
    config = parse_config(f'[notify]\nwebhook_url = "{url}"\n', tmp_path / "la.toml")
    caplog.handler.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        notify_after_run(config, store, _failed_run(store))
    assert "could not send the alert by webhook: https://127.0.0.1:9" in caplog.text
    assert "hook-token-5521" not in caplog.text and "query-secret-9" not in caplog.text
    assert redact(f"posting to {url}").count("***") == 2
