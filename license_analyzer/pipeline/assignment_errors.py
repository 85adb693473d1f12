"""Assignment errors: licenses Entra ID was asked to assign but could not.

An assignment in state Error holds no seat ("recorded in an error state for future
investigation and resolution": https://learn.microsoft.com/entra/identity/users/licensing-groups-resolve-problems),
so it is neither a held license nor a reclamation candidate; it is someone who should have a
license and does not. facts.assignments_as_of keeps such (user, SKU) rows apart
(`assignment_error` set); this is the list the report and `usage` show.
"""

from __future__ import annotations

from datetime import date

import polars as pl

ERROR_COLUMNS = ["profile", "day", "user_id", "sku_id", "sku_part_number", "product_name",
                 "user_principal_name", "display_name", "department", "assigned_via", "error"]


def assignment_errors(licenses: pl.LazyFrame, skus: pl.LazyFrame, profiles: list[str],
                      as_of: date) -> pl.LazyFrame:
    """AssignmentErrorDaily rows (ERROR_COLUMNS) of `profiles` as of `as_of`, from the license
    rows (facts.license_rows) and the SKU table (facts.sku_table)."""
    return (
        licenses.filter(pl.col("profile").is_in(profiles)
                        & pl.col("assignment_error").is_not_null())
        .join(skus.select("profile", "sku_id", "sku_part_number", "product_name"),
              on=["profile", "sku_id"], how="left")
        .select(
            "profile", pl.lit(as_of).alias("day"), "user_id", "sku_id",
            pl.col("sku_part_number").fill_null(pl.col("sku_id")),
            pl.col("product_name").fill_null(pl.col("sku_part_number")).fill_null(
                pl.col("sku_id")),
            pl.col("user_principal_name").fill_null(pl.col("user_id")), "display_name",
            "department", "assigned_via", pl.col("assignment_error").alias("error"))
        .sort("profile", "sku_part_number", "user_principal_name")
    )
