"""The streaming XLSX writer reads back in openpyxl with the right types and styles."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from openpyxl import load_workbook

from license_analyzer.report.xlsx import column_letter, write_sheet


@pytest.mark.parametrize(("index", "letters"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"),
                                                (702, "AAA")])
def test_column_letter(index: int, letters: str) -> None:
    assert column_letter(index) == letters


def test_values_read_back_with_their_types(tmp_path: Path) -> None:
    path = tmp_path / "t.xlsx"
    rows = [
        ["Zoë <b>&amp;</b>", 105.5, 3, True, None, "  spaced  "],
        ["bell\x07 and nul\x00 removed", -1.25, 0, False, "", "'=1+1"],
    ]
    write_sheet(path, "candidates & more", ["name", "saving", "n", "flag", "empty", "text"], rows)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        book = load_workbook(path)
    sheet = book.active
    assert sheet.title == "candidates & more"
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F3"
    header = [c.value for c in sheet[1]]
    assert header == ["name", "saving", "n", "flag", "empty", "text"]
    assert sheet["A1"].font.b
    values = [[c.value for c in row] for row in sheet.iter_rows(min_row=2)]
    assert values == [
        ["Zoë <b>&amp;</b>", 105.5, 3, True, None, "  spaced  "],
        ["bell and nul removed", -1.25, 0, False, None, "'=1+1"],
    ]
    assert sheet["F3"].data_type == "s"


def test_empty_sheet(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    write_sheet(path, "x", ["a", "b"], [])
    assert [c.value for c in load_workbook(path).active[1]] == ["a", "b"]
