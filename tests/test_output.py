"""Tenant text reaches the terminal as plain text: no Rich markup, no escape sequences, and CSV
cells a spreadsheet would run as formulas are neutralized like the report's."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest

from license_analyzer.cli import main
from license_analyzer.store.db import open_store, utcnow
from license_analyzer.store.models import Candidate

HOSTILE_GROUP = "[/]"
LINK = "[link=https://evil.example/phish]Click to keep your license[/link]"
ESCAPE = "\x1b[2J\x1b[31mred\u202eevil"


def _store(tmp_path: Path) -> Path:
    config = tmp_path / "la.toml"
    config.write_text('[storage]\nurl = "sqlite:///store.db"\n', encoding="utf-8")
    store = open_store("sqlite:///store.db", base=tmp_path)
    now = utcnow()
    rows = [
        ("c-00000001", f"{LINK}@contoso.com", "SPE_E3",
         f"inherited from mail-enabled group {HOSTILE_GROUP} (g1): remove the user from it"),
        ("c-00000002", f"{ESCAPE}@contoso.com", "=HYPERLINK(\"https://evil.example\")", None),
    ]
    with store.session() as session:
        for cid, upn, part, blocked in rows:
            session.add(Candidate(
                id=cid, profile="contoso", user_id=cid, user_principal_name=upn,
                sku_id=cid, sku_part_number=part, product_name=part, rule="never_used",
                reason="-1 day of use", assigned_via="direct", action="remove",
                blocked_reason=blocked, monthly_saving=10.0, last_activity=date(2026, 9, 1),
                evidence={}, evidence_hash="h", proposed_at=now, updated_at=now))
    store.dispose()
    return config


def _cli(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), *args])
    return int(exited.value.code or 0), capsys.readouterr().out


def test_the_table_shows_tenant_text_as_it_is(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(_store(tmp_path), capsys, "candidates", "list")
    assert code == 0
    flat = "".join(out.split())  # the table may wrap long cells
    assert "group[/](g1)" in flat
    assert "[link=https://evil.example/phish]" in flat
    assert "\x1b" not in out and "\u202e" not in out  # nothing reaches the terminal raw
    assert "\\x1b[2J\\x1b[31mred\\u202eevil" in flat


def test_csv_is_formula_safe_and_visible(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _cli(_store(tmp_path), capsys, "candidates", "list", "--format", "csv")
    assert code == 0
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(out))}
    assert rows["c-00000002"]["sku_part_number"] == "'=HYPERLINK(\"https://evil.example\")"
    assert rows["c-00000001"]["reason"] == "'-1 day of use"
    assert rows["c-00000001"]["monthly_saving"] == "10.0"  # numbers stay numbers
    assert "\x1b" not in out and rows["c-00000002"]["user_principal_name"].startswith("\\x1b")
