"""The one next-link paginator (singer-sdk's BaseAPIPaginator.advance): `@odata.nextLink`, or
the field the stream names (the Power Platform admin API says `nextLink`).

The next link is followed verbatim: skiptokens are opaque and never parsed. A link seen twice
means the server is looping, which would otherwise never end, so it is an error. A link to
another scheme, host or port is never followed: the request would carry the bearer token
there (the client's auth refuses it too, sources/http/auth.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from license_analyzer.errors import SourceError
from license_analyzer.sources.http.auth import origin_of
from license_analyzer.sources.http.errors import check, transport_error
from license_analyzer.sources.streams import Stream

Record = dict[str, Any]


def pages(client: httpx.Client, stream: Stream, params: dict[str, str] | None = None, *,
          path: str | None = None, what: str | None = None,
          on_page: Callable[[int], None] | None = None,
          before_request: Callable[[], object] | None = None,
          after_request: Callable[[httpx.Response | None], object] | None = None
          ) -> Iterator[list[Record]]:
    """Yield each page's `value` list; the stream's headers go with every request.

    `before_request` and `after_request` run around each page's request (client-side pacing
    and the execution-time budget), whatever its outcome; `after_request` gets the response
    (None when there was none)."""
    label = what or stream.what
    headers = dict(stream.headers)
    url: str = path or stream.path
    query: dict[str, str] | None = stream.query() if params is None else params
    seen: set[str] = set()
    while True:
        if before_request is not None:
            before_request()
        response: httpx.Response | None = None
        try:
            response = client.get(url, params=query, headers=headers)
        except httpx.TransportError as exc:
            raise transport_error(exc, label) from None
        finally:
            if after_request is not None:
                after_request(response)
        check(response, label)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise SourceError(f"{label}: the server sent a page that is not JSON; it is retried "
                              "on the next run.", detail=response.text[:500]) from None
        records = body.get("value") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise SourceError(f"{label}: the server sent a page without a value list; it is "
                              "retried on the next run.", detail=response.text[:500])
        if on_page is not None:
            on_page(len(records))
        yield records
        link = body.get(stream.next_link)
        if not link:
            return
        there = origin_of(link)
        if there != origin_of(response.url):
            raise SourceError(f"{label}: the server sent a next-page link to another address"
                              f" ({there[0]}://{there[1]}:{there[2]}); it is not followed, so the"
                              " token is not sent there. Check the profile's URLs.",
                              detail=f"nextLink to another origin: {link[:300]}")
        if link in seen:
            raise SourceError(f"{label}: the server sent the same next-page link twice, so "
                              "paging would never end; it is retried on the next run.",
                              detail=f"repeated nextLink {link[:300]}")
        seen.add(link)
        url, query = link, None


def records(client: httpx.Client, stream: Stream, params: dict[str, str] | None = None, *,
            path: str | None = None, what: str | None = None,
            on_page: Callable[[int], None] | None = None,
            before_request: Callable[[], object] | None = None) -> list[Record]:
    """Every record of a stream, all pages."""
    out: list[Record] = []
    for page in pages(client, stream, params, path=path, what=what, on_page=on_page,
                      before_request=before_request):
        out.extend(page)
    return out
