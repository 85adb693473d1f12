"""The per-user part of the facts, kept between analyses so a daily one recomputes only the
users whose rows changed.

What facts.license_rows derives for a user depends only on that user's rows, and the
user_change log (written by database triggers, store migration 0003) names every user whose
rows changed since a point (`seq`). So the license rows, the next assignment change and the
signInActivity of every user are saved after each analysis with the newest seq they include
(the watermark), and the next analysis reads from SQL only the users logged after it, plus
those whose assignments start or end in between (next_change). Anything unexpected (no cache,
another format, a log pruned past the watermark, an earlier as-of day) means a full read: the
cache only saves time, it never decides a result.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Table, and_, case, false, func, or_, select, tuple_
from sqlmodel import SQLModel, col, delete, update

from license_analyzer.pipeline.activity_state import end_of_day
from license_analyzer.pipeline.facts import SIGNIN_COLUMNS, USER_COLUMNS, license_rows
from license_analyzer.pipeline.tables import Snapshot
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    AssignmentOrigin,
    DataverseUser,
    DirectoryUser,
    FinanceOperationsUser,
    LicenseAssignment,
    UserChange,
    UserChangePruned,
)

log = logging.getLogger(__name__)

CACHE_DIR = "cache"
MANIFEST = "users.json"
FORMAT = 3  # bump when what license_rows returns or how the frames are stored changes
FRAMES = ("licenses", "next_change", "signins")
# more boundary users than this: a full read is as cheap as listing them; up to this many
# changed users are named in the queries (the log's subquery, run per table, cost more)
MAX_LISTED = 5_000
# signInActivity changed for more than this share of users (a busy working day): one full read
# of its columns beats looking up each changed row and patching the cached frame
FULL_SIGNIN_READ = 0.2
# more fresh license rows than this go in by one merge, not slice by slice (_merge_sorted)
MAX_SLICES = 2_000

# model -> (the column holding the user's Entra object id, the columns license_rows reads)
SOURCES: dict[str, tuple[type[SQLModel], str, list[str] | None]] = {
    "LicenseAssignment": (LicenseAssignment, "user_id", None),
    "AssignmentOrigin": (AssignmentOrigin, "user_id", None),
    "DirectoryUser": (DirectoryUser, "id", ["profile", "id", *USER_COLUMNS]),
    "DataverseUser": (DataverseUser, "entra_object_id", None),
    "FinanceOperationsUser": (FinanceOperationsUser, "matched_user_id", None),
}
SIGNINS = ["profile", "id", *SIGNIN_COLUMNS]  # the DirectoryUser columns of the signins frame
KEY = ["profile", "user_id"]
NOBODY = pl.DataFrame(schema={"profile": pl.String, "user_id": pl.String})  # no user listed
LICENSE_KEY = [*KEY, "sku_id"]  # the order of the license rows, and so of the facts


@dataclass
class UserFrames:
    licenses: pl.DataFrame
    next_change: pl.DataFrame
    signins: pl.DataFrame
    as_of: date
    watermark: int  # the newest user_change seq these frames include
    recomputed_users: int  # users whose license rows were derived anew (all, when not cached)
    # frame -> the cache file that already holds exactly that frame (unchanged since loaded)
    saved: dict[str, str] = field(default_factory=dict)


def _folder(store: Store) -> Any:
    return store.data_dir / CACHE_DIR


def _manifest(store: Store) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads((_folder(store) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return found if found.get("format") == FORMAT else None


def _log_position(snap: Snapshot) -> tuple[int, int]:
    """(watermark, pruned through) of the user_change log in this snapshot. The watermark is
    the newest seq this snapshot includes: the newest entry, or with none left, the pruned ones
    (seqs only grow, so every later entry is above them)."""
    (newest,), = snap.rows(select(func.coalesce(func.max(UserChange.seq), 0)))
    (pruned,), = snap.rows(select(func.coalesce(func.max(UserChangePruned.through), 0)))
    return max(int(newest), int(pruned)), int(pruned)


def _derive(tables: dict[str, pl.DataFrame], as_of: date) -> tuple[pl.DataFrame, pl.DataFrame]:
    licenses, next_change = license_rows({k: v.lazy() for k, v in tables.items()}, as_of)
    got = pl.collect_all([licenses.sort(LICENSE_KEY), next_change])
    return got[0], got[1]


def _full(snap: Snapshot, as_of: date, watermark: int) -> UserFrames:
    tables = {name: snap.read(model, columns) for name, (model, _, columns) in SOURCES.items()}
    licenses, next_change = _derive(tables, as_of)
    signins = snap.read(DirectoryUser, SIGNINS)
    users = tables["DirectoryUser"].height
    return UserFrames(licenses, next_change, signins, as_of, watermark, users)


def load(store: Store, snap: Snapshot, as_of: date, *, incremental: bool = True) -> UserFrames:
    """Every user's frames as of `as_of`, from the saved cache where it can be trusted."""
    watermark, pruned = _log_position(snap)
    manifest = _manifest(store) if incremental else None
    if manifest is None or manifest["watermark"] < pruned \
            or date.fromisoformat(manifest["as_of"]) > as_of:
        return _full(snap, as_of, watermark)
    try:
        files: dict[str, str] = manifest["files"]
        cached = {name: pl.read_parquet(_folder(store) / files[name]) for name in FRAMES}
    except (OSError, KeyError, pl.exceptions.PolarsError):  # pruned concurrently, damaged
        return _full(snap, as_of, watermark)
    since = int(manifest["watermark"])
    logged_parts = dict(snap.rows(select(col(UserChange.part), func.count())
                                  .where(col(UserChange.seq) > since)
                                  .group_by(col(UserChange.part))))
    # users whose assignments start or end between the cached as-of day and this one
    moving = cached["next_change"].filter(pl.col("next_change") < end_of_day(as_of))
    if moving.height > MAX_LISTED:
        return _full(snap, as_of, watermark)
    logged = _logged_users(snap, since, "user") if logged_parts.get("user") else NOBODY
    dirty = pl.concat([logged, moving.select(KEY)]).unique()
    licenses, next_change = cached["licenses"], cached["next_change"]
    unchanged = set(FRAMES)
    if dirty.height:
        # few users: named in the query; many: the log's own subquery, plus the moving ones.
        # Either way the rows read are exactly the dirty users' (by profile and id).
        few = dirty.height <= MAX_LISTED
        listed = dirty if few else moving.select(KEY)
        tables = {name: snap.read(model, columns, _where(
                      model, user_column, listed, None if few else (since, "user")))
                  for name, (model, user_column, columns) in SOURCES.items()}
        fresh, fresh_next = _derive(tables, as_of)
        licenses = _patch(licenses, dirty, fresh, KEY, order=LICENSE_KEY)
        next_change = _patch(next_change, dirty, fresh_next, KEY)
        unchanged -= {"licenses", "next_change"}
    signed_in = logged_parts.get("signin", 0)
    if signed_in > FULL_SIGNIN_READ * cached["signins"].height:
        signins = snap.read(DirectoryUser, SIGNINS)
    elif signed_in:
        signins = _patch(cached["signins"], _logged_users(snap, since, "signin"), snap.read(
            DirectoryUser, SIGNINS, _where(DirectoryUser, "id", NOBODY, (since, "signin"))),
            ["profile", "id"])
    else:
        signins = cached["signins"]
    if signed_in:
        unchanged.discard("signins")
    return UserFrames(
        licenses=licenses, next_change=next_change, signins=signins, as_of=as_of,
        watermark=watermark, recomputed_users=dirty.height,
        saved={name: files[name] for name in unchanged})


def _logged_users(snap: Snapshot, since: int, part: str) -> pl.DataFrame:
    """(profile, user_id) of the users logged after `since` for `part`."""
    rows = snap.rows(select(col(UserChange.profile), col(UserChange.user_id))
                     .where(col(UserChange.seq) > since, col(UserChange.part) == part)
                     .distinct())
    return pl.DataFrame(rows, schema=NOBODY.schema, orient="row")


def _where(model: type[SQLModel], user_column: str, listed: pl.DataFrame,
           logged: tuple[int, str] | None) -> ColumnElement[bool]:
    """The rows of the `listed` users (profile, user_id) and, with `logged` (since, part), of
    the users the log names for that part after that seq."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    # the profile is named too: every index on these tables starts with it, and without it
    # SQLite scanned the whole table (~50 ms each at 200,000 users) to find a few ids
    named = or_(false(), *(
        and_(table.c.profile == profile, table.c[user_column].in_(sorted(ids)))
        for profile, ids in listed.group_by("profile").agg("user_id").iter_rows()))
    if logged is None:
        return named
    since, part = logged
    in_log = tuple_(table.c.profile, table.c[user_column]).in_(
        select(col(UserChange.profile), col(UserChange.user_id))
        .where(col(UserChange.seq) > since, col(UserChange.part) == part))
    return or_(in_log, named) if listed.height else in_log


def _patch(cached: pl.DataFrame, dirty: pl.DataFrame, fresh: pl.DataFrame,
           key: list[str], order: list[str] | None = None) -> pl.DataFrame:
    """`cached` without the dirty users' rows, plus their fresh rows; with `order` (both
    sorted by it), in that order.

    The dirty rows are found on the key columns alone (an anti join copies every column)."""
    if dirty.height == 0:
        return cached
    flagged = dirty.rename(dict(zip(KEY, key, strict=True))).with_columns(
        pl.lit(True).alias("_dirty"))
    clean = cached.select(key).join(flagged, on=key, how="left",
                                    maintain_order="left")["_dirty"].is_null()
    kept, fresh = cached.filter(clean), fresh.select(cached.columns)
    if order is None:
        return pl.concat([kept, fresh], how="vertical")
    return _merge_sorted(kept, fresh, order)


def _merge_sorted(kept: pl.DataFrame, fresh: pl.DataFrame, order: list[str]) -> pl.DataFrame:
    """Two frames sorted by `order` as one sorted frame.

    A few fresh rows (a normal day) go in by slices: where each lands in `kept` is a binary
    search on one composite key (\x00 sorts before any character of the ids), and the slices
    are copied once, in a few milliseconds; merge_sorted, for many, moves every row through a
    comparison and took 60-130 ms for 260,000 license rows."""
    def composite(frame: pl.DataFrame) -> pl.Series:
        return frame.select(pl.concat_str(order, separator="\x00")).to_series()

    if fresh.height > MAX_SLICES:
        return (kept.with_columns(composite(kept).alias("_order"))
                .merge_sorted(fresh.with_columns(composite(fresh).alias("_order")), "_order")
                .drop("_order"))
    lands = composite(kept).search_sorted(composite(fresh), side="left").to_list()
    pieces, taken, start = [], 0, 0
    for end in range(1, len(lands) + 1):  # runs of fresh rows landing in the same place
        if end == len(lands) or lands[end] != lands[start]:
            pieces += [kept.slice(taken, lands[start] - taken), fresh.slice(start, end - start)]
            taken, start = lands[start], end
    pieces.append(kept.slice(taken))
    return pl.concat(pieces, how="vertical", rechunk=True)


def save(store: Store, frames: UserFrames) -> None:
    """Save the frames for the next analysis (only those that changed are written), then prune
    the log entries they include."""
    root = _folder(store)
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for frame in FRAMES:
        name = frames.saved.get(frame)
        if name is None or not (root / name).is_file():
            name = f"{frame}-{uuid.uuid4().hex[:12]}.parquet"
            # a cache: written fast, not small, and read whole (no statistics)
            getattr(frames, frame).write_parquet(root / name, compression="lz4",
                                                 statistics=False)
        files[frame] = name
    temp = root / f".{uuid.uuid4().hex}.tmp"
    temp.write_text(json.dumps({"format": FORMAT, "files": files, "as_of":
                                frames.as_of.isoformat(), "watermark": frames.watermark}))
    os.replace(temp, root / MANIFEST)
    for stale in root.iterdir():  # earlier frames, temp files of a killed run, older layouts
        if stale.name not in (*files.values(), MANIFEST):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() \
                else stale.unlink(missing_ok=True)
    with store.session() as session:
        session.exec(delete(UserChange).where(col(UserChange.seq) <= frames.watermark))
        session.exec(update(UserChangePruned).where(col(UserChangePruned.id) == 1)
                     .values(through=case(
                         (col(UserChangePruned.through) < frames.watermark, frames.watermark),
                         else_=col(UserChangePruned.through))))
        session.commit()
