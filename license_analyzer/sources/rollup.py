"""Raw events to activity day rows: one row per (user, day) with the event count and the last
event time, built at ingestion so later stages never touch raw events.

Pages are turned into columns with plain list comprehensions (cheaper than building a frame
from dicts) and aggregated by Polars.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from license_analyzer.store.activity import ACTIVITY_SCHEMA, empty_activity

Record = dict[str, Any]

def _timestamps(column: pl.Expr) -> pl.Expr:
    # ISO 8601 with or without fractions; anything unreadable becomes null and is dropped
    return column.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)


def day_rows(users: pl.Series, times: pl.Series, *, profile: str, source: str,
             environment: str) -> pl.DataFrame:
    """(user_id, event time as ISO 8601 text) pairs to ACTIVITY_SCHEMA rows."""
    if users.len() == 0:
        return empty_activity()
    frame = pl.DataFrame({"user_id": users.cast(pl.String), "at": times.cast(pl.String)})
    return (
        _per_day(frame.lazy().drop_nulls())
        .with_columns(pl.lit(profile).alias("profile"), pl.lit(source).alias("source"),
                      pl.lit(environment).alias("environment"))
        .select(list(ACTIVITY_SCHEMA))
        .collect()
    )


def _per_day(events: pl.LazyFrame) -> pl.LazyFrame:
    """(user_id, at text) to (user_id, day, events, last_at).

    Microsoft writes UTC times ending in "Z": the day is then the first ten characters and the
    latest time the greatest string, so only one string per (user, day) is parsed. Anything
    else is parsed in full."""
    utc = events.with_columns(pl.col("user_id").str.to_lowercase(),
                              pl.col("at").str.ends_with("Z").alias("z"))
    fast = (
        utc.filter(pl.col("z"))
        .with_columns(pl.col("at").str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
                      .alias("day"))
        .group_by("user_id", "day")
        .agg(pl.len().cast(pl.Int64).alias("events"), pl.col("at").max())
        .with_columns(_timestamps(pl.col("at")).alias("last_at"))
    )
    slow = (
        utc.filter(~pl.col("z"))
        .with_columns(_timestamps(pl.col("at")).alias("last_at"))
        .with_columns(pl.col("last_at").dt.date().alias("day"))
        .group_by("user_id", "day")
        .agg(pl.len().cast(pl.Int64).alias("events"), pl.col("last_at").max())
    )
    return (
        pl.concat([fast.select("user_id", "day", "events", "last_at"),
                   slow.select("user_id", "day", "events", "last_at")])
        .drop_nulls()
        .group_by("user_id", "day")
        .agg(pl.col("events").sum(), pl.col("last_at").max())
    )


def audit_columns(pages: list[list[Record]]) -> tuple[list[Any], list[Any]]:
    """(systemuserid, createdon) of access records: the user is the audited object when the
    object is a systemuser, else the acting user."""
    sids: list[Any] = []
    times: list[Any] = []
    for page in pages:
        sids.extend([r.get("_objectid_value") if r.get("objecttypecode") == "systemuser"
                     else r.get("_userid_value") for r in page])
        times.extend([r.get("createdon") for r in page])
    return sids, times


def audit_day_rows(pages: list[list[Record]], humans: pl.DataFrame, *, profile: str,
                   environment: str) -> pl.DataFrame:
    """Audit pages to day rows keyed by Entra object id; non-human and unknown users dropped.

    `humans` maps `systemuser_id` to `entra_object_id` for this environment's human users.
    """
    sids, times = audit_columns(pages)
    if not sids:
        return empty_activity()
    raw = pl.LazyFrame({"user_id": sids, "at": times},
                       schema={"user_id": pl.String, "at": pl.String})
    # roll up per systemuser first, then map the (few) rows to Entra object ids
    return (
        _per_day(raw.drop_nulls())
        .join(humans.lazy().rename({"systemuser_id": "user_id"}), on="user_id", how="inner")
        .group_by("entra_object_id", "day")
        .agg(pl.col("events").sum(), pl.col("last_at").max())
        .rename({"entra_object_id": "user_id"})
        .with_columns(pl.lit(profile).alias("profile"),
                      pl.lit("dataverse_audit").alias("source"),
                      pl.lit(environment).alias("environment"))
        .select(list(ACTIVITY_SCHEMA))
        .collect()
    )


def signin_day_rows(records: list[Record], *, profile: str, source: str) -> pl.DataFrame:
    """Successful sign-ins (status.errorCode 0) to day rows."""
    users: list[Any] = []
    times: list[Any] = []
    for r in records:
        status = r.get("status") or {}
        if (status.get("errorCode") if isinstance(status, dict) else None) not in (0, "0"):
            continue
        users.append(r.get("userId"))
        times.append(r.get("createdDateTime"))
    if not users:
        return empty_activity()
    return day_rows(pl.Series(users, dtype=pl.String), pl.Series(times, dtype=pl.String),
                    profile=profile, source=source, environment="")
