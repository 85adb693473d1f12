"""`compliance` and `compliance import` through the console script's entry point: the three
output formats, a good export kept with its date, a malformed one refused (exit 2, nothing
stored)."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest
from sqlmodel import select

from license_analyzer.store.db import Store
from license_analyzer.store.models import ComplianceImport
from tests.factories import CLIENT_ID, FNO_ENV, TENANT_ID, object_id
from tests.pipeline.test_fo_compliance import UAT_ENV, fo_tenant

CONTRACT = ["profile", "user_id", "user_principal_name", "environments", "required",
            "assigned", "status", "driving_roles", "monthly_delta", "source"]


def _config(tmp_path: Path, store: Store) -> Path:
    path = tmp_path / "license-analyzer.toml"
    path.write_text(f"""
[storage]
url = "{store.url}"
data_dir = "{store.data_dir}"

[prices]
DYN365_FINANCE = 210.0
DYN365_SCM = 210.0
DYN365_TEAM_MEMBERS = 8.0

[[profiles]]
name = "contoso"
tenant_id = "{TENANT_ID}"
client_id = "{CLIENT_ID}"
client_secret = "test-secret"
finance_operations = ["{FNO_ENV}", {{ url = "{UAT_ENV}", production = false }}]
""", encoding="utf-8")
    return path


def _main(config: Path, *args: str, monkeypatch: pytest.MonkeyPatch,
          capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from license_analyzer.cli import main

    monkeypatch.setattr(sys, "argv", ["license-analyzer", "--config", str(config), *args])
    code: object = 0
    try:
        main()
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return (code if isinstance(code, int) else 0), out, err


def test_formats(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 capsys: pytest.CaptureFixture[str]) -> None:
    fo_tenant(store)
    config = _config(tmp_path, store)
    code, out, _ = _main(config, "compliance", "--format", "json", monkeypatch=monkeypatch,
                         capsys=capsys)
    assert code == 0
    rows = json.loads(out)
    assert all(list(r)[:10] == CONTRACT for r in rows)
    cat = next(r for r in rows if r["user_id"] == object_id("cat"))
    assert (cat["status"], cat["required"], cat["assigned"], cat["driving_roles"],
            cat["monthly_delta"], cat["source"]) == (
        "over_licensed", ["DYN365_TEAM_MEMBERS"], ["DYN365_FINANCE"], ["Employee"], -202.0,
        "computed")
    assert {r["status"] for r in rows} == {"compliant", "under_licensed", "over_licensed",
                                           "exempt", "unmatched"}

    code, out, _ = _main(config, "compliance", "--format", "csv", monkeypatch=monkeypatch,
                         capsys=capsys)
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and list(table[0])[:10] == CONTRACT and len(table) == len(rows)
    hal = next(r for r in table if r["user_id"] == object_id("hal"))
    assert hal["required"] == "DYN365_FINANCE; DYN365_SCM_ATTACH"

    code, out, _ = _main(config, "compliance", monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "Finance & Operations license compliance" in out and "under_licensed" in out
    assert "What if the role only read" in out and "Accountant" in out


def test_import_keeps_a_good_file_and_refuses_missing_columns(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, store)
    good = tmp_path / "UserLicenseConsumption.csv"
    good.write_text("\ufeffTenantId,UserEmail,UserId,AssignedLicense(s),MissingLicense(s),"
                    "RefreshedOn\n"
                    f"{TENANT_ID},ann@contoso.com,{object_id('ann')},Finance,,"
                    "2026-11-20T06:00:00Z\n", encoding="utf-8")
    code, out, err = _main(config, "compliance", "import", str(good), monkeypatch=monkeypatch,
                           capsys=capsys)
    assert code == 0, err
    assert "1 rows, refreshed 2026-11-20 06:00 UTC" in out

    bad = tmp_path / "export.csv"
    bad.write_text("TenantId,UserEmail,Licenses\nx,ann@contoso.com,Finance\n", encoding="utf-8")
    code, out, err = _main(config, "compliance", "import", str(bad), monkeypatch=monkeypatch,
                           capsys=capsys)
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "lacks the column(s) UserId, AssignedLicense(s), MissingLicense(s), RefreshedOn" in err

    objects = tmp_path / "roles.csv"
    objects.write_text("Security role,License,Entitled\nAccountant,Finance,12\n",
                       encoding="utf-8")
    code, _, err = _main(config, "compliance", "import", str(objects), monkeypatch=monkeypatch,
                         capsys=capsys)
    assert code == 2 and "security object licenses export" in err
    assert "Not entitled, Not required" in err

    with store.session() as s:
        kept = s.exec(select(ComplianceImport)).all()
    assert [(k.kind, k.file_name, k.row_count) for k in kept] == [
        ("user_license_consumption", "UserLicenseConsumption.csv", 1)]
    assert kept[0].refreshed_on is not None and kept[0].refreshed_on.day == 20
    assert kept[0].rows[0]["assigned"] == ["Finance"]
