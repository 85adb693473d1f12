"""Power Platform admin (BAP) API: the tenant's environments.

The list comes in pages linked by `nextLink` (not `@odata.nextLink`), which Microsoft's own
client follows (Microsoft.PowerApps.Administration.PowerShell's InvokeApi reads
`$result.nextLink`; copy in microsoft/coe-starter-kit coe-cli/scripts/
Microsoft.PowerApps.RestClientModule.psm1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .paging import SkiptokenError, build_link, fingerprint, graph_offset, graph_token
from .tokens import TokenError
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud

PATH = "/bap/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments"


def _error(status: int, code: str, message: str) -> Response:
    return json_response(status, {"error": {"code": code, "message": message}})


def route(cloud: Cloud, req: Request) -> Response:
    auth = req.header("authorization") or ""
    if not auth.lower().startswith("bearer "):
        return _error(401, "MissingAccessToken", "The request is missing an access token.")
    try:
        claims = cloud.issuer.verify(auth[7:].strip())
    except TokenError:
        return _error(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if cloud.resource_kind(str(claims.get("aud", ""))) != "bap":
        return _error(
            401, "InvalidAuthenticationToken", "The access token has an invalid audience."
        )
    if req.path.rstrip("/") != PATH:
        return _error(404, "NotFound", f"The resource '{req.path}' was not found.")
    if not req.query.get("api-version"):
        return _error(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    everything = environments(cloud)
    size = cloud.opts.bap_page_size if cloud.opts.traps.bap_paging else len(everything) or 1
    query_fp = fingerprint(PATH, req.query["api-version"])
    try:
        offset = graph_offset(req.query["$skiptoken"], query_fp) if "$skiptoken" in req.query else 0
    except SkiptokenError:
        return _error(400, "InvalidSkipToken", "The skip token is not valid.")
    body: dict[str, Any] = {"value": everything[offset : offset + size]}
    if offset + size < len(everything):
        body["nextLink"] = build_link(
            cloud.base_url + PATH,
            [("api-version", req.query["api-version"]),
             ("$skiptoken", graph_token(offset + size, query_fp))],
        )
    return json_response(200, body)


def environments(cloud: Cloud) -> list[dict[str, Any]]:
    tenant = cloud.tenant
    out: list[dict[str, Any]] = []
    for env in tenant.dataverse:
        out.append(
            {
                "id": f"/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/"
                f"{env.env_id}",
                "type": "Microsoft.BusinessAppPlatform/scopes/environments",
                "location": "europe",
                "name": env.env_id,
                "properties": {
                    "tenantId": tenant.id,
                    "azureRegion": "westeurope",
                    "displayName": env.display_name,
                    "createdTime": tenant.created_at,
                    "environmentSku": "Production" if env.index == 0 else "Sandbox",
                    "isDefault": False,
                    "databaseType": "CommonDataService",
                    "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
                    "linkedEnvironmentMetadata": {
                        "resourceId": env.org_id,
                        "friendlyName": env.display_name,
                        "uniqueName": env.name.replace("-", ""),
                        "domainName": env.name,
                        "version": "9.2.25104.00184",
                        "instanceUrl": env.url + "/",
                        "instanceApiUrl": env.url,
                        "baseLanguage": 1033,
                        "instanceState": "Ready",
                        "createdTime": tenant.created_at,
                    },
                },
            }
        )
    out.append(
        {
            "id": "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/"
            f"Default-{tenant.id}",
            "type": "Microsoft.BusinessAppPlatform/scopes/environments",
            "location": "europe",
            "name": f"Default-{tenant.id}",
            "properties": {
                "tenantId": tenant.id,
                "azureRegion": "westeurope",
                "displayName": f"{tenant.display_name} (default)",
                "createdTime": tenant.created_at,
                "environmentSku": "Default",
                "isDefault": True,
                "databaseType": "None",
                "states": {"management": {"id": "Ready"}, "runtime": {"id": "Enabled"}},
                "linkedEnvironmentMetadata": None,
            },
        }
    )
    return out
