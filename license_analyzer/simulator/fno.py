"""Finance & Operations OData: SystemUsers, SecurityRoles and SecurityUserRoles (F&O exposes
no sign-in feed); the security entities are described in fno_security.py."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .odata import ODataError, dict_getter, parse_filter
from .odata import evaluate as odata_evaluate
from .paging import SkiptokenError, build_link, graph_offset, graph_token
from .resource_access import fno_allowed
from .tokens import TokenError
from .wire import Request, Response, json_response

if TYPE_CHECKING:
    from .cloud import Cloud
    from .tenant import FnoEnv

CONTENT_TYPE = "application/json; odata.metadata=minimal"
MAX_PAGE = 10000


def _unauthorized(message: str = "Authentication failed.") -> Response:
    # What F&O sends when the token is fine for Entra but not acceptable to the AOS.
    return json_response(
        401,
        {
            "Message": message,
            "StackTrace": None,
            "ExceptionType": "System.InvalidOperationException",
        },
        [("WWW-Authenticate", "Bearer")],
        "application/json; charset=utf-8",
    )


def route(cloud: Cloud, req: Request) -> Response:
    parts = req.path.split("/")
    env = next(
        (
            e
            for e in cloud.tenant.finance_operations
            if len(parts) > 2 and e.name.lower() == parts[2].lower()
        ),
        None,
    )
    if env is None or len(parts) < 4 or parts[3] != "data":
        return Response(404, b"Not Found", [("Content-Type", "text/plain")])
    auth = req.header("authorization") or ""
    if not auth.lower().startswith("bearer "):
        return _unauthorized()
    try:
        claims = cloud.issuer.verify(auth[7:].strip())
    except TokenError:
        return _unauthorized()
    # F&O compares the audience exactly with its lowercase URL without a trailing slash.
    if str(claims.get("aud", "")) != env.url.lower().rstrip("/"):
        return _unauthorized()
    if not fno_allowed(cloud, env, claims):
        return _unauthorized()
    entity = "/".join(parts[4:])
    if entity in ENTITY_SETS and req.method == "GET":
        if entity != "SystemUsers" and not env.security_readable:
            # the app's user lacks the security privileges: F&O denies the entity
            return json_response(
                403,
                {"error": {"code": "", "message": f"Access denied to entity set '{entity}'."}},
            )
        return entity_set(cloud, req, env, entity)
    if entity in ("", "$metadata"):
        return json_response(
            200,
            {
                "@odata.context": f"{env.url}/data/$metadata",
                "value": [
                    {"name": name, "kind": "EntitySet", "url": name} for name in ENTITY_SETS
                ],
            },
        )
    return json_response(
        404,
        {
            "error": {
                "code": "",
                "message": "No HTTP resource was found "
                f"that matches the request URI '{env.url}/data/"
                f"{entity}'.",
            }
        },
    )


# entity set -> (the environment's rows, the entity type F&O names in errors)
ENTITY_SETS = {
    "SystemUsers": ("users", "SystemUser"),
    "SecurityRoles": ("roles", "SecurityRole"),
    "SecurityUserRoles": ("user_roles", "SecurityUserRole"),
}


def entity_set(cloud: Cloud, req: Request, env: FnoEnv, entity: str) -> Response:
    q = req.query
    attribute, type_name = ENTITY_SETS[entity]
    every: list[dict[str, Any]] = getattr(env, attribute)
    rows = every
    flt = q.get("$filter")
    if flt:
        try:
            node = parse_filter(flt)
            rows = [r for r in rows if odata_evaluate(node, dict_getter(r))]
        except ODataError as exc:
            return json_response(400, {"error": {"code": "", "message": str(exc)}})
    select = [s.strip() for s in q.get("$select", "").split(",") if s.strip()]
    if select:
        unknown = [s for s in select if every and s not in every[0]]
        if unknown:
            return json_response(
                400,
                {
                    "error": {
                        "code": "",
                        "message": "Could not find a "
                        f"property named '{unknown[0]}' on type "
                        f"'Microsoft.Dynamics.DataEntities.{type_name}'.",
                    }
                },
            )
        rows = [{"@odata.etag": r["@odata.etag"], **{k: r[k] for k in select}} for r in rows]
    prefer = (req.header("prefer") or "").lower()
    size = MAX_PAGE
    if "odata.maxpagesize=" in prefer:
        size = min(MAX_PAGE, int(prefer.split("odata.maxpagesize=")[1].split(",")[0]))
    if q.get("$top"):
        rows = rows[: int(q["$top"])]
    fp = f"{env.name}|{flt}|{q.get('$select')}"
    if entity != "SystemUsers":
        fp = f"{entity}|{fp}"
    start = 0
    if q.get("$skiptoken"):
        try:
            start = graph_offset(q["$skiptoken"], fp)
        except SkiptokenError:
            return json_response(400, {"error": {"code": "", "message": "Invalid skip token."}})
    body: dict[str, Any] = {
        "@odata.context": f"{env.url}/data/$metadata#{entity}"
        + (f"({','.join(select)})" if select else "")
    }
    body["value"] = rows[start : start + size]
    if start + size < len(rows):
        params = [(k, v) for k, v in q.items() if k != "$skiptoken"]
        params.append(("$skiptoken", graph_token(start + size, fp)))
        body["@odata.nextLink"] = build_link(f"{env.url}/data/{entity}", params)
    return json_response(200, body, [("OData-Version", "4.0")], CONTENT_TYPE)
