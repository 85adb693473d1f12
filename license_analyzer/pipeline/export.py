"""`export activity`: one row per (profile, user_id, product, source, day) with that day's
activity.

`product` is the product family (catalog/families.toml) the evidence counts for, so one
Dataverse or CRM sign-in row appears once per customer-engagement family it counts for (Sales,
Customer Service, ...), exactly as the analysis counts it; rows of several environments of one
source and day are summed (events) and their latest time kept (last_at).

Streamed to Parquet in bounded memory, rows in no particular order. Only channels that share a
product with another environment of their source (Dataverse environments counting for the same
family) need rows merged, and they are merged before the rows are repeated per product: a
group_by and sort of every exported row held all of them at once (17.5 GB at 200,000 users
and 60 million rows, bench/bench_analyze.py). Every other row is unique per (user, day) in its
channel already (collectors write day rows, and a day comes from one file), so it streams
through.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import polars as pl

from license_analyzer.config import Config
from license_analyzer.pipeline.analyze import _profiles, known_evidence_classes
from license_analyzer.pipeline.tables import read_tables
from license_analyzer.store.activity import registered_files, scan_activity
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
    family_class, class_channel = known_evidence_classes(tables, registered_files(store),
                                                         profiles)
    return (class_channel.join(family_class, on=["profile", "class_id"])
            .select("profile", "source", "environment", pl.col("family").alias("product"))
            .unique())


def export_plan(rows: pl.LazyFrame, mapping: pl.DataFrame) -> pl.LazyFrame:
    """The export of activity day `rows` given channel_products' `mapping`.

    Products are grouped by the environments of their source that count for them: rows of one
    such set are merged per (user, source, day) when the set holds several environments, then
    repeated once per product of the set."""
    sets = (mapping.group_by("profile", "source", "product")
            .agg(pl.col("environment").unique().sort().alias("environments"))
            .group_by("profile", "source", "environments", maintain_order=True)
            .agg(pl.col("product").sort())
            .sort("profile", "source"))
    parts = []
    for profile, source, environments, products in sets.iter_rows():
        part = rows.filter((pl.col("profile") == profile) & (pl.col("source") == source)
                           & pl.col("environment").is_in(environments))
        if len(environments) > 1:
            part = (part.group_by("profile", "user_id", "source", "day")
                    .agg(pl.col("events").sum(), pl.col("last_at").max()))
        parts.append(part.join(pl.LazyFrame({"product": products}), how="cross")
                     .select(list(EXPORT_SCHEMA)))
    if not parts:
        return pl.DataFrame(schema=EXPORT_SCHEMA).lazy()
    return pl.concat(parts, how="vertical")


def export_activity(config: Config, store: Store, out: Path) -> int:
    """Write the activity export to `out` (Parquet); returns the number of rows. The file
    appears whole or not at all (written beside it, then renamed)."""
    plan = export_plan(scan_activity(store), channel_products(config, store))
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        plan.sink_parquet(temp, compression="zstd")
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return pl.scan_parquet(out).select(pl.len()).collect().item()  # type: ignore[no-any-return]
