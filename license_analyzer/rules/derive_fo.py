"""The Finance & Operations compliance columns the rules read (pipeline/fo_compliance.py):

    fo_status           the user's compliance status (compliant | over_licensed | ...)
    fo_excess           "downgrade" | "remove" for a held F&O SKU the user's roles do not need
    fo_downgrade_target skuPartNumber the user's roles need instead (fo_excess "downgrade")
    fo_target_price     its price per month (config [prices], else the packaged list price)
    fo_monthly_saving   what the change saves per month
    fo_driving_roles    the security roles that set the requirement
    fo_required         the required licenses, base first
"""

from __future__ import annotations

import polars as pl

from license_analyzer.pipeline.fo_compliance import RULE_SCHEMA

# the columns a rule may name (the join keys aside)
FO_SCHEMA: dict[str, pl.DataType] = {
    k: v for k, v in RULE_SCHEMA.items() if k not in ("profile", "user_id", "sku_key")}


def empty_columns() -> pl.DataFrame:
    return pl.DataFrame(schema=RULE_SCHEMA)


def add_fo_compliance(lf: pl.LazyFrame, columns: pl.DataFrame | None) -> pl.LazyFrame:
    """Joined per (profile, user, SKU); SKUs are matched case-insensitively."""
    frame = columns if columns is not None else empty_columns()
    return (lf.with_columns(sku_key=pl.col("sku_part_number").str.to_uppercase())
            .join(frame.lazy(), on=["profile", "user_id", "sku_key"], how="left")
            .drop("sku_key"))
