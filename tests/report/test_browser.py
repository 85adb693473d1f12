"""The report in a real headless Chromium: offline, no errors, no injected script runs, charts
drawn, the candidate table filters. Needs the Debian chromium package at /usr/bin/chromium."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from license_analyzer.report.build import write_report
from license_analyzer.store.db import Store
from tests.report.conftest import report_config
from tests.report.report_store import AS_OF, build_report_store

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
HOSTILE = (
    "<script>alert('s')</script>",
    "</script><script>alert('b')</script>",
    "<!--",
    "javascript:alert('j')",
    '"><img src=x onerror=alert(\'i\')>',
    "Zoë Ångström",
)

pytestmark = pytest.mark.xdist_group(name="browser")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    if os.environ.get("LICENSE_ANALYZER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{CHROMIUM} is missing and LICENSE_ANALYZER_REQUIRE_BROWSER=1: install the"
                    " Debian chromium package.")
    pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); set"
                " LICENSE_ANALYZER_REQUIRE_BROWSER=1 to make this a failure.")


def test_report_opens_offline_draws_charts_and_filters(sqlite_store: Store,
                                                       tmp_path: Path) -> None:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    build_report_store(sqlite_store, names=HOSTILE, departments=HOSTILE[:2] + ("Sales",),
                       note=HOSTILE[4])
    index = write_report(report_config(), sqlite_store, tmp_path, AS_OF, run_id=1)

    outside: list[str] = []
    errors: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})

            def route(r: object) -> None:
                request = r.request  # type: ignore[attr-defined]
                if request.url.startswith("file://"):
                    r.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(request.url)
                    r.abort()  # type: ignore[attr-defined]

            page.route("**/*", route)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def on_dialog(d: object) -> None:
                dialogs.append(d.message)  # type: ignore[attr-defined]
                d.dismiss()  # type: ignore[attr-defined]

            page.on("dialog", on_dialog)
            page.goto(index.as_uri())
            page.wait_for_selector(".js-plotly-plot .main-svg", timeout=15_000)
            assert page.locator(".js-plotly-plot").count() == 5

            rows = page.locator("#candidate-table tbody tr")
            assert rows.count() == 6
            page.fill("#f-text", "Ångström")
            page.wait_for_function(
                "document.querySelectorAll('#candidate-table tbody tr').length === 1")
            assert "Zoë Ångström" in rows.first.inner_text()
            page.fill("#f-text", "")
            page.select_option("#f-product", "Microsoft 365 E5")
            page.wait_for_function(
                "document.querySelectorAll('#candidate-table tbody tr').length === 3")
            page.select_option("#f-product", "")
            page.click("th[data-key='name']")
            assert rows.count() == 6

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            page.emulate_media(media="print")
            assert page.locator("#candidate-filters").is_hidden()
        finally:
            browser.close()

    assert outside == []
    assert errors == []
    assert dialogs == []
