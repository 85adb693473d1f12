"""Entra ID: OIDC discovery, JWKS and the client-credentials token endpoint."""

from __future__ import annotations

import base64
import secrets
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from . import device_code, oidc, user_tokens
from .tokens import verify_client_assertion
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DELEGATED_GRANTS = {
    user_tokens.DEVICE_CODE_GRANT: device_code.redeem,
    "refresh_token": user_tokens.refresh_grant,
    "authorization_code": oidc.redeem,  # the review app's sign-in (oidc.py)
}


def _error(cloud: Cloud, status: int, error: str, code: int, text: str) -> Response:
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    desc = f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {corr} Timestamp: {stamp}"
    body = {
        "error": error,
        "error_description": desc,
        "error_codes": [code],
        "timestamp": stamp,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": f"{cloud.base_url}/error?code={code}",
    }
    return json_response(status, body, [("Cache-Control", "no-store, no-cache")])


def _tenant_ok(cloud: Cloud, name: str) -> bool:
    t = cloud.tenant
    return name.lower() in (t.id, t.domain, t.initial_domain)


def handle(cloud: Cloud, req: Request) -> Response:
    parts = [p for p in req.path.split("/") if p]
    if not parts:
        return json_response(404, {"error": "not_found"})
    tenant = unquote(parts[0])
    rest = "/".join(parts[1:])
    if rest in ("v2.0/.well-known/openid-configuration", ".well-known/openid-configuration"):
        if not _tenant_ok(cloud, tenant):
            return _error(cloud, 400, "invalid_tenant", 90002, _no_tenant(tenant))
        return json_response(200, discovery(cloud))
    if rest == "discovery/v2.0/keys" or rest == "discovery/keys":
        return json_response(200, cloud.issuer.jwks())
    if rest in ("oauth2/v2.0/token", "oauth2/token") and req.method == "POST":
        return token(cloud, req, tenant)
    if rest == "oauth2/v2.0/authorize" and req.method in ("GET", "POST"):
        if not _tenant_ok(cloud, tenant):
            return _error(cloud, 400, "invalid_tenant", 90002, _no_tenant(tenant))
        return oidc.authorize(cloud, req, tenant)
    if rest == "oauth2/v2.0/devicecode" and req.method == "POST" and _tenant_ok(cloud, tenant):
        return device_code.start(cloud, req)
    return json_response(404, {"error": "not_found", "error_description": req.path})


def _no_tenant(tenant: str) -> str:
    return (
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID "
        "and are signing into the correct cloud. Check with your subscription "
        "administrator, this may happen if there are no active subscriptions for the "
        "tenant."
    )


def discovery(cloud: Cloud) -> dict[str, object]:
    base, tid = cloud.base_url, cloud.tenant.id
    return {
        "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post",
            "private_key_jwt",
            "client_secret_basic",
        ],
        "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{base}/{tid}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": f"{base}/graph/oidc/userinfo",
        "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
        "claims_supported": [
            "sub",
            "iss",
            "cloud_instance_name",
            "cloud_instance_host_name",
            "cloud_graph_host_name",
            "msgraph_host",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "acr",
            "nonce",
            "preferred_username",
            "name",
            "tid",
            "ver",
            "at_hash",
            "c_hash",
            "email",
        ],
        "kerberos_endpoint": f"{base}/{tid}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": base.split("://", 1)[1] + "/graph",
        "rbac_url": "https://pas.windows.net",
    }


def token(cloud: Cloud, req: Request, tenant_name: str) -> Response:
    form = dict(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    basic = req.header("authorization") or ""
    if basic.lower().startswith("basic "):
        user, _, pwd = base64.b64decode(basic[6:]).decode().partition(":")
        form.setdefault("client_id", unquote(user))
        form.setdefault("client_secret", unquote(pwd))
    if not _tenant_ok(cloud, tenant_name):
        return _error(cloud, 400, "invalid_request", 90002, _no_tenant(tenant_name))
    if form.get("grant_type") in DELEGATED_GRANTS:  # a signed-in person (user_tokens.py)
        return DELEGATED_GRANTS[form["grant_type"]](cloud, form)
    if form.get("grant_type") != "client_credentials":
        return _error(
            cloud,
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{form.get('grant_type', '')}'.",
        )
    app = cloud.tenant.app
    client_id = form.get("client_id", "")
    if client_id.lower() != app.client_id:
        return _error(
            cloud,
            400,
            "unauthorized_client",
            700016,
            f"Application with identifier '{client_id}' was not found in the "
            f"directory '{cloud.tenant.display_name}'. This can happen if the "
            "application has not been installed by the administrator of the tenant "
            "or consented to by any user in the tenant. You may have sent your "
            "authentication request to the wrong tenant.",
        )
    scope = form.get("scope", "")
    resources = [s for s in scope.split() if s not in ("openid", "profile", "offline_access")]
    if len(resources) != 1 or not resources[0].endswith("/.default"):
        return _error(
            cloud,
            400,
            "invalid_scope",
            1002012,
            f"The provided value for scope {scope} is not valid. Client credential "
            "flows must have a scope value with /.default suffixed to the resource "
            "identifier (application ID URI).",
        )
    if "client_assertion" in form:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return _error(
                cloud, 400, "invalid_request", 50027, "JWT token is invalid or malformed."
            )
        outcome, thumb = verify_client_assertion(
            form["client_assertion"], app.certificates, app.client_id
        )
        if outcome == "unknown_key":
            return _error(
                cloud,
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The key "
                f"was not found., Thumbprint of key used by client: '{thumb}', "
                "Please visit the Azure Portal, Graph Explorer or directly use MS "
                "Graph to see configured keys for app Id "
                f"'{app.client_id}'.]",
            )
        if outcome == "expired":
            return _error(
                cloud,
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.",
            )
        if outcome != "ok":
            return _error(
                cloud,
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The "
                "provided signature value did not match the expected signature "
                f"value., Thumbprint of key used by client: '{thumb}']",
            )
        acr = "2"
    elif "client_secret" in form:
        if not secrets.compare_digest(form["client_secret"], app.client_secret):
            return _error(
                cloud,
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the "
                "request is the client secret value, not the client secret ID, for a "
                f"secret added to app '{app.client_id}'.",
            )
        if app.secret_expires_at <= cloud.tenant.now:
            return _error(
                cloud,
                401,
                "invalid_client",
                7000222,
                f"The provided client secret keys for app '{app.client_id}' are "
                "expired. Visit the Azure portal to create new keys for your app: "
                "https://aka.ms/NewClientSecret, or consider using certificate "
                "credentials for added security: https://aka.ms/certCreds.",
            )
        acr = "1"
    else:
        return _error(
            cloud,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: "
            "'client_assertion' or 'client_secret'.",
        )
    resource = resources[0][: -len("/.default")]
    kind = cloud.resource_kind(resource)
    if kind is None:
        return _error(
            cloud,
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant "
            f"named {cloud.tenant.display_name}. This can happen if the application "
            "has not been installed by the administrator of the tenant or consented "
            "to by any user in the tenant. You might have sent your authentication "
            "request to the wrong tenant.",
        )
    roles = sorted(app.roles) if kind == "graph" else []
    lifetime = cloud.opts.scaled(cloud.opts.token_lifetime_s)
    access, expires_in = cloud.issuer.issue(
        audience=resource,
        client_id=app.client_id,
        sp_object_id=app.sp_object_id,
        roles=roles,
        lifetime_s=lifetime,
        acr=acr,
    )
    return json_response(
        200,
        {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": access,
        },
        [("Cache-Control", "no-store, no-cache"), ("Pragma", "no-cache")],
    )
