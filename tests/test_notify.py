"""Alerts reach a local webhook receiver and a local SMTP server, once a day each."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from license_analyzer.config import Config, parse_config
from license_analyzer.notify import notify_after_run
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
