"""Graph query options shared by collections: $select, $top, skiptokens, nextLink."""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING

from .paging import SkiptokenError, build_link, fingerprint, graph_offset, graph_token
from .wire import Response

if TYPE_CHECKING:
    from .graph import GraphContext


def parse_select(
    ctx: GraphContext, entity: str, known: set[str], default: list[str]
) -> list[str] | Response:
    raw = ctx.req.query.get("$select")
    if not raw:
        return list(default)
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    lower = {k.lower(): k for k in known}
    out = []
    for f in fields:
        name = lower.get(f.lower())
        if name is None:
            return ctx.error(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{f}' on type 'microsoft.graph.{entity}'.",
            )
        out.append(name)
    if "id" not in out:
        out.append("id")
    return out


def parse_top(ctx: GraphContext, default: int, hard_max: int) -> int | Response:
    raw = ctx.req.query.get("$top")
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        return ctx.error(400, "Request_BadRequest", f"Invalid $top value '{raw}'.")
    if top < 1 or top > hard_max:
        return ctx.error(
            400,
            "Request_UnsupportedQuery",
            f"Invalid page size specified: '{top}'. Must be between 1 and {hard_max} inclusive.",
        )
    return top


def query_fingerprint(ctx: GraphContext) -> str:
    q = ctx.req.query
    return fingerprint(
        ctx.req.path.lower(), *(f"{k}={q[k]}" for k in sorted(q) if k != "$skiptoken")
    )


def start_offset(ctx: GraphContext) -> int | Response:
    token = ctx.req.query.get("$skiptoken")
    if token is None:
        return 0
    try:
        return graph_offset(token, query_fingerprint(ctx))
    except SkiptokenError:
        return ctx.error(400, "Request_BadRequest", "Invalid skip token.")


def page_window(ctx: GraphContext, default: int, hard_max: int) -> tuple[int, int] | Response:
    """($top, the offset its $skiptoken names), or the error answer for either."""
    top = parse_top(ctx, default, hard_max)
    if isinstance(top, Response):
        return top
    offset = start_offset(ctx)
    if isinstance(offset, Response):
        return offset
    return top, offset


def next_link(ctx: GraphContext, offset: int) -> str:
    params = [(k, v) for k, v in ctx.req.query.items() if k != "$skiptoken"]
    params.append(("$skiptoken", graph_token(offset, query_fingerprint(ctx))))
    path = ctx.req.path[len("/graph/v1.0") :]
    return build_link(ctx.root + path, params)


def short_page(size: int, offset: int, enabled: bool) -> int:
    """Graph may return fewer items than $top even when more follow."""
    if not enabled or size < 8:
        return size
    return size - zlib.crc32(f"page{offset}".encode()) % (size // 8 + 1)
