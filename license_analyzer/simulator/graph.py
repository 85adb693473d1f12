"""Microsoft Graph: authentication, throttling, the wire envelope and dispatch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import (
    graph_delegated,
    graph_directory,
    graph_groups,
    graph_reports,
    graph_signins,
    graph_users,
)
from .tokens import TokenError
from .wire import Request, Response, fmt_seconds, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

CONTENT_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
READ_USERS = (
    "User.Read.All",
    "User.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
)
READ_ORG = (
    "Organization.Read.All",
    "Directory.Read.All",
    "Organization.ReadWrite.All",
    "Directory.ReadWrite.All",
)


class GraphContext:
    """One Graph request: who calls, and how to answer in Graph's envelope."""

    def __init__(
        self, cloud: Cloud, req: Request, claims: dict[str, Any], version: str = "v1.0"
    ) -> None:
        self.cloud = cloud
        self.req = req
        self.claims = claims
        self.roles = set(claims.get("roles") or [])
        # a signed-in person's token: consented scopes, checked with their directory roles
        self.delegated = "scp" in claims
        self.scopes = set(str(claims.get("scp") or "").split())
        self.user_id = str(claims.get("oid", "")) if self.delegated else ""
        self.version = version
        self.root = f"{cloud.base_url}/graph/{version}"

    def require(self, *any_of: str, roles: tuple[str, ...] | None = None) -> Response | None:
        """Refused unless the app holds one of `any_of`; for a person, also one of the
        directory `roles` (default: those the permission's operations admit)."""
        if self.delegated:
            return graph_delegated.require(self, any_of, roles)
        if self.roles.intersection(any_of):
            return None
        return error(
            self.req,
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )

    def ok(self, obj: Any, status: int = 200) -> Response:
        return json_response(status, obj, headers(self.req), CONTENT_TYPE)

    def error(self, status: int, code: str, message: str) -> Response:
        return error(self.req, status, code, message)

    def context(self, entity: str) -> str:
        return f"{self.root}/$metadata#{entity}"


def headers(req: Request) -> list[tuple[str, str]]:
    rid = str(uuid.uuid4())
    return [
        ("request-id", rid),
        ("client-request-id", req.header("client-request-id") or rid),
        (
            "x-ms-ags-diagnostic",
            '{"ServerInfo":{"DataCenter":"Simulated","Slice":"E",'
            '"Ring":"1","ScaleUnit":"000","RoleInstance":"SIM"}}',
        ),
        ("OData-Version", "4.0"),
        ("Strict-Transport-Security", "max-age=31536000"),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept-Encoding"),
    ]


def error(
    req: Request, status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None
) -> Response:
    hdrs = headers(req)
    rid = hdrs[0][1]
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": rid,
                "client-request-id": hdrs[1][1],
            },
        }
    }
    return json_response(status, body, hdrs + list(extra or []), CONTENT_TYPE)


def throttled(req: Request, retry_after: float, scope: str) -> Response:
    hdrs = headers(req)
    body = {
        "error": {
            "code": "TooManyRequests",
            "message": "Please retry again later.",
            "innerError": {
                "code": "429",
                "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "message": "Please retry after",
                "request-id": hdrs[0][1],
                "status": "429",
            },
        }
    }
    extra = [("Retry-After", fmt_seconds(retry_after)), ("x-ms-throttle-scope", scope)]
    return json_response(429, body, hdrs + extra, CONTENT_TYPE)


def authenticate(cloud: Cloud, req: Request) -> dict[str, Any] | Response:
    auth = req.header("authorization") or ""
    if not auth.lower().startswith("bearer ") or not auth[7:].strip():
        return error(req, 401, "InvalidAuthenticationToken", "Access token is empty.")
    try:
        claims = cloud.issuer.verify(auth[7:].strip())
    except TokenError as exc:
        message = (
            "Lifetime validation failed, the token is expired."
            if exc.reason == "expired"
            else "IDX14100: JWT is not well formed, there are no dots (.)."
        )
        if exc.reason == "invalid":
            message = "Access token validation failure. Invalid signature."
        return error(
            req,
            401,
            "InvalidAuthenticationToken",
            message,
            [
                (
                    "WWW-Authenticate",
                    'Bearer realm="", authorization_uri='
                    f'"{cloud.base_url}/common/oauth2/authorize", client_id='
                    '"00000003-0000-0000-c000-000000000000"',
                )
            ],
        )
    aud = str(claims.get("aud", "")).rstrip("/").lower()
    if cloud.resource_kind(aud) != "graph":
        return error(
            req,
            401,
            "InvalidAuthenticationToken",
            "Access token validation failure. Invalid audience.",
        )
    return claims


def _reads_signin_activity(req: Request, rest: str) -> bool:
    """A GET of users that selects or filters signInActivity."""
    if req.method != "GET" or not rest.lower().startswith("users"):
        return False
    q = req.query
    return "signinactivity" in (q.get("$select", "") + " " + q.get("$filter", "")).lower()


def route(cloud: Cloud, req: Request) -> Response:
    claims = authenticate(cloud, req)
    if isinstance(claims, Response):
        return claims
    rest = req.path[len("/graph/") :]
    version, _, rest = rest.partition("/")
    if version not in ("v1.0", "beta") or (version == "beta" and not cloud.tenant.beta_available):
        return error(req, 400, "BadRequest", f"Invalid version: {version}")
    app = str(claims.get("appid", ""))
    if cloud.storm.active():
        return throttled(
            req,
            cloud.opts.scaled(cloud.storm.retry_after),
            f"Tenant_Application/ReadWrite/{app}/{cloud.tenant.id}",
        )
    opts = cloud.opts
    wait = cloud.graph_window.hit(app, opts.graph_requests_per_10s, opts.scaled(10.0))
    activity = opts.traps.signin_activity_limits and _reads_signin_activity(req, rest)
    if wait is None and (activity or rest.lower().startswith("auditlogs/signins")):
        # Identity and access reports, signInActivity among them: five requests per 10 s per
        # app per tenant, and GET signInActivity also 10 per minute
        # (https://learn.microsoft.com/graph/throttling-limits#identity-and-access-reports-service-limits)
        wait = cloud.signin_window.hit(app, opts.signin_requests_per_10s, opts.scaled(10.0))
    if wait is None and activity:
        wait = cloud.signin_activity_window.hit(
            app, opts.signin_activity_requests_per_minute, opts.scaled(60.0)
        )
    if wait is not None:
        return throttled(req, wait, f"Tenant_Application/Read/{app}/{cloud.tenant.id}")
    ctx = GraphContext(cloud, req, claims, version)
    parts = [p for p in rest.split("/") if p]
    low = [p.lower() for p in parts]
    m = req.method
    if low == ["me"] and m == "GET":
        return graph_delegated.me(ctx)
    if low == ["me", "memberof"] and m == "GET":
        return graph_delegated.member_of(ctx)
    if low == ["organization"] and m == "GET":
        return graph_directory.organization(ctx)
    if low == ["subscribedskus"] and m == "GET":
        return graph_directory.subscribed_skus(ctx)
    if low == ["directory", "subscriptions"] and m == "GET":
        return graph_directory.subscriptions(ctx)
    if low == ["applications"] and m == "GET":
        return graph_directory.applications(ctx)
    if low == ["users"] and m == "GET":
        return graph_users.list_users(ctx)
    if len(low) == 2 and low[0] == "users" and low[1] == "$count" and m == "GET":
        return graph_users.count_users(ctx)
    if len(low) == 2 and low[0] == "users" and m == "GET":
        return graph_users.get_user(ctx, parts[1])
    if len(low) == 3 and low[0] == "users" and low[2] == "manager" and m == "GET":
        return graph_users.get_manager(ctx, parts[1])
    if len(low) == 3 and low[0] == "users" and low[2] == "assignlicense" and m == "POST":
        return graph_users.assign_license(ctx, parts[1])
    if len(low) == 3 and low[0] == "users" and low[2] == "transitivememberof" and m == "GET":
        return graph_groups.user_member_of(ctx, parts[1])
    if low == ["groups"] and m == "GET":
        return graph_groups.list_groups(ctx)
    if len(low) == 2 and low[0] == "groups" and m == "GET":
        return graph_groups.get_group(ctx, parts[1])
    if len(low) == 3 and low[0] == "groups" and low[2] == "members" and m == "GET":
        return graph_groups.list_members(ctx, parts[1])
    if len(low) == 4 and low[0] == "groups" and low[2:] == ["members", "$ref"] and m == "POST":
        return graph_groups.add_member(ctx, parts[1])
    if (
        len(low) == 5
        and low[0] == "groups"
        and low[2] == "members"
        and low[4] == "$ref"
        and m == "DELETE"
    ):
        return graph_groups.remove_member(ctx, parts[1], parts[3])
    if low == ["auditlogs", "signins"] and m == "GET":
        return graph_signins.list_signins(ctx)
    if len(low) == 2 and low[0] == "reports" and m == "GET":
        return graph_reports.report(ctx, parts[1])
    if low == ["admin", "reportsettings"] and m in ("GET", "PATCH"):
        return graph_reports.report_settings(ctx)
    return error(
        req, 400, "BadRequest", f"Resource not found for the segment '{parts[0] if parts else ''}'."
    )
