"""The nextLink paginator against a fake server that really pages."""

from __future__ import annotations

import httpx
import orjson
import pytest

from license_analyzer.errors import SourceError
from license_analyzer.sources.paginate import pages, records
from license_analyzer.sources.streams import AUDITS, LICENSED_GROUPS

BASE = "https://graph.test/v1.0"


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(base_url=BASE, transport=handler)


def test_follows_next_links_verbatim_and_resends_headers_on_every_page() -> None:
    seen: list[httpx.Request] = []
    # an opaque skiptoken with characters a parser would mangle
    token = "%27a%2Bb%3D%3D%27&$count=true"

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "$skiptoken" not in str(request.url) and "skiptoken" not in str(request.url):
            return httpx.Response(200, json={
                "value": [{"id": "1"}], "@odata.nextLink": f"{BASE}/groups?$skiptoken={token}"})
        return httpx.Response(200, json={"value": [{"id": "2"}]})

    with _client(httpx.MockTransport(handle)) as client:
        got = records(client, LICENSED_GROUPS)
    assert [r["id"] for r in got] == ["1", "2"]
    assert len(seen) == 2
    assert all(r.headers["ConsistencyLevel"] == "eventual" for r in seen)
    assert seen[0].url.params["$count"] == "true"
    assert seen[0].url.params["$filter"] == "assignedLicenses/$count ne 0"
    assert str(seen[1].url) == f"{BASE}/groups?$skiptoken={token}"


def test_dataverse_page_size_preference_goes_with_every_page() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            return httpx.Response(200, content=orjson.dumps({
                "value": [{"createdon": "2026-11-20T10:00:00Z"}],
                "@odata.nextLink": f"https://org.test/api/data/v9.2/audits?p={len(seen)}"}))
        return httpx.Response(200, content=orjson.dumps({"value": []}))

    client = httpx.Client(base_url="https://org.test/api/data/v9.2",
                          transport=httpx.MockTransport(handle))
    pages_seen = list(pages(client, AUDITS))
    assert len(pages_seen) == 3
    assert all(r.headers["Prefer"] == "odata.maxpagesize=5000" for r in seen)
    assert seen[0].url.path == "/api/data/v9.2/audits"


def test_a_repeated_next_link_is_an_error_not_an_endless_loop() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"value": [{"id": "x"}],
                                         "@odata.nextLink": f"{BASE}/groups?$skiptoken=same"})

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(
            SourceError, match="same next-page link twice"):
        records(client, LICENSED_GROUPS)


def test_a_page_without_a_value_list_is_an_error() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"error": "nope"})

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(SourceError):
        records(client, LICENSED_GROUPS)


def test_errors_become_one_sentence() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": {"code": "Authorization_RequestDenied",
                                                   "message": "Insufficient privileges"}})

    with _client(httpx.MockTransport(handle)) as client, pytest.raises(
            Exception, match="GroupMember.Read.All"):
        records(client, LICENSED_GROUPS)


def test_before_request_runs_before_each_page() -> None:
    calls: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append("request")
        more = {"@odata.nextLink": f"{BASE}/groups?page=2"} if len(calls) < 3 else {}
        return httpx.Response(200, json={"value": [], **more})

    with _client(httpx.MockTransport(handle)) as client:
        records(client, LICENSED_GROUPS, before_request=lambda: calls.append("token"))
    assert calls == ["token", "request", "token", "request"]
