"""The review app over HTTP (httpx, the requests a browser makes): sign-in, sessions, CSRF,
headers, bad input, managers. The browser tests drive the same app in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from sqlmodel import select

from license_analyzer.store.models import Candidate, DirectoryUser, WebSession
from license_analyzer.web.guard import cookie_for
from tests.web.harness import ReviewApp, form_fields, review_app, sign_in


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewApp]:
    with review_app(tmp_path_factory.mktemp("web")) as running:
        yield running


def _ids(html: str) -> list[str]:
    return re.findall(r'name="id" value="([^"]+)"', html)


def test_no_session_goes_to_sign_in_and_posts_are_refused(app: ReviewApp) -> None:
    anonymous = httpx.Client(base_url=app.base_url)
    app.clients.append(anonymous)
    for path in ("/", "/candidates", "/candidates/c-1", "/plan", "/access"):
        answer = anonymous.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/auth/sign-in?next=")
    refused = anonymous.post("/candidates/decide", data={"id": "x", "decision": "approve"})
    assert refused.status_code == 403 and "not signed in" in refused.text
    assert anonymous.get("/healthz").text == "ok"


def test_session_cookie_headers_and_sign_out(app: ReviewApp) -> None:
    client = sign_in(app, app.people["reviewer"])
    cookie = next(c for c in client.cookies.jar if c.name == "la_session")
    assert cookie.has_nonstandard_attr("HttpOnly") and cookie.path == "/"
    page = client.get("/candidates")
    headers = page.headers
    assert "script-src 'self';" in headers["content-security-policy"]
    assert "unsafe-eval" not in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    assert "<script>" not in page.text  # no inline script anywhere
    # only a hash of the cookie's token is stored
    with app.store.session() as s:
        stored = [r.id for r in s.exec(select(WebSession))]
    assert cookie.value not in stored
    csrf = form_fields(page.text)["csrf_token"]
    out = client.post("/auth/sign-out", data={"csrf_token": csrf})
    assert out.status_code == 200 and "signed out" in out.text
    assert client.get("/candidates").status_code == 303
    # behind https the cookie is __Host- and Secure
    assert cookie_for("https://licenses.contoso.com") == cookie_for(
        "https://licenses.contoso.com/")
    assert cookie_for("https://licenses.contoso.com").name == "__Host-la_session"
    assert cookie_for("https://licenses.contoso.com").secure


def test_forms_need_the_session_token_and_the_same_origin(app: ReviewApp) -> None:
    client = sign_in(app, app.people["reviewer"])
    page = client.get("/candidates")
    fields = form_fields(page.text)
    cid = _ids(page.text)[0]
    form = {"id": cid, "decision": "approve", f"shown-{cid}": fields[f"shown-{cid}"]}
    assert client.post("/candidates/decide", data=form).status_code == 403
    wrong = client.post("/candidates/decide", data={**form, "csrf_token": "forged"})
    assert wrong.status_code == 403 and "security token" in wrong.text
    elsewhere = client.post("/candidates/decide", data={**form, "csrf_token":
                            fields["csrf_token"]}, headers={"origin": "https://evil.example"})
    assert elsewhere.status_code == 403
    with app.store.session() as s:
        assert s.get(Candidate, cid).status == "proposed"  # type: ignore[union-attr]


def test_bad_input_gets_a_sentence_and_changes_nothing(app: ReviewApp) -> None:
    client = sign_in(app, app.people["admin"])
    missing = client.get("/candidates/c-00000000")
    assert missing.status_code == 404 and "There is no candidate c-00000000" in missing.text
    page = client.get("/candidates")
    fields = form_fields(page.text)
    cid = _ids(page.text)[1]
    base = {"csrf_token": fields["csrf_token"], "id": cid,
            f"shown-{cid}": fields[f"shown-{cid}"]}
    no_reason = client.post("/candidates/decide", data={**base, "decision": "reject"})
    assert no_reason.status_code == 400 and "give a reason" in no_reason.text
    past = client.post("/candidates/decide", data={**base, "decision": "snooze",
                                                    "until": "2001-01-01"})
    assert past.status_code == 400
    unknown = client.post("/candidates/decide", data={**base, "id": "c-nope",
                                                       "shown-c-nope": "0:x",
                                                       "decision": "approve"})
    assert unknown.status_code == 409 and "No candidate with id c-nope" in unknown.text
    # another reviewer decides first: this page's decision is refused, the first one stays
    other = sign_in(app, app.people["reviewer"])
    other_fields = form_fields(other.get("/candidates").text)
    first = other.post("/candidates/decide", data={
        "csrf_token": other_fields["csrf_token"], "id": cid, "decision": "snooze",
        "until": "2030-01-01", f"shown-{cid}": other_fields[f"shown-{cid}"]})
    assert first.status_code == 303
    late = client.post("/candidates/decide", data={**base, "decision": "approve"})
    assert late.status_code == 409 and "was changed since you saw it" in late.text
    with app.store.session() as s:
        stored = s.get(Candidate, cid)
    assert stored is not None
    assert (stored.status, stored.decided_by) == ("snoozed", app.people["reviewer"])
    admin_page = client.get("/access")
    assert admin_page.status_code == 200 and app.people["reviewer"] in admin_page.text


def test_a_manager_sees_and_decides_only_their_people(app: ReviewApp) -> None:
    with app.store.session() as s:
        rows = list(s.exec(select(Candidate.id, DirectoryUser.manager_id).join(
            DirectoryUser, (DirectoryUser.id == Candidate.user_id)
            & (DirectoryUser.profile == Candidate.profile)).where(
            Candidate.status == "proposed")))
    by_manager: dict[str, list[str]] = {}
    for cid, manager in rows:
        if manager:
            by_manager.setdefault(manager, []).append(cid)
    people = {u.id: u for u in app.sim.tenant.users}
    groups = set(app.sim.info["web_groups"].values())
    manager_id, theirs = next((m, c) for m, c in sorted(by_manager.items())
                              if not people[m].groups & groups)
    client = sign_in(app, people[manager_id].upn)
    assert client.get("/").status_code == 403  # not a viewer: only their people's candidates
    page = client.get("/candidates")
    shown = _ids(page.text)
    assert set(shown) == set(theirs) and "bulk-keep" in page.text
    others = [cid for cid, manager in rows if manager != manager_id]
    assert client.get(f"/candidates/{others[0]}").status_code == 404
    fields = form_fields(page.text)
    kept = client.post("/candidates/decide", data={
        "csrf_token": fields["csrf_token"], "id": shown[0], "decision": "keep",
        "note": "Runs the Sales pipeline", f"shown-{shown[0]}": fields[f"shown-{shown[0]}"]})
    assert kept.status_code == 303 and "done=kept" in kept.headers["location"]
    forged = client.post("/candidates/decide", data={
        "csrf_token": fields["csrf_token"], "id": others[0], "decision": "release",
        f"shown-{others[0]}": "0:x"})
    assert forged.status_code == 403
    with app.store.session() as s:
        stored = s.get(Candidate, shown[0])
    assert stored is not None
    assert (stored.status, stored.decided_by) == ("rejected", people[manager_id].upn)
