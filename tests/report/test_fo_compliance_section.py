"""The report's "Finance & Operations license compliance" section: totals per status, the
users most at risk, the roles driving cost, the what-if, and the admin center's disagreement."""

from __future__ import annotations

import html as html_lib
import re
from pathlib import Path

from license_analyzer.report.build import write_report
from license_analyzer.sources.admin_center_files import import_export
from license_analyzer.store.db import Store
from tests.factories import AS_OF, make_config, object_id
from tests.pipeline.test_fo_compliance import fo_config, fo_tenant


def _section(page: str) -> str:
    start = page.index('<section id="fo-compliance">')
    text = re.sub(r"<[^>]+>", " ", page[start:page.index("</section>", start)])
    return html_lib.unescape(re.sub(r"\s+", " ", text))


def test_section_shows_every_status_and_the_disagreement(store: Store, tmp_path: Path) -> None:
    fo_tenant(store)
    export = tmp_path / "ulc.csv"
    # yesterday's admin center still has cat needing Finance
    export.write_text("TenantId,UserEmail,UserId,RequiredLicense(s),AssignedLicense(s),"
                      f"MissingLicense(s),RefreshedOn\nt,cat@contoso.com,{object_id('cat')},"
                      "Finance,Finance,,2026-11-20T06:00:00Z\n", encoding="utf-8")
    import_export(store, export)
    page = write_report(fo_config(store), store, tmp_path / "out", AS_OF).read_text("utf-8")
    assert 'href="#fo-compliance"' in page
    text = _section(page)
    assert "Finance & Operations license compliance" in text
    for status, count in (("compliant", 4), ("under licensed", 3), ("over licensed", 4),
                          ("exempt", 1), ("unmatched", 1)):
        assert f"{status} {count}" in text
    assert "bob@contoso.com under licensed DYN365_FINANCE DYN365_TEAM_MEMBERS" in text
    assert "Roles driving most cost" in text and "Warehouse worker" in text
    assert "What if a role lost its write access" in text
    assert "Where the admin center disagrees" in text and "cat@contoso.com" in text


def test_no_section_without_finance_and_operations(store: Store, tmp_path: Path) -> None:
    page = write_report(make_config(store=store), store, tmp_path, AS_OF).read_text("utf-8")
    assert 'id="fo-compliance"' not in page and "#fo-compliance" not in page
