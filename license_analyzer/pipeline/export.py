"""`export activity`: one row per (profile, user_id, product, source, day) with that day's
activity.

`product` is the product family (catalog/families.toml) the evidence counts for, so one
Dataverse or CRM sign-in row appears once per customer-engagement family it counts for (Sales,
Customer Service, ...), exactly as the analysis counts it; rows of several environments of one
source and day are summed (events) and their latest time kept (last_at). Streamed to Parquet.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from license_analyzer.catalog import load_families
from license_analyzer.config import Config
from license_analyzer.pipeline.analyze import _environments, _profiles
from license_analyzer.pipeline.evidence import evidence_classes
from license_analyzer.pipeline.tables import read_tables
from license_analyzer.store.activity import scan_activity
from license_analyzer.store.db import Store

EXPORT_SCHEMA: dict[str, pl.DataType] = {
    "profile": pl.String(), "user_id": pl.String(), "product": pl.String(),
    "source": pl.String(), "day": pl.Date(), "events": pl.Int64(),
    "last_at": pl.Datetime("us", "UTC"),
}


def channel_products(config: Config, store: Store) -> pl.DataFrame:
    """(profile, source, environment, product): which family each evidence channel counts for."""
    tables = read_tables(store)
    profiles = _profiles(config, tables)
    family_class, class_channel = evidence_classes(load_families(), profiles,
                                                   _environments(store, tables))
    return (class_channel.join(family_class, on=["profile", "class_id"])
            .select("profile", "source", "environment", pl.col("family").alias("product"))
            .unique())


def export_activity(config: Config, store: Store, out: Path) -> int:
    """Write the activity export to `out` (Parquet); returns the number of rows."""
    mapping = channel_products(config, store).lazy()
    plan = (
        scan_activity(store)
        .join(mapping, on=["profile", "source", "environment"])
        .group_by("profile", "user_id", "product", "source", "day")
        .agg(pl.col("events").sum(), pl.col("last_at").max())
        .select(list(EXPORT_SCHEMA))
        .sort("profile", "user_id", "product", "source", "day")
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    plan.sink_parquet(out, compression="zstd")
    return pl.scan_parquet(out).select(pl.len()).collect().item()  # type: ignore[no-any-return]
