"""The review flow in a real headless Chromium against the simulator: sign in as a reviewer,
filter, open a candidate, approve one, reject one with a reason, approve a selection; the CLI's
`candidates list` then shows the statuses and who decided. A viewer sees no decision buttons,
and a forged cross-site form post changes nothing. Needs Debian's chromium."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from tests.report.test_browser import ARTIFACTS, CHROMIUM, _require_chromium
from tests.web.harness import ReviewApp, free_port, review_app

pytestmark = pytest.mark.xdist_group(name="browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # the simulator's sign-in page has a throwaway CA, as in `demo --serve`
        "--ignore-certificate-errors"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReviewApp]:
    _require_chromium()
    with review_app(tmp_path_factory.mktemp("web")) as running:
        yield running


def _listed(app: ReviewApp) -> dict[str, dict[str, object]]:
    out = subprocess.run([sys.executable, "-m", "license_analyzer", "--config",
                          str(app.config_path), "candidates", "list", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return {row["id"]: row for row in json.loads(out)}


def _sign_in(page: object, app: ReviewApp, upn: str) -> None:
    page.goto(app.base_url + "/candidates")  # type: ignore[attr-defined]
    # no session: sent to the simulated Entra ID sign-in page
    page.wait_for_selector("button.person")  # type: ignore[attr-defined]
    page.fill("#login", upn)  # type: ignore[attr-defined]
    page.click("#next")  # type: ignore[attr-defined]
    page.wait_for_selector("#candidate-count")  # type: ignore[attr-defined]


def test_reviewer_decides_in_the_browser_and_the_cli_sees_it(app: ReviewApp) -> None:
    from playwright.sync_api import sync_playwright

    reviewer = app.people["reviewer"]
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            _sign_in(page, app, reviewer)
            assert page.url.startswith(app.base_url + "/candidates")
            assert reviewer in page.inner_text("header")

            # filter on the server (htmx swaps the list) by the first product offered
            product = page.locator("#f-product option").nth(1).get_attribute("value")
            assert product
            page.select_option("#f-product", product)
            page.wait_for_url(lambda url: "product=" in url)
            products = page.locator("#candidate-table tbody tr td:nth-child(4)")
            assert products.count() > 0
            assert all(product in t for t in products.all_inner_texts())
            page.goto(app.base_url + "/candidates")

            ids = page.locator("#candidate-table tbody tr").evaluate_all(
                "rows => rows.map(r => r.getAttribute('data-id'))")
            assert len(ids) >= 5
            approve_one, reject_one, *bulk = ids[:5]

            # open a candidate: evidence, license paths, history, then approve it
            page.click(f"tr[data-id='{approve_one}'] a.open")
            page.wait_for_selector("#evidence")
            assert page.locator("#paths li").count() >= 1
            page.click("#approve")
            page.wait_for_selector("#flash")
            assert page.inner_text("#status") == "approved"
            assert reviewer in page.inner_text("#history-table")

            # reject one with a reason; without one the browser (and the server) refuse
            page.goto(f"{app.base_url}/candidates/{reject_one}")
            page.fill("#reject-note", "Needed for the year-end close")
            page.click("#reject")
            page.wait_for_selector("#flash")
            assert page.inner_text("#status") == "rejected"

            # approve a selection from the list
            page.goto(app.base_url + "/candidates")
            for cid in bulk:
                page.check(f"tr[data-id='{cid}'] input.pick")
            page.click("#bulk-approve")
            page.wait_for_selector("#flash")
            assert "3 candidates approved" in page.inner_text("#flash")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "review-app.png"), full_page=True)

            # the overview: the report's sections, its charts drawn by app.js under the CSP
            page.goto(app.base_url + "/")
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=20_000)
            assert page.locator("#headline").count() == 1
        finally:
            browser.close()
    assert errors == []

    listed = _listed(app)
    assert (listed[approve_one]["status"], listed[approve_one]["decided_by"]) == (
        "approved", reviewer)
    assert (listed[reject_one]["status"], listed[reject_one]["decided_by"]) == (
        "rejected", reviewer)
    assert all((listed[c]["status"], listed[c]["decided_by"]) == ("approved", reviewer)
               for c in bulk)


def test_viewer_sees_no_decision_and_a_forged_post_is_refused(app: ReviewApp) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            _sign_in(page, app, app.people["viewer"])
            assert page.locator("#bulk, input.pick").count() == 0
            first = page.locator("#candidate-table tbody tr").first.get_attribute("data-id")
            page.goto(f"{app.base_url}/candidates/{first}")
            assert page.locator("#approve, #reject, #snooze").count() == 0
            # a viewer's own session posting a decision (a forged form) is refused
            csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
            answer = page.request.post(f"{app.base_url}/candidates/decide", form={
                "csrf_token": csrf or "", "id": first or "", "decision": "approve",
                f"shown-{first}": "0:x"})
            assert answer.status == 403
            assert "Only reviewers decide" in answer.text()
        finally:
            browser.close()
    assert _listed(app)[str(first)]["status"] == "proposed"


class Site:
    """Another site (localhost, not 127.0.0.1) serving the pages a test gives it."""

    def __init__(self) -> None:
        pages: dict[str, bytes] = {}
        self.pages = pages

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path, b"")
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Site]:
    site = Site()
    yield site
    site.close()


def test_forged_cross_site_post_is_refused(app: ReviewApp, attacker: Site) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            _sign_in(page, app, app.people["reviewer"])
            target = page.locator("#candidate-table tbody tr").first.get_attribute("data-id")
            shown = page.locator(f"input[name='shown-{target}']").get_attribute("value")
            # the same browser, signed in to the app, opens the other site's page, which
            # posts a decision form to the app (no CSRF token: it cannot read one)
            attacker.pages["/attack"] = (
                f'<form id="f" method="post" action="{app.base_url}/candidates/decide">'
                f'<input name="id" value="{target}"><input name="decision" value="approve">'
                f'<input name="shown-{target}" value="{shown}"></form>'
                '<script>document.getElementById("f").submit()</script>').encode()
            page.goto(f"{attacker.url}/attack")
            page.wait_for_url(f"{app.base_url}/candidates/decide")
            assert "Nothing was changed" in page.content()
        finally:
            browser.close()
    assert _listed(app)[str(target)]["status"] == "proposed"
