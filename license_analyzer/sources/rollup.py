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

_TS = pl.Datetime("us", "UTC")


def _timestamps(column: pl.Expr) -> pl.Expr:
    # ISO 8601 with or without fractions; anything unreadable becomes null and is dropped
    return column.str.to_datetime(time_unit="us", time_zone="UTC", strict=False)


def day_rows(users: pl.Series, times: pl.Series, *, profile: str, source: str,
             environment: str) -> pl.DataFrame:
    """(user_id, event time) pairs to ACTIVITY_SCHEMA rows."""
    if users.len() == 0:
        return empty_activity()
    frame = pl.DataFrame({"user_id": users.cast(pl.String), "at": times.cast(_TS)})
    return (
        frame.lazy()
        .drop_nulls()
        .with_columns(pl.col("user_id").str.to_lowercase(), pl.col("at").dt.date().alias("day"))
        .group_by("user_id", "day")
        .agg(pl.len().cast(pl.Int64).alias("events"), pl.col("at").max().alias("last_at"))
        .with_columns(pl.lit(profile).alias("profile"), pl.lit(source).alias("source"),
                      pl.lit(environment).alias("environment"))
        .select(list(ACTIVITY_SCHEMA))
        .collect()
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
    raw = pl.DataFrame({"systemuser_id": sids, "at": times},
                       schema={"systemuser_id": pl.String, "at": pl.String})
    joined = (
        raw.lazy()
        .with_columns(pl.col("systemuser_id").str.to_lowercase(), _timestamps(pl.col("at")))
        .join(humans.lazy(), on="systemuser_id", how="inner")
        .collect()
    )
    return day_rows(joined["entra_object_id"], joined["at"], profile=profile,
                    source="dataverse_audit", environment=environment)


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
    raw = pl.DataFrame({"user_id": users, "at": times},
                       schema={"user_id": pl.String, "at": pl.String})
    parsed = raw.with_columns(_timestamps(pl.col("at")))
    return day_rows(parsed["user_id"], parsed["at"], profile=profile, source=source,
                    environment="")
