"""Dataverse Web API per environment: auth, service protection, dispatch and envelope."""

from __future__ import annotations

import re
import time
import uuid
from typing import TYPE_CHECKING, Any

from . import dataverse_audits, dataverse_security, dataverse_tables
from .resource_access import dataverse_refusal
from .tenant import DataverseEnv, SystemUser
from .tokens import TokenError
from .wire import Request, Response, fmt_seconds, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

CONTENT_TYPE = "application/json; odata.metadata=minimal"
_MAXPAGE = re.compile(r"odata\.maxpagesize\s*=\s*(\d+)", re.I)
_ANNOT = re.compile(r'odata\.include-annotations\s*=\s*"?([^",]*(?:,[^",=]*)*)"?', re.I)


class DataverseContext:
    def __init__(self, cloud: Cloud, req: Request, env: DataverseEnv, key: str) -> None:
        self.cloud = cloud
        self.req = req
        self.env = env
        self.key = key  # the caller in this environment, as service protection counts it
        self.root = f"{env.url}/api/data/v9.2"
        prefer = req.header("prefer") or ""
        m = _MAXPAGE.search(prefer)
        self.maxpagesize = int(m.group(1)) if m else None
        a = _ANNOT.search(prefer)
        self.annotations = a.group(1).strip() if a else ""
        self.applied: list[str] = []
        self.caller: dict[str, Any] = {}  # the bearer token's claims

    def wants(self, annotation: str) -> bool:
        if not self.annotations:
            return False
        return any(
            p.strip() in ("*", annotation)
            or (p.strip().endswith(".*") and annotation.startswith(p.strip()[:-1]))
            for p in self.annotations.split(",")
        )

    def ok(self, body: Any) -> Response:
        if self.annotations:
            self.applied.append(f'odata.include-annotations="{self.annotations}"')
        headers = base_headers(self.cloud, self.key)
        if self.applied:
            headers.append(("Preference-Applied", ",".join(self.applied)))
        return json_response(200, body, headers, CONTENT_TYPE)

    def error(self, status: int, code: str, message: str) -> Response:
        return error(self.cloud, status, code, message, key=self.key)


def app_systemuser(cloud: Cloud, env: DataverseEnv) -> SystemUser:
    app = cloud.tenant.app
    sid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{env.org_id}/{app.client_id}"))
    return SystemUser(
        sid,
        "application",
        "# license-analyzer",
        f"{app.client_id}@{cloud.tenant.initial_domain}",
        None,
        app.sp_object_id,
        -1,
        False,
        4,
        app.client_id,
        False,
        cloud.tenant.created_at,
    )


def base_headers(cloud: Cloud, key: str | None = None) -> list[tuple[str, str]]:
    """Every response says how much of the caller's service-protection budget is left: the
    requests and the combined execution time (seconds, with thousands separators as in
    "1,200.00") remaining in the window (https://learn.microsoft.com/power-apps/developer/data-platform/api-limits)."""
    rid = str(uuid.uuid4())
    burst, seconds = cloud.dataverse_guard.remaining(key or "")
    return [
        ("OData-Version", "4.0"),
        ("REQ_ID", rid),
        ("x-ms-service-request-id", rid),
        ("x-ms-ratelimit-burst-remaining-xrm-requests", str(burst)),
        ("x-ms-ratelimit-time-remaining-xrm-requests", f"{seconds:,.2f}"),
        ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ]


def error(
    cloud: Cloud,
    status: int,
    code: str,
    message: str,
    extra: list[tuple[str, str]] | None = None,
    key: str | None = None,
) -> Response:
    return json_response(
        status,
        {"error": {"code": code, "message": message}},
        base_headers(cloud, key) + list(extra or []),
        CONTENT_TYPE,
    )


def _unauthorized(cloud: Cloud, env: DataverseEnv) -> Response:
    # Dataverse answers a bad token with an empty 401 and where to get a good one.
    return Response(
        401,
        b"",
        [
            (
                "WWW-Authenticate",
                "Bearer authorization_uri="
                f"{cloud.base_url}/{cloud.tenant.id}/oauth2/authorize, "
                f"resource_id={env.url}/",
            )
        ],
    )


def route(cloud: Cloud, req: Request) -> Response:
    parts = req.path.split("/")
    # ['', 'orgs', name, 'api', 'data', 'v9.2', entity...]
    env = next(
        (
            e
            for e in cloud.tenant.dataverse
            if len(parts) > 2 and e.name.lower() == parts[2].lower()
        ),
        None,
    )
    if env is None or parts[3:6] != ["api", "data", "v9.2"]:
        return Response(404, b"Not Found", [("Content-Type", "text/plain")])
    auth = req.header("authorization") or ""
    if not auth.lower().startswith("bearer "):
        return _unauthorized(cloud, env)
    try:
        claims = cloud.issuer.verify(auth[7:].strip())
    except TokenError:
        return _unauthorized(cloud, env)
    if str(claims.get("aud", "")).rstrip("/").lower() != env.url.lower():
        return _unauthorized(cloud, env)
    denied = dataverse_refusal(cloud, env, claims, "/".join(parts[6:]).lower())
    if denied is not None:
        return error(cloud, *denied)
    key = f"{env.name}|{claims.get('oid')}"
    if cloud.storm.active():
        wait = cloud.opts.scaled(cloud.storm.retry_after)
        return error(
            cloud,
            429,
            "0x80072322",
            "Number of requests exceeded the limit of "
            f"{cloud.opts.dataverse_requests_per_window} over time window of "
            f"{int(cloud.opts.dataverse_window_s)} seconds.",
            [("Retry-After", fmt_seconds(wait))],
            key,
        )
    refused = cloud.dataverse_guard.enter(key)
    if refused is not None:
        code, message, wait = refused
        return error(cloud, 429, code, message, [("Retry-After", fmt_seconds(wait))], key)
    started = time.monotonic()
    try:
        ctx = DataverseContext(cloud, req, env, key)
        ctx.caller = claims
        entity = "/".join(parts[6:])
        low = entity.lower()
        if req.method != "GET":
            return ctx.error(405, "0x80060888", "The requested operation is not supported.")
        if low == "whoami" or low == "whoami()":
            return dataverse_tables.whoami(ctx)
        if low == "organizations":
            return dataverse_tables.organizations(ctx)
        if low == "systemusers":
            return dataverse_tables.systemusers(ctx)
        if low.startswith("systemusers(") and low.endswith(")"):
            return dataverse_tables.systemuser(ctx, low[len("systemusers(") : -1])
        if low == "audits":
            return dataverse_audits.audits(ctx)
        security = dataverse_security.route(ctx, entity)  # roles, their users and teams
        if security is not None:
            return security
        return ctx.error(404, "0x80060888", f"Resource not found for the segment '{entity}'.")
    finally:
        cloud.dataverse_guard.leave(key, started)
