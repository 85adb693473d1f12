from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest

from license_analyzer import run
from license_analyzer.store.activity import registered_files, scan_activity, write_activity
from license_analyzer.store.db import Store
from license_analyzer.store.runs import RunRecorder


def test_crowded_activity_files_are_merged_during_the_job(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    for day in (1, 2, 3):
        frame = pl.DataFrame({"profile": ["p"], "user_id": ["u"], "source": ["signin_crm"],
                              "environment": [""], "day": [date(2026, 1, day)], "events": [day],
                              "last_at": [datetime(2026, 1, day, tzinfo=UTC)]})
        with store.session() as session:
            write_activity(session, store, frame, profile="p", source="signin_crm",
                           environment="", window_start=date(2026, 1, day),
                           window_end=date(2026, 1, day))
    before = scan_activity(store).sort("day").collect()
    recorder = RunRecorder(store, "run", None)
    monkeypatch.setattr(run, "COMPACT_AFTER_FILES", 5)
    run._compact_activity(store, recorder)
    assert "compact" not in recorder.stages and len(registered_files(store)) == 3
    monkeypatch.setattr(run, "COMPACT_AFTER_FILES", 2)
    run._compact_activity(store, recorder)
    assert recorder.stages["compact"]["files_merged"] == 3
    assert len(registered_files(store)) == 1
    assert scan_activity(store).sort("day").collect().equals(before)
