"""The report from a known store: files, figures against the store, sections, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from license_analyzer.errors import ConfigError
from license_analyzer.report.build import write_report
from license_analyzer.store.db import Store
from license_analyzer.store.models import StreamState
from tests.report.conftest import parse_page, report_config
from tests.report.report_store import AS_OF, EXPECTED_BUCKETS, build_report_store


def _table_rows(html: str, table_id: str) -> list[list[str]]:
    """The text of each body row of one table."""
    from html.parser import HTMLParser

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inside = False
            self.section = ""
            self.rows: list[list[str]] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.inside = dict(attrs).get("id") == table_id
            elif self.inside and tag in ("thead", "tbody", "tfoot"):
                self.section = tag
            elif self.inside and self.section == "tbody" and tag == "tr":
                self.rows.append([])
            elif self.inside and self.section == "tbody" and tag == "td":
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag == "table":
                self.inside = False
            elif tag == "td" and self.cell is not None:
                self.rows[-1].append(" ".join(" ".join(self.cell).split()))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Rows()
    parser.feed(html)
    return parser.rows


def test_report_files_and_headline_figures_match_the_store(store: Store, tmp_path: Path) -> None:
    expected = build_report_store(store)
    index = write_report(report_config(), store, tmp_path / "out", AS_OF, run_id=1)

    folder = tmp_path / "out" / "2026-11-21"
    assert index == folder / "index.html"
    assert sorted(p.name for p in folder.iterdir()) == [
        "candidates.csv", "candidates.xlsx", "index.html", "usage.csv"]
    page = parse_page(index.read_text(encoding="utf-8"))
    figures = {k: float(v) for k, v in page.figures.items()}
    assert figures["monthly_spend"] == pytest.approx(expected.monthly_spend)
    assert figures["monthly_waste"] == pytest.approx(expected.monthly_waste)
    assert figures["potential_saving"] == pytest.approx(expected.potential_saving)
    assert figures["renewal_saving"] == pytest.approx(expected.renewal_saving)
    assert figures["realised_saving"] == pytest.approx(expected.realised_saving)
    assert figures["assigned"] == expected.assigned
    assert figures["unused"] == expected.unused
    assert figures["open_candidates"] == expected.open_candidates
    assert figures["unused_share"] == pytest.approx(expected.unused / expected.assigned, abs=1e-4)


def test_sections_show_position_buckets_renewals_rules_and_candidates(
        store: Store, tmp_path: Path) -> None:
    build_report_store(store)
    html = write_report(report_config(currency="EUR"), store, tmp_path, AS_OF).read_text("utf-8")

    position = {row[0]: row for row in _table_rows(html, "position-table")}
    sales = next(v for k, v in position.items() if k.startswith("Dynamics 365 Sales"))
    # purchased, assigned, active (low use), inactive, never used, in grace, no data
    assert sales[1:8] == ["20", "18", "8 1 low use", "5", "4", "1", "0"]
    assert sales[8:11] == ["€105.00", "€2,100", "€1,155"]
    assert sales[-1] == "shelfware"  # 2 unassigned + 9 unused of 20 purchased
    e5 = next(v for k, v in position.items() if k.startswith("Microsoft 365 E5"))
    assert e5[-1] == "over-assigned +2"
    free = next(v for k, v in position.items() if k.startswith("Power BI"))
    assert free[10:] == ["not counted", "capacity/free"]

    activity = _table_rows(html, "activity-table")
    by_product = {row[0]: [int(x) for x in row[1:]] for row in activity}
    columns = zip(*by_product.values(), strict=True)
    assert [sum(c) for c in columns] == list(EXPECTED_BUCKETS.values())
    assert "Power BI (free)" not in by_product

    renewals = _table_rows(html, "renewal-table")
    assert [r[1].split()[0] for r in renewals] == ["Dynamics", "Microsoft"]
    assert renewals[0][5] == "11"  # Sales: 5 inactive + 4 never used + 2 unassigned, <= 20 seats
    assert renewals[1][5] == "2"  # E5: 3 reducible, only 2 in the subscription renewing first

    rules = {row[0]: row for row in _table_rows(html, "rule-table")}
    assert rules["inactive"][2] == "3" and rules["never_used"][2] == "3"

    data = _candidate_json(html)
    assert len(data["rows"]) == 6
    savings = [row[data["columns"].index("saving")] for row in data["rows"]]
    assert savings == sorted(savings, reverse=True)
    assert "All 6 candidates" in html


def test_degraded_data_is_said_on_the_page(store: Store, tmp_path: Path) -> None:
    build_report_store(store, has_p1=False)
    html = write_report(report_config(), store, tmp_path, AS_OF, run_id=1).read_text("utf-8")
    assert "Read this first" in html
    assert "no Microsoft Entra ID P1" in html
    assert "Audit user access" in html
    assert "dataverse_audit (https://sales.crm.dynamics.com) is failed" in html
    assert "coverage gap" in html
    assert "Run #1 (run) ended partial" in html
    assert "have no source that can speak for them" in html


def test_stale_position_and_stale_source_are_flagged(store: Store, tmp_path: Path) -> None:
    build_report_store(store, has_p1=True)
    later = AS_OF.replace(day=28)
    with store.session() as s:
        state = s.get(StreamState, ("contoso", "users", ""))
        assert state is not None
        state.status = "ok"
    html = write_report(report_config(), store, tmp_path, later).read_text("utf-8")
    assert "The newest license position is from 2026-11-21, not 2026-11-28" in html
    assert "Source contoso/users was last collected 7 days before this report" in html
    assert (tmp_path / "2026-11-28" / "index.html").exists()


def test_empty_store_renders_a_page_that_says_what_is_missing(store: Store,
                                                              tmp_path: Path) -> None:
    html = write_report(report_config(), store, tmp_path, AS_OF).read_text("utf-8")
    assert "No analysis is stored for this day" in html
    assert "No reclamation candidates." in html
    assert parse_page(html).figures["monthly_spend"] == "0.00"
    header = (tmp_path / "2026-11-21" / "candidates.csv").read_text("utf-8-sig").splitlines()[0]
    assert "decision" in header and "note" in header and "version" in header


def test_user_template_folder_overrides_packaged_partials(store: Store, tmp_path: Path) -> None:
    build_report_store(store)
    override = tmp_path / "my-templates"
    override.mkdir()
    (override / "_rules.html").write_text(
        '<section id="rules"><p class="mine">{{ report.rules | length }} rules</p></section>',
        encoding="utf-8")
    config = report_config(templates=override)
    html = write_report(config, store, tmp_path / "out", AS_OF).read_text("utf-8")
    assert '<p class="mine">2 rules</p>' in html
    assert 'id="rule-table"' not in html
    assert 'id="position-table"' in html  # the rest still comes from the package


def test_a_failed_render_leaves_no_page_and_no_temporary_file(store: Store,
                                                              tmp_path: Path) -> None:
    build_report_store(store)
    override = tmp_path / "broken"
    override.mkdir()
    (override / "_rules.html").write_text("{{ report.no_such_field }}", encoding="utf-8")
    with pytest.raises(Exception, match="no_such_field"):
        write_report(report_config(templates=override), store, tmp_path / "out", AS_OF)
    folder = tmp_path / "out" / "2026-11-21"
    assert not (folder / "index.html").exists()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_page_is_self_contained(store: Store, tmp_path: Path) -> None:
    build_report_store(store)
    html = write_report(report_config(), store, tmp_path, AS_OF).read_text("utf-8")
    page = parse_page(html)
    assert not [attrs for tag, attrs in page.tags if tag == "script" and dict(attrs).get("src")]
    assert not [attrs for tag, attrs in page.tags if tag == "link"]
    assert html.count("Plotly.newPlot") == 5
    # plotly.js is inlined exactly once
    assert sum(1 for _, text in page.scripts if len(text) > 1_000_000) == 1


def _candidate_json(html: str) -> dict[str, list]:  # type: ignore[type-arg]
    page = parse_page(html)
    block = next(text for attrs, text in page.scripts if attrs.get("id") == "candidate-data")
    data: dict[str, list] = json.loads(block)  # type: ignore[type-arg]
    return data


def test_candidate_table_caps_rows_and_says_so(store: Store, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from license_analyzer.report import build, candidates

    build_report_store(store)
    with store.session() as session:
        capped = candidates.candidate_table(session, limit=4)
        budgeted = candidates.candidate_table(session, budget=700)
    assert (capped.total, len(capped.rows), capped.truncated) == (6, 4, True)
    assert 0 < len(budgeted.rows) < 6

    monkeypatch.setattr(build, "candidate_table",
                        lambda session, **_: candidates.candidate_table(session, limit=2))
    html = write_report(report_config(), store, tmp_path, AS_OF).read_text("utf-8")
    assert "highest saving out of 6" in html
    assert len(_candidate_json(html)["rows"]) == 2
    csv_rows = (tmp_path / "2026-11-21" / "candidates.csv").read_text("utf-8-sig").splitlines()
    assert len(csv_rows) == 7  # the export still holds every candidate


def test_usage_csv_is_the_position_of_the_day_shown(store: Store, tmp_path: Path) -> None:
    import csv
    from datetime import timedelta

    build_report_store(store)
    earlier = AS_OF - timedelta(days=3)
    write_report(report_config(), store, tmp_path, earlier)
    with (tmp_path / earlier.isoformat() / "usage.csv").open(encoding="utf-8-sig") as handle:
        rows = {r["sku_part_number"]: r for r in csv.DictReader(handle)}
    # three days before AS_OF the Sales position had 17 assigned (see report_store._position)
    assert rows["DYN365_ENTERPRISE_SALES"]["assigned"] == "17"
    assert set(rows) == {"DYN365_ENTERPRISE_SALES", "SPE_E5", "POWER_BI_STANDARD"}
    assert list(rows["SPE_E5"])[:4] == ["profile", "sku_id", "sku_part_number", "product_name"]


@pytest.mark.parametrize("payload", [
    "{{ cycler.__init__.__globals__.os.popen('echo owned-by-template').read() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
])
def test_a_template_override_cannot_reach_python(store: Store, tmp_path: Path,
                                                 payload: str) -> None:
    build_report_store(store)
    override = tmp_path / "hostile"
    override.mkdir()
    (override / "_rules.html").write_text(f"<p>{payload}</p>", encoding="utf-8")
    with pytest.raises(ConfigError, match="templates may use the report's data") as refused:
        write_report(report_config(templates=override), store, tmp_path / "out", AS_OF)
    assert "owned-by-template" not in refused.value.message
    assert not (tmp_path / "out" / "2026-11-21" / "index.html").exists()
