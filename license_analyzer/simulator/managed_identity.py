"""The managed-identity token endpoints a job running on Azure asks: the Instance Metadata
Service of a VM (`/metadata/identity/oauth2/token`) and the App Service / Functions endpoint
(`IDENTITY_ENDPOINT`, here `/msi/token`).

- IMDS: GET with `Metadata: true`, `api-version`, `resource`, optional `client_id` /
  `object_id` / `msi_res_id`; the answer's numbers are strings; errors are
  `{"error", "error_description"}` (400 bad_request_102 without the header, 400
  invalid_resource for an unknown resource):
  https://learn.microsoft.com/en-us/entra/identity/managed-identities-azure-resources/how-to-use-vm-token
- App Service: GET with `X-IDENTITY-HEADER` (the IDENTITY_HEADER secret), `api-version`
  2019-08-01, `resource`, optional `client_id` / `object_id` / `mi_res_id`; `expires_on` in
  epoch seconds: https://learn.microsoft.com/en-us/azure/app-service/overview-managed-identity
  (and msal's `_obtain_token_on_app_service`, which reads exactly these fields)
The token is an app-only token of the identity's service principal, with the Graph app roles
assigned to it (`roles`), like a client-credentials token.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud
    from .tenant import ManagedIdentity

IMDS_PATH = "/metadata/identity/oauth2/token"
APP_SERVICE_PATH = "/msi/token"


def new_identity_header() -> str:
    return secrets.token_hex(16)


def _pick(cloud: Cloud, query: dict[str, str], resource_key: str) -> ManagedIdentity | None:
    attached = [mi for mi in cloud.tenant.managed_identities if mi.attached]
    for key, attr in (("client_id", "client_id"), ("object_id", "object_id"),
                      (resource_key, "resource_id")):
        if query.get(key):
            wanted = query[key].lower()
            return next((mi for mi in attached if getattr(mi, attr).lower() == wanted), None)
    return next((mi for mi in attached if mi.kind == "system"), None)


def _issue(cloud: Cloud, mi: ManagedIdentity, resource: str) -> tuple[str, int] | None:
    kind = cloud.resource_kind(resource)
    if kind is None:
        return None
    lifetime = cloud.opts.scaled(cloud.opts.token_lifetime_s)
    return cloud.issuer.issue(
        audience=resource.rstrip("/"),
        client_id=mi.client_id,
        sp_object_id=mi.object_id,
        roles=sorted(mi.roles) if kind == "graph" else [],
        lifetime_s=lifetime,
        acr="2",
    )


def _no_resource(cloud: Cloud, resource: str) -> Response:
    return json_response(400, {
        "error": "invalid_resource",
        "error_description": f"AADSTS500011: The resource principal named {resource} was not "
                             f"found in the tenant named {cloud.tenant.display_name}.",
    })


def handle(cloud: Cloud, req: Request) -> Response:
    if req.method != "GET":
        return json_response(405, {"error": "invalid_request",
                                   "error_description": "Only GET is supported."})
    if req.path.rstrip("/") == IMDS_PATH:
        return _imds(cloud, req)
    return _app_service(cloud, req)


def _imds(cloud: Cloud, req: Request) -> Response:
    q = req.query
    if req.header("metadata") != "true":
        return json_response(400, {"error": "bad_request_102",
                                   "error_description": "Required metadata header not specified"})
    if not q.get("api-version") or not q.get("resource"):
        return json_response(400, {
            "error": "invalid_request",
            "error_description": "The request is missing a required parameter, includes an "
                                 "invalid parameter value, includes a parameter more than once, "
                                 "or is otherwise malformed."})
    mi = _pick(cloud, q, "msi_res_id")
    if mi is None:
        return json_response(400, {"error": "invalid_request",
                                   "error_description": "Identity not found"})
    issued = _issue(cloud, mi, q["resource"])
    if issued is None:
        return _no_resource(cloud, q["resource"])
    token, expires_in = issued
    now = int(time.time())
    return json_response(200, {
        "access_token": token,
        "refresh_token": "",
        "expires_in": str(expires_in),
        "expires_on": str(now + expires_in),
        "not_before": str(now - 1),
        "resource": q["resource"],
        "token_type": "Bearer",
    })


def _app_service(cloud: Cloud, req: Request) -> Response:
    q = req.query
    if req.header("x-identity-header") != cloud.identity_header:
        return json_response(401, {"statusCode": 401, "message": "Unauthorized"})
    if q.get("api-version") != "2019-08-01" or not q.get("resource"):
        return json_response(400, {"statusCode": 400,
                                   "message": "api-version and resource are required"})
    mi = _pick(cloud, q, "mi_res_id")
    if mi is None:
        return json_response(400, {"statusCode": 400, "message": "Identity not found"})
    issued = _issue(cloud, mi, q["resource"])
    if issued is None:
        return json_response(500, {"statusCode": 500, "message":
                                   f"AADSTS500011: The resource principal named {q['resource']} "
                                   "was not found in the tenant."})
    token, expires_in = issued
    return json_response(200, {
        "access_token": token,
        "expires_on": str(int(time.time()) + expires_in),
        "resource": q["resource"],
        "token_type": "Bearer",
        "client_id": mi.client_id,
    })
