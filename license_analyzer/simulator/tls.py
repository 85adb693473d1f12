"""Throwaway certificate authority so clients can verify the loopback server."""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme


class Tls:
    def __init__(self, host: str, directory: Path) -> None:
        self.ca = trustme.CA(organization_name="License Analyzer Simulator CA")
        names = sorted({host, "127.0.0.1", "localhost"})
        self.server_cert = self.ca.issue_cert(*names)
        self.ca_path = directory / "simulator-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        self.server_cert.configure_cert(ctx)
        return ctx
