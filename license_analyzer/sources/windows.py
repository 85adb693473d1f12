"""Whole-UTC-day windows and the committer that turns finished windows into stored rows.

Windows may finish out of order (audits fetch them concurrently) but are committed strictly in
order: only the contiguous prefix of finished windows is written, as one activity file plus the
stream's cursor and coverage in one transaction, so the cursor never skips an unfinished window
and a killed run loses at most the work since the last flush.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import polars as pl

from license_analyzer.sources.state import extend_coverage, save_state
from license_analyzer.store.activity import ACTIVITY_SCHEMA, empty_activity, write_activity
from license_analyzer.store.db import Store

log = logging.getLogger(__name__)

DAY = timedelta(days=1)


def day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.astimezone(UTC).date(), dtime(0), tzinfo=UTC)


def midnight(day: date) -> datetime:
    return datetime.combine(day, dtime(0), tzinfo=UTC)


@dataclass(frozen=True)
class Window:
    """[start, end): starts at a UTC midnight, ends at the next one or at the run's start."""

    start: datetime
    end: datetime

    @property
    def day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()


def day_windows(start: datetime, now: datetime, days: int = 1) -> list[Window]:
    """Windows of `days` whole UTC days from the day of `start` up to `now` (the last one
    partial)."""
    out: list[Window] = []
    cursor = day_start(start)
    while cursor < now:
        out.append(Window(cursor, min(cursor + days * DAY, now)))
        cursor += days * DAY
    return out


def odata_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class WindowCommitter:
    """Collects finished windows' day rows and commits the contiguous prefix in order."""

    def __init__(self, store: Store, windows: list[Window], *, profile: str, stream: str,
                 partition: str, source: str, environment: str, run_id: int | None,
                 flush_every_s: float = 5.0, cover: bool = True,
                 on_commit: Callable[[int], None] | None = None,
                 also: tuple[str, ...] = ()) -> None:
        self.store = store
        self.windows = windows
        self.profile = profile
        self.stream = stream
        self.partition = partition
        # the sources the stream's rows are split into (one file and coverage each): its own,
        # and `also` (the sign-in log's non-interactive kind)
        self.sources = (source, *also)
        self.environment = environment
        self.run_id = run_id
        self.flush_every_s = flush_every_s
        self.cover = cover
        self.on_commit = on_commit
        self._done: dict[int, pl.DataFrame] = {}
        self._next = 0  # first window not yet committed
        self._last_flush = time.monotonic()
        self.committed_windows = 0
        self.committed_rows = 0

    def finished(self, index: int, rows: pl.DataFrame) -> None:
        self._done[index] = rows
        if time.monotonic() - self._last_flush >= self.flush_every_s:
            self.flush()

    def flush(self) -> int:
        """Commit the finished prefix; returns how many windows it held."""
        batch: list[pl.DataFrame] = []
        first = self._next
        while self._next in self._done:
            batch.append(self._done.pop(self._next))
            self._next += 1
        self._last_flush = time.monotonic()
        if not batch:
            return 0
        start, end = self.windows[first], self.windows[self._next - 1]
        frame = pl.concat([b.select(list(ACTIVITY_SCHEMA)) for b in batch]) if batch else \
            empty_activity()
        with self.store.session() as session:
            for source in self.sources:
                rows = frame.filter(pl.col("source") == source) if len(self.sources) > 1 \
                    else frame
                write_activity(session, self.store, rows, profile=self.profile, source=source,
                               environment=self.environment, window_start=start.day,
                               window_end=end.last_day, run_id=self.run_id)
                if self.cover:
                    extend_coverage(session, self.profile, source, self.environment,
                                    start.start, end.end)
            save_state(session, self.profile, self.stream, self.partition, cursor=end.end,
                       records=frame.height, keep_message=True)
        self.committed_windows += len(batch)
        self.committed_rows += frame.height
        if self.on_commit is not None:
            self.on_commit(len(batch))
        log.debug("%s/%s %s: committed %s..%s (%d day rows)", self.profile, self.stream,
                  self.partition, start.day, end.last_day, frame.height)
        return len(batch)

    @property
    def complete(self) -> bool:
        return self._next >= len(self.windows)
