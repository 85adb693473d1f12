"""Per-product thresholds: `[analysis.products.<family or skuPartNumber>]` over `[analysis]`."""

from __future__ import annotations

import polars as pl

from license_analyzer.catalog import Families
from license_analyzer.config import AnalysisConfig

FIELDS = ("inactive_days", "grace_days", "low_usage_days")


def threshold_columns(analysis: AnalysisConfig, families: Families) -> list[pl.Expr]:
    """Expressions adding inactive_days, grace_days, low_usage_days and min_history_days to rows
    with sku_part_number and family: a part-number entry wins over a family entry, which wins
    over the [analysis] default. min_history_days defaults to the product's inactive_days."""
    by_family = {k: v for k, v in analysis.products.items() if k in families.families}
    by_part = {k.upper(): v for k, v in analysis.products.items() if k not in families.families}
    part = pl.col("sku_part_number").str.to_uppercase()
    exprs = []
    for field in FIELDS:
        parts = {k: getattr(v, field) for k, v in by_part.items() if getattr(v, field) is not None}
        fams = {k: getattr(v, field) for k, v in by_family.items()
                if getattr(v, field) is not None}
        exprs.append(pl.coalesce(
            part.replace_strict(parts, default=None, return_dtype=pl.Int64) if parts
            else pl.lit(None, pl.Int64),
            pl.col("family").replace_strict(fams, default=None, return_dtype=pl.Int64) if fams
            else pl.lit(None, pl.Int64),
            pl.lit(getattr(analysis, field), pl.Int64)).alias(field))
    return exprs


def min_history_column(analysis: AnalysisConfig) -> pl.Expr:
    if analysis.min_history_days is not None:
        return pl.lit(analysis.min_history_days, pl.Int64).alias("min_history_days")
    return pl.col("inactive_days").alias("min_history_days")
