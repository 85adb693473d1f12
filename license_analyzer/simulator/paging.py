"""Opaque skiptokens: clients must follow nextLink verbatim, never build them."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import quote, unquote

import orjson

_GRAPH_PREFIX = "RFNwdAIAAQAAAC"
_SAFE = "$,()'/:*@=;"


class SkiptokenError(ValueError):
    pass


def fingerprint(*parts: str) -> str:
    return hashlib.blake2b("|".join(parts).encode(), digest_size=6).hexdigest()


def graph_token(offset: int, query_fp: str) -> str:
    raw = orjson.dumps({"o": offset, "q": query_fp})
    return _GRAPH_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def graph_offset(token: str, query_fp: str) -> int:
    try:
        body = token[len(_GRAPH_PREFIX) :] if token.startswith(_GRAPH_PREFIX) else "!"
        data = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if data["q"] != query_fp:
            raise SkiptokenError("query changed")
        return int(data["o"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SkiptokenError(str(exc)) from exc


def dataverse_token(page: int, position: int) -> str:
    """Dataverse's paging cookie: XML, URL-encoded twice inside the outer cookie."""
    inner = quote(
        quote(f'<cookie page="{page}"><auditid last="{{{position:08X}}}" /></cookie>', safe=""),
        safe="",
    )
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{inner}" istracking="False" />'


_POS = re.compile(r'last="\{([0-9A-F]+)\}"')
_PAGE = re.compile(r'pagenumber="(\d+)"')


def dataverse_position(token: str) -> tuple[int, int]:
    text = token
    for _ in range(3):
        text = unquote(text)
    pos, page = _POS.search(text), _PAGE.search(text)
    if not pos or not page:
        raise SkiptokenError("bad paging cookie")
    return int(page.group(1)), int(pos.group(1), 16)


def build_link(base: str, params: list[tuple[str, str]]) -> str:
    return base + "?" + "&".join(f"{k}={quote(v, safe=_SAFE)}" for k, v in params)
