"""Decisions written into the exported candidates.xlsx / .csv come back through import."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from license_analyzer.errors import ConfigError
from license_analyzer.report.exports import write_csv, write_xlsx
from license_analyzer.rules.exports import candidate_export_rows
from license_analyzer.rules.review import decide, import_decisions
from license_analyzer.store.db import Store
from license_analyzer.store.models import Decision
from tests.factories import AS_OF, utc
from tests.rules.builders import fact
from tests.rules.conftest import Run, candidates


def _rows(users: dict[str, Any]) -> list[dict[str, Any]]:
    return [fact(u, "SPE_E3", days=None, last_activity=last, as_of=AS_OF,
                 days_since_activity=(AS_OF - last.date()).days)
            for u, last in users.items()]


def test_import_from_an_edited_xlsx(run: Run, tenant: Store, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    last = {"ann": utc(2026, 9, 1), "bob": utc(2026, 9, 2), "cid": utc(2026, 9, 3),
            "dan": utc(2026, 9, 4)}
    run(_rows(last))
    exported = candidate_export_rows(tenant)
    assert {"decision", "note", "snooze_until", "evidence_hash", "department", "display_name",
            "evidence_active_days_90", "evidence_coverage_days"} <= set(exported[0])
    path = tmp_path / "candidates.xlsx"
    write_xlsx(path, "candidates", list(exported[0]), exported)  # as `report` writes it

    # the asset manager edits the workbook in a spreadsheet program
    book = load_workbook(path)
    sheet = book["candidates"]
    header = [c.value for c in sheet[1]]
    col = {name: header.index(name) + 1 for name in ("user_principal_name", "decision", "note",
                                                     "snooze_until")}
    edits = {"ann@contoso.com": ("Approve", "left in June", None),
             "bob@contoso.com": ("reject", "keeps it", None),
             "cid@contoso.com": ("snooze", None, "2026-12-31"),
             "dan@contoso.com": ("approved", None, None)}
    for r in range(2, sheet.max_row + 1):
        upn = sheet.cell(r, col["user_principal_name"]).value
        decision, note, until = edits[str(upn)]
        sheet.cell(r, col["decision"]).value = decision
        sheet.cell(r, col["note"]).value = note
        sheet.cell(r, col["snooze_until"]).value = until
    book.save(path)

    # meanwhile dan's evidence changed: his row must be refused
    run(_rows({**last, "dan": utc(2026, 9, 10)}))
    assert import_decisions(tenant, path, by="Asset Manager") == 5
    out = capsys.readouterr().out
    assert "3 decisions taken, 1 refused" in out
    assert "refused:" in out and "dan@contoso.com" in out and "evidence changed" in out
    got = candidates(tenant)
    assert {k: c.status for k, c in got.items()} == {
        "ann/SPE_E3": "approved", "bob/SPE_E3": "rejected", "cid/SPE_E3": "snoozed",
        "dan/SPE_E3": "proposed"}
    assert str(got["cid/SPE_E3"].snoozed_until) == "2026-12-31"


def test_import_from_csv(run: Run, tenant: Store, tmp_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    run(_rows({"ann": utc(2026, 9, 1)}))
    rows = candidate_export_rows(tenant)
    rows[0]["decision"] = "reject"
    rows[0]["note"] = "=no, see ticket"  # the report neutralizes formula-like cells
    path = tmp_path / "candidates.csv"
    write_csv(path, list(rows[0]), rows)  # as `report` writes it (BOM, neutralized cells)
    assert import_decisions(tenant, path, by="AM") == 0
    assert "1 decisions taken, 0 refused" in capsys.readouterr().out
    assert candidates(tenant)["ann/SPE_E3"].status == "rejected"
    with tenant.session() as s:
        assert s.exec(select(Decision.note)).one() == "=no, see ticket"


def _export_csv(tenant: Store, path: Path, edits: dict[str, dict[str, str]]) -> None:
    """The report's candidates.csv, with cells edited per user (by UPN) as a person would."""
    rows = candidate_export_rows(tenant)
    for row in rows:
        row.update(edits.get(row["user_principal_name"], {}))
    write_csv(path, list(rows[0]), rows)


def test_an_older_export_never_overrules_a_newer_decision(
        run: Run, tenant: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(_rows({"ann": utc(2026, 9, 1), "bob": utc(2026, 9, 2)}))
    path = tmp_path / "candidates.csv"
    _export_csv(tenant, path, {"ann@contoso.com": {"decision": "approve"},
                               "bob@contoso.com": {"decision": "approve"}})
    # after the export, a reviewer rejects ann's candidate in the terminal (or the web app)
    ann = candidates(tenant)["ann/SPE_E3"]
    decide(tenant, [ann.id], "rejected", by="Reviewer", note="still needed")
    assert import_decisions(tenant, path, by="Asset Manager") == 5
    out = capsys.readouterr().out
    assert "1 decisions taken, 1 refused" in out
    assert f"refused: {ann.id} (ann@contoso.com SPE_E3): it was decided after this export" in out
    got = candidates(tenant)
    assert (got["ann/SPE_E3"].status, got["bob/SPE_E3"].status) == ("rejected", "approved")


def test_an_id_written_twice_is_refused(run: Run, tenant: Store, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    run(_rows({"ann": utc(2026, 9, 1)}))
    rows = candidate_export_rows(tenant)
    twice = [{**rows[0], "decision": "approve"}, {**rows[0], "decision": "reject"}]
    path = tmp_path / "candidates.csv"
    write_csv(path, list(rows[0]), twice)
    assert import_decisions(tenant, path, by="Asset Manager") == 5
    out = capsys.readouterr().out
    assert "0 decisions taken, 2 refused" in out and "written 2 times" in out
    assert candidates(tenant)["ann/SPE_E3"].status == "proposed"


def test_what_is_printed_is_the_database_user_and_sku_not_the_file(
        run: Run, tenant: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(_rows({"ann": utc(2026, 9, 1)}))
    path = tmp_path / "candidates.csv"
    # the file says it is the CEO's E5; the id says it is ann's E3
    _export_csv(tenant, path, {"ann@contoso.com": {
        "decision": "approve", "user_principal_name": "ceo@contoso.com",
        "sku_part_number": "SPE_E5"}})
    assert import_decisions(tenant, path, by="Asset Manager") == 0
    out = capsys.readouterr().out
    ann = candidates(tenant)["ann/SPE_E3"]
    assert f"taken: {ann.id} (ann@contoso.com SPE_E3): approved" in out
    assert "ceo@contoso.com" not in out and "SPE_E5" not in out


def test_an_export_without_versions_is_refused_whole(run: Run, tenant: Store,
                                                     tmp_path: Path) -> None:
    run(_rows({"ann": utc(2026, 9, 1)}))
    rows = [{k: v for k, v in r.items() if k != "version"} | {"decision": "approve"}
            for r in candidate_export_rows(tenant)]
    path = tmp_path / "candidates.csv"
    write_csv(path, list(rows[0]), rows)
    with pytest.raises(ConfigError, match="has no version column"):
        import_decisions(tenant, path, by="Asset Manager")
