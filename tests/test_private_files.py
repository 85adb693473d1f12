"""The store, its data folder and the reports hold names and usage: owner-only from birth."""

from __future__ import annotations

import stat
from pathlib import Path

from license_analyzer.report.build import write_report
from license_analyzer.store.db import open_store
from tests.report.conftest import report_config
from tests.report.report_store import AS_OF, build_report_store


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_data_folder_and_reports_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    store = open_store("sqlite:///state/la.db", base=tmp_path)
    build_report_store(store)
    index = write_report(report_config(), store, tmp_path / "reports", AS_OF)
    db = tmp_path / "state" / "la.db"
    private = [db, *(p for p in db.parent.iterdir() if p.name.startswith("la.db-"))]
    assert len(private) == 3  # the database, its write-ahead log and shared memory
    for path in private:
        assert _mode(path) & 0o077 == 0, path
    store.dispose()
    assert _mode(tmp_path / "state" / "la.db.data") == 0o700
    for folder in (tmp_path / "reports", index.parent):
        assert _mode(folder) == 0o700
    files = list(index.parent.iterdir())
    assert {p.name for p in files} >= {"index.html", "candidates.csv", "candidates.xlsx",
                                       "usage.csv"}
    assert all(_mode(p) == 0o600 for p in files)
