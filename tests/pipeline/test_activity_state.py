"""The channel state of a day is the same built at once or from any earlier state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from license_analyzer.pipeline.activity_state import CHANNEL, advance, empty_state

END = date(2026, 11, 21)


def _rows(days: int = 400, seed: int = 3) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 3000
    day = [END - timedelta(days=int(d)) for d in rng.integers(0, days, n)]
    return pl.DataFrame({
        "profile": "p", "user_id": [f"u{u}" for u in rng.integers(0, 40, n)],
        "source": rng.choice(["entra_signin", "signin_crm"], n), "environment": "",
        "day": day, "events": 1,
        "last_at": [datetime(d.year, d.month, d.day, int(h), tzinfo=UTC)
                    for d, h in zip(day, rng.integers(0, 24, n), strict=True)]})


def _state(rows: pl.DataFrame, base: date | None, as_of: date) -> pl.DataFrame:
    day = pl.col("day")
    if base is None:
        frame = advance(empty_state(), None, rows.lazy().filter(day <= as_of), as_of)
    else:
        start = advance(empty_state(), None, rows.lazy().filter(day <= base), base)
        frame = advance(start, base, rows.lazy().filter((day > base) & (day <= as_of)), as_of)
    return frame.collect().sort(CHANNEL)


@pytest.mark.parametrize("gap", [1, 3, 40, 64, 100, 129, 150, 200, 300])
def test_state_from_an_earlier_state_equals_state_from_all_rows(gap: int) -> None:
    rows = _rows()
    for as_of in (END, END - timedelta(days=17), END - timedelta(days=45)):
        assert_frame_equal(_state(rows, as_of - timedelta(days=gap), as_of),
                           _state(rows, None, as_of))
