from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from license_analyzer.store.activity import (
    cleanup_orphans,
    compact,
    registered_files,
    scan_activity,
    write_activity,
)
from license_analyzer.store.db import Store


def rows(*items: tuple[str, date, int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "profile": ["p"] * len(items),
            "user_id": [u for u, _, _ in items],
            "source": ["dataverse_audit"] * len(items),
            "environment": ["https://env"] * len(items),
            "day": [d for _, d, _ in items],
            "events": [e for _, _, e in items],
            "last_at": [datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for _, d, _ in items],
        }
    )


def write(store: Store, frame: pl.DataFrame, start: date, end: date) -> None:
    with store.session() as session:
        write_activity(session, store, frame, profile="p", source="dataverse_audit",
                       environment="https://env", window_start=start, window_end=end)


def current(store: Store) -> pl.DataFrame:
    return scan_activity(store).sort("user_id", "day").collect()


def test_rewritten_window_replaces_its_days_and_keeps_others(store: Store) -> None:
    write(store, rows(("a", date(2026, 1, 1), 3), ("a", date(2026, 1, 2), 1)),
          date(2026, 1, 1), date(2026, 1, 2))
    # the re-read of Jan 2..3 finds more events on Jan 2 and none for user a on Jan 3
    write(store, rows(("a", date(2026, 1, 2), 5), ("b", date(2026, 1, 3), 2)),
          date(2026, 1, 2), date(2026, 1, 3))
    got = current(store).select("user_id", "day", "events")
    want = pl.DataFrame({"user_id": ["a", "a", "b"],
                         "day": [date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3)],
                         "events": [3, 5, 2]})
    assert_frame_equal(got, want)


def test_rolled_back_file_does_not_count_and_is_cleaned_up(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session() as session:
        write_activity(session, store, rows(("a", date(2026, 1, 1), 3)), profile="p",
                       source="dataverse_audit", environment="https://env",
                       window_start=date(2026, 1, 1), window_end=date(2026, 1, 1))
        raise RuntimeError("killed before commit")
    assert current(store).height == 0
    assert cleanup_orphans(store) == 1
    assert not list((store.data_dir / "activity").rglob("*.parquet"))


def test_rows_outside_their_window_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="outside the window"):
        write(store, rows(("a", date(2026, 1, 5), 1)), date(2026, 1, 1), date(2026, 1, 2))


def test_compaction_keeps_the_same_rows(store: Store) -> None:
    write(store, rows(("a", date(2026, 1, 1), 3), ("a", date(2026, 1, 2), 1)),
          date(2026, 1, 1), date(2026, 1, 2))
    write(store, rows(("a", date(2026, 1, 2), 4)), date(2026, 1, 2), date(2026, 1, 2))
    write(store, rows(("c", date(2026, 1, 9), 7)), date(2026, 1, 5), date(2026, 1, 9))
    before = current(store)
    assert compact(store, "p") == 3
    assert len(registered_files(store)) == 1
    assert_frame_equal(current(store), before)
    assert cleanup_orphans(store) == 0
