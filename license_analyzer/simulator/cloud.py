"""The HTTPS server and the router that sends each path prefix to its service."""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

from . import bap, dataverse, device_code, fno, graph, graph_reports, managed_identity, oauth
from .device_code import DeviceCodes
from .limits import DataverseGuard, Faults, FixedWindow, Injection, Injections, Storm
from .options import SimulatorOptions
from .tenant import Tenant
from .tokens import TokenIssuer
from .user_tokens import Delegation
from .wire import Request, Response, json_response

# "reports": the usage reports' preauthenticated downloads (Microsoft: reports.office.com)
SERVICES: dict[str, Any] = {"graph": graph, "orgs": dataverse, "fno": fno, "bap": bap,
                            "reports": graph_reports}
# sign-in endpoints outside a tenant's path; like the token endpoint, never faulted
IDENTITY: dict[str, Any] = {"devicelogin": device_code.page, "metadata": managed_identity.handle,
                            "msi": managed_identity.handle}
# Microsoft Graph by its application ID URI and by its application id, as Entra ID accepts
# both before /.default (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
# asks for https://graph.microsoft.com/.default; Microsoft's own SDK samples ask for
# 00000003-0000-0000-c000-000000000000/.default, e.g.
# https://learn.microsoft.com/entra/msidweb/agent-id-sdk/agent-identities)
GRAPH_IDS = frozenset({"https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000"})
# The Power Platform admin API's audience as Microsoft's own clients ask for it
# (Microsoft.PowerApps.Administration.PowerShell; microsoft/terraform-provider-power-platform)
POWER_PLATFORM_IDS = frozenset({"https://service.powerapps.com"})
# Dynamics CRM (Dataverse) and Dynamics ERP by application id
# (https://learn.microsoft.com/power-platform/admin/apps-to-allow): Entra issues tokens for
# them; each Dataverse and F&O environment still wants its own URL as the audience.
FIRST_PARTY = {
    "00000007-0000-0000-c000-000000000000": "dynamics_crm",
    "00000015-0000-0000-c000-000000000000": "dynamics_erp",
}


class Cloud:
    """Everything one simulated cloud serves; handlers receive it as their context."""

    def __init__(self, opts: SimulatorOptions, tenant: Tenant, base_url: str) -> None:
        self.opts = opts
        self.tenant = tenant
        self.base_url = base_url
        self.issuer = TokenIssuer(tenant.id, opts.time_scale)
        self.graph_window = FixedWindow()
        self.signin_window = FixedWindow()
        self.signin_activity_window = FixedWindow()
        self.dataverse_guard = DataverseGuard(opts)
        self.storm = Storm()
        self.faults = Faults(opts.seed, opts.fault_rate)
        self.injections = Injections()
        self.request_log: deque[tuple[str, str, int]] = deque(maxlen=opts.request_log_size)
        self.cache: dict[Any, Any] = {}
        self.cache_lock = threading.Lock()
        self.device_codes = DeviceCodes()
        self.delegation = Delegation()
        self.identity_header = managed_identity.new_identity_header()

    @property
    def graph_resource(self) -> str:
        return f"{self.base_url}/graph"

    @property
    def bap_resource(self) -> str:
        return f"{self.base_url}/bap"

    def resource_kind(self, resource: str) -> str | None:
        """Entra matches resource URIs case-insensitively and ignores a trailing slash, and
        knows Microsoft's first-party resources by their application ids and well-known URIs
        as well as by the simulator's own URLs."""
        key = resource.rstrip("/").lower()
        if key == self.graph_resource.lower() or key in GRAPH_IDS:
            return "graph"
        if key == self.bap_resource.lower() or key in POWER_PLATFORM_IDS:
            return "bap"
        if key in FIRST_PARTY:
            return FIRST_PARTY[key]
        if any(env.url.lower() == key for env in self.tenant.dataverse):
            return "dataverse"
        if any(env.url.lower() == key for env in self.tenant.finance_operations):
            return "fno"
        return None

    def handle(self, req: Request) -> Response:
        try:
            resp = self._route(req)
        except Exception:  # the server must answer like a cloud, never crash
            traceback.print_exc(file=sys.stderr)
            resp = json_response(
                500, {"error": {"code": "InternalServerError", "message": "Simulator error."}}
            )
        self.request_log.append((req.method, req.path_with_query, resp.status))
        return resp

    def _route(self, req: Request) -> Response:
        path = req.path
        service = path.split("/", 2)[1] if path.count("/") >= 2 else path.strip("/")
        if service in IDENTITY:
            return IDENTITY[service](self, req)  # type: ignore[no-any-return]
        module = SERVICES.get(service)
        if module is None:
            return oauth.handle(self, req)
        if self.opts.latency_ms > 0:
            time.sleep(self.opts.latency_ms / 1000.0)
        fault = self.faults.decide(req.path_with_query)
        if fault == "drop":
            return Response(0, drop=True)
        if fault == "slow":
            time.sleep(self.opts.scaled(5.0))
        elif fault is not None:
            return _fault_response(int(fault))
        injected = self.injections.take(req.method, req.path)
        if injected is not None and injected.call is not None:
            injected.call()
        if injected is not None and not injected.after and injected.status is not None:
            return _injected_response(req, injected)
        resp: Response = module.route(self, req)
        if injected is not None and injected.after and injected.status is not None:
            return _injected_response(req, injected)  # it acted; the caller never hears so
        return resp


def _injected_response(req: Request, injected: Injection) -> Response:
    if injected.status == "drop":
        return Response(0, drop=True)
    status = int(injected.status or 500)
    if status in (500, 503, 504):
        return _fault_response(status)
    if req.path.startswith("/graph/") and status == 403:
        return graph.error(req, 403, "Authorization_RequestDenied",
                           "Insufficient privileges to complete the operation.")
    return graph.error(req, status, "BadRequest", "Injected by the test.")


def _fault_response(status: int) -> Response:
    code, message = {
        500: ("InternalServerError", "An internal server error occurred."),
        503: ("ServiceUnavailable", "The service is temporarily unavailable. Try again later."),
        504: ("GatewayTimeout", "The operation timed out."),
    }[status]
    headers = [("Retry-After", "1")] if status == 503 else []
    return json_response(status, {"error": {"code": code, "message": message}}, headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, raw_query = self.path.partition("?")
        req = Request(
            self.command,
            unquote(path),
            raw_query,
            dict(parse_qsl(raw_query, keep_blank_values=True)),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            self.server.cloud.base_url,
        )
        resp = self.server.cloud.handle(req)
        if resp.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for name, value in resp.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _serve


class TlsHttpServer(ThreadingHTTPServer):
    """An HTTPS server whose TLS handshake runs in each connection's thread: done in the accept
    loop, one client stalled mid-handshake would stall every other and shutdown() with them."""

    daemon_threads = True

    def __init__(self, addr: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 ctx: ssl.SSLContext) -> None:
        super().__init__(addr, handler)
        self.ctx = ctx

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):  # e.g. the client refused the certificate
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Server(TlsHttpServer):
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr: tuple[str, int], cloud: Cloud | None, ctx: ssl.SSLContext) -> None:
        super().__init__(addr, _Handler, ctx)
        self.cloud: Cloud = cloud  # type: ignore[assignment]


def make_server(host: str, port: int, ctx: ssl.SSLContext) -> _Server:
    return _Server((host, port), None, ctx)
