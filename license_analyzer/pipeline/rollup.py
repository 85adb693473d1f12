"""Saved activity states ("rollups") so a daily analysis reads only the newest days.

A rollup is the channel state (activity_state.py) as of a day R, built from the registered
activity files with ids up to M, saved as `rollups/state-<R>-f<M>.parquet`. An analysis as of D
may start from it when R <= D and no file registered after it (id > M) restates a day <= R;
otherwise (compaction, a re-collection of old days, an earlier --as-of) it starts from nothing.
The rows of the last REOPEN_DAYS days are never rolled up, because collectors re-read them
(sign-in and audit overlap windows). The rollup is a cache: losing it only costs time.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from license_analyzer.pipeline.activity_state import (
    STATE_SCHEMA,
    advance,
    empty_state,
    ungrouped,
)
from license_analyzer.store.activity import scan_activity_from
from license_analyzer.store.db import Store
from license_analyzer.store.models import ActivityFile

log = logging.getLogger(__name__)

ROLLUP_DIR = "rollups"
REOPEN_DAYS = 3
# A rollup is saved once the newest is this many days behind: re-rolling the whole state every
# day cost a daily analysis a fifth of its time, while the few extra days of rows it then reads
# cost less (bench/bench_analyze.py).
ROLL_EVERY_DAYS = 7
# "state2": one row per channel (activity_state.py); "state-" files hold the older per-block
# form, which nothing reads any more (prune_rollups deletes them)
_PREFIX = "state2"
_NAME = re.compile(rf"^{_PREFIX}-(\d{{4}}-\d{{2}}-\d{{2}})-f(\d+)\.parquet$")
_LEGACY = "state-*.parquet"


@dataclass(frozen=True)
class Rollup:
    path: Path
    through: date
    max_file_id: int


@dataclass
class StatePlan:
    """How the state as of the analysis day is computed, and what to save for tomorrow."""

    state: pl.LazyFrame  # rows of the state as of the day, maybe several per channel (OR / max)
    base: Rollup | None  # None: built from every activity row (a full analysis)
    save: pl.LazyFrame | None
    save_through: date | None
    max_file_id: int
    files_read: int
    as_of: date
    rest: pl.LazyFrame | None = None  # with `save`: the rows of (save_through, as_of]

    def state_after(self, saved: pl.DataFrame) -> pl.LazyFrame:
        """The state rows from the collected `save` frame plus the last few days, not regrouped
        per channel (activity_state.ungrouped): collecting `save` first and then this reads the
        bulk of the rows once, where collecting `state` and `save` side by side would aggregate
        them twice."""
        if self.rest is None:
            raise ValueError("this plan saves no rollup")
        return ungrouped(saved.lazy(), self.save_through, self.rest, self.as_of)


def list_rollups(store: Store) -> list[Rollup]:
    folder = store.data_dir / ROLLUP_DIR
    found = []
    if folder.exists():
        for path in folder.iterdir():
            match = _NAME.match(path.name)
            if match:
                found.append(Rollup(path, date.fromisoformat(match[1]), int(match[2])))
    return sorted(found, key=lambda r: (r.through, r.max_file_id))


def usable(rollup: Rollup, files: list[ActivityFile], as_of: date) -> bool:
    """True when every row the rollup did not see is for a day after it."""
    if rollup.through > as_of:
        return False
    return all(f.window_start > rollup.through for f in files
               if f.id is not None and f.id > rollup.max_file_id)


def _days(rows: pl.LazyFrame, after: date | None, through: date) -> pl.LazyFrame:
    day = pl.col("day")
    return rows.filter(day <= through if after is None else (day > after) & (day <= through))


def plan_state(store: Store, files: list[ActivityFile], as_of: date, *,
               incremental: bool = True) -> StatePlan:
    """The lazy state as of `as_of` from the registered activity `files`
    (store.activity.registered_files), from the newest usable rollup when `incremental`."""
    max_id = max((f.id or 0 for f in files), default=0)
    base = None
    if incremental:
        candidates = [r for r in list_rollups(store) if usable(r, files, as_of)]
        base = candidates[-1] if candidates else None
    after = base.through if base else None
    wanted = [f for f in files if after is None or f.window_end > after]
    rows = scan_activity_from(store, wanted).filter(pl.col("day") <= as_of)
    start = pl.scan_parquet(base.path).select(list(STATE_SCHEMA)) if base else empty_state()
    save_through = as_of - timedelta(days=REOPEN_DAYS)
    if after is None or (save_through - after).days >= ROLL_EVERY_DAYS:
        middle = advance(start, after, _days(rows, after, save_through), save_through)
        rest = _days(rows, save_through, as_of)
        return StatePlan(advance(middle, save_through, rest, as_of), base, middle, save_through,
                         max_id, len(wanted), as_of, rest)
    # nothing to save: the state rows are left for the consumer's own per-user aggregation
    return StatePlan(ungrouped(start, after, _days(rows, after, as_of), as_of), base, None,
                     None, max_id, len(wanted), as_of)


def save_rollup(store: Store, frame: pl.DataFrame, through: date, max_file_id: int) -> Path:
    """Write a rollup atomically (temp file, then rename)."""
    folder = store.data_dir / ROLLUP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{_PREFIX}-{through.isoformat()}-f{max_file_id}.parquet"
    temp = folder / f".{uuid.uuid4().hex}.tmp"
    # a cache: written fast, and read whole (no statistics)
    frame.write_parquet(temp, compression="zstd", compression_level=1, statistics=False)
    os.replace(temp, final)
    return final


def prune_rollups(store: Store, keep: int = 2) -> int:
    """Delete all but the `keep` newest rollups and any temp file of a killed run."""
    rollups = list_rollups(store)
    removed = 0
    for rollup in rollups[:-keep] if keep else rollups:
        rollup.path.unlink(missing_ok=True)
        removed += 1
    folder = store.data_dir / ROLLUP_DIR
    if folder.exists():
        for stale in [*folder.glob(".*.tmp"), *folder.glob(_LEGACY)]:
            stale.unlink(missing_ok=True)
    return removed
