"""Activity day rows in Parquet files, counted only once registered in the database.

A collector writes a file, then registers it (`ActivityFile`) in the same transaction that
advances its stream's cursor, so rows and cursor commit atomically. A file is authoritative for
every day of its window for its (profile, source, environment): the newest registered file
covering a day replaces older rows for that day, so re-reading a window never doubles counts.
Files on disk that no row names are leftovers of a killed run; `cleanup_orphans` removes them.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from datetime import date, timedelta

import polars as pl
from sqlmodel import Session, col, delete, select

from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import ActivityFile

log = logging.getLogger(__name__)

ACTIVITY_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(),
    "user_id": pl.String(),
    "source": pl.String(),
    "environment": pl.String(),
    "day": pl.Date(),
    "events": pl.Int64(),
    "last_at": pl.Datetime("us", "UTC"),
}

ACTIVITY_DIR = "activity"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80] or "_"


def empty_activity() -> pl.DataFrame:
    return pl.DataFrame(schema=ACTIVITY_SCHEMA)


def _conform(frame: pl.DataFrame) -> pl.DataFrame:
    missing = set(ACTIVITY_SCHEMA) - set(frame.columns)
    if missing:
        raise ValueError(f"activity rows lack columns {sorted(missing)}")
    return frame.select([pl.col(name).cast(dtype) for name, dtype in ACTIVITY_SCHEMA.items()])


def write_activity(
    session: Session,
    store: Store,
    frame: pl.DataFrame,
    *,
    profile: str,
    source: str,
    environment: str,
    window_start: date,
    window_end: date,
    run_id: int | None = None,
) -> ActivityFile:
    """Write `frame` as a Parquet file and add its registration to `session` (not committed).

    The window must be whole UTC days: the file replaces every older row of those days.
    """
    if window_end < window_start:
        raise ValueError("activity window ends before it starts")
    rows = _conform(frame)
    outside = rows.filter((pl.col("day") < window_start) | (pl.col("day") > window_end))
    if outside.height:
        raise ValueError("activity rows fall outside the window they are written for")
    folder = store.data_dir / ACTIVITY_DIR / _safe(profile)
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{_safe(source)}-{uuid.uuid4().hex}.parquet"
    final = folder / name
    temp = folder / f".{name}.tmp"
    rows.write_parquet(temp, compression="zstd", statistics=True)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, final)
    record = ActivityFile(
        profile=profile,
        source=source,
        environment=environment,
        path=str(final.relative_to(store.data_dir)),
        window_start=window_start,
        window_end=window_end,
        rows=rows.height,
        events=int(rows["events"].sum()) if rows.height else 0,
        created_at=utcnow(),
        run_id=run_id,
    )
    session.add(record)
    return record


def registered_files(store: Store, profile: str | None = None) -> list[ActivityFile]:
    with store.session() as session:
        query = select(ActivityFile).order_by(col(ActivityFile.id))
        if profile is not None:
            query = query.where(ActivityFile.profile == profile)
        return list(session.exec(query).all())


def _won_days(files: list[ActivityFile]) -> dict[int, set[date] | None]:
    """Per file id, the days of its window no newer file of its channel covers: None when that
    is every day (the common case: windows that do not overlap), else that set (maybe empty)."""
    channels: dict[tuple[str, str, str], list[ActivityFile]] = {}
    for f in files:
        channels.setdefault((f.profile, f.source, f.environment), []).append(f)
    won: dict[int, set[date] | None] = {}
    for members in channels.values():
        claimed: set[date] = set()  # days a newer file of the channel already speaks for
        for f in sorted(members, key=lambda m: m.id or 0, reverse=True):
            days = {f.window_start + timedelta(days=i)
                    for i in range((f.window_end - f.window_start).days + 1)}
            won[f.id or 0] = None if claimed.isdisjoint(days) else days - claimed
            claimed |= days
    return won


def scan_activity(store: Store, profile: str | None = None) -> pl.LazyFrame:
    """The current activity day rows (ACTIVITY_SCHEMA), superseded days already removed."""
    return scan_activity_from(store, registered_files(store, profile))


def cleanup_orphans(store: Store) -> int:
    """Delete Parquet files no registration names (written by a run killed before commit)."""
    root = store.data_dir / ACTIVITY_DIR
    if not root.exists():
        return 0
    known = {f.path for f in registered_files(store)}
    removed = 0
    for path in root.rglob("*"):
        if path.is_file() and str(path.relative_to(store.data_dir)) not in known:
            path.unlink(missing_ok=True)
            removed += 1
    if removed:
        log.info("removed %d unregistered activity file(s) left by an interrupted run", removed)
    return removed


def compact(store: Store, profile: str) -> int:
    """Merge a profile's files into one per (source, environment), atomically.

    Daily runs add several small files per source; merging keeps scans fast. Returns how many
    files were replaced.
    """
    files = registered_files(store, profile)
    groups: dict[tuple[str, str], list[ActivityFile]] = {}
    for f in files:
        groups.setdefault((f.source, f.environment), []).append(f)
    replaced: list[ActivityFile] = []
    with store.session() as session:
        for (source, environment), members in groups.items():
            if len(members) < 2:
                continue
            current = scan_activity_from(store, members).collect()
            write_activity(
                session, store, current, profile=profile, source=source,
                environment=environment,
                window_start=min(m.window_start for m in members),
                window_end=max(m.window_end for m in members),
            )
            session.exec(delete(ActivityFile).where(
                col(ActivityFile.id).in_([m.id for m in members])))
            replaced.extend(members)
    for f in replaced:  # only after the commit: until then the old files are the truth
        (store.data_dir / f.path).unlink(missing_ok=True)
    return len(replaced)


def scan_activity_from(store: Store, files: list[ActivityFile]) -> pl.LazyFrame:
    """The current rows of these files: for each day, only the newest file covering it.

    Files that win their whole window are read by one multi-file scan (thousands of small daily
    files cost little more than one); a file partly restated by a newer one is read with a
    filter on the days it still wins, and one wholly restated is not read at all. No per-row
    join: the supersession is decided on the registry, which is small.
    """
    won = _won_days(files)
    whole = [store.data_dir / f.path for f in files if won[f.id or 0] is None]
    scans = [pl.scan_parquet(whole)] if whole else []
    for f in files:
        days = won[f.id or 0]
        if days:
            scans.append(pl.scan_parquet(store.data_dir / f.path)
                         .filter(pl.col("day").is_in(sorted(days))))
    if not scans:
        return empty_activity().lazy()
    return pl.concat(scans, how="vertical") if len(scans) > 1 else scans[0]
