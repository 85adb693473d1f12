"""License position per (profile, SKU) and per department, from the facts (CONTRACT.md `usage`).

purchased = prepaidUnits.enabled (warning units apart); assigned = users holding the SKU, split
into the five buckets; over_assigned = assigned beyond enabled + warning units (non-compliant);
unassigned = enabled units nobody holds. Cost is unit price x purchased; waste is unit price x
(unassigned + inactive + never_used), except for free and company-level capacity SKUs, which are
never waste. Seats only turn into savings when cut at a renewal: reducible_at_renewal is that
waste in seats, allocated to the SKU's paid subscriptions earliest renewal first and capped by
each subscription's seats; next_renewal is the earliest of their nextLifecycleDateTime.
low_usage counts the active holders flagged low among those whose evidence covers the
low-usage window, and is null when none of them does (unknown, never shown as a fact);
assignment_errors counts the users whose every assignment of the SKU is in state Error
(they hold no seat and are not in `assigned`).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from license_analyzer.pipeline.activity_state import end_of_day

BUCKETS = ("active", "inactive", "never_used", "in_grace", "no_data")
POSITION_COLUMNS = [
    "profile", "sku_id", "day", "sku_part_number", "product_name", "purchased", "warning",
    "assigned", "active", "inactive", "never_used", "in_grace", "no_data", "low_usage",
    "over_assigned", "unassigned", "unit_price_monthly", "monthly_cost", "monthly_waste",
    "reducible_at_renewal", "next_renewal", "waste_counts", "assignment_errors",
]
DEPARTMENT_COLUMNS = ["profile", "department", "day", "assigned", "unused", "monthly_cost",
                      "monthly_waste"]


def _renewals(subscriptions: pl.LazyFrame, reducible: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Per (profile, sku_id): seats reducible at renewal and the earliest renewal date."""
    paid = (subscriptions
            .filter(~pl.col("is_trial") & pl.col("status").is_in(["Enabled", "Warning"])
                    & (pl.col("next_lifecycle_at") >= end_of_day(as_of)))
            .join(reducible, on=["profile", "sku_id"])
            .sort("profile", "sku_id", "next_lifecycle_at", "id")
            .with_columns(
                (pl.col("total_licenses").cum_sum().over("profile", "sku_id")
                 - pl.col("total_licenses")).alias("_before")))
    allocated = pl.min_horizontal(
        pl.max_horizontal(pl.col("_reducible") - pl.col("_before"), pl.lit(0)),
        pl.col("total_licenses"))
    return paid.group_by("profile", "sku_id").agg(
        allocated.sum().alias("_at_renewal"),
        pl.col("next_lifecycle_at").min().dt.date().alias("next_renewal"),
        pl.len().alias("_subscriptions"))


def positions(facts: pl.LazyFrame, skus: pl.LazyFrame, subscriptions: pl.LazyFrame,
              as_of: date, profiles: list[str], errors: pl.LazyFrame | None = None
              ) -> pl.LazyFrame:
    """PositionDaily rows (POSITION_COLUMNS) for `as_of`: every SKU a profile subscribes to or
    assigns, zero-purchased and suspended ones included; `errors` are the assignment errors
    (assignment_errors.assignment_errors)."""
    counts = facts.group_by("profile", "sku_id").agg(
        pl.len().cast(pl.Int64).alias("assigned"),
        *((pl.col("bucket") == b).sum().cast(pl.Int64).alias(b) for b in BUCKETS),
        pl.col("low_usage").sum().cast(pl.Int64).alias("low_usage"),
        (pl.col("low_usage").is_not_null() & (pl.col("bucket") == "active")).sum()
        .alias("_low_known"),
        (pl.col("bucket") == "active").sum().alias("_active"))
    failed = (errors if errors is not None else pl.LazyFrame(
        schema={"profile": pl.String, "sku_id": pl.String})).group_by("profile", "sku_id").agg(
        pl.len().cast(pl.Int64).alias("assignment_errors"))
    zero = [pl.col(c).fill_null(0) for c in ("assigned", "assignment_errors", *BUCKETS)]
    base = (
        skus.filter(pl.col("profile").is_in(profiles))
        .join(counts, on=["profile", "sku_id"], how="left")
        .join(failed, on=["profile", "sku_id"], how="left")
        .with_columns(
            *zero,
            # unknown when no active holder's evidence covers the window
            pl.when(pl.col("_active").fill_null(0) > 0).then(
                pl.when(pl.col("_low_known") > 0).then(pl.col("low_usage")))
            .otherwise(0).alias("low_usage"),
            pl.col("enabled").fill_null(0).alias("purchased"),
            pl.col("warning").fill_null(0),
            ~(pl.col("is_free") | pl.col("is_capacity")).alias("waste_counts"))
        .with_columns(
            pl.max_horizontal(pl.col("assigned") - pl.col("purchased") - pl.col("warning"),
                              pl.lit(0)).alias("over_assigned"),
            pl.max_horizontal(pl.col("purchased") - pl.col("assigned"), pl.lit(0))
            .alias("unassigned"))
        .with_columns(
            pl.when(pl.col("waste_counts"))
            .then(pl.col("unassigned") + pl.col("inactive") + pl.col("never_used"))
            .otherwise(0).alias("_reducible"))
    )
    renewals = _renewals(subscriptions, base.select("profile", "sku_id", "_reducible"), as_of)
    price = pl.col("unit_price_monthly").fill_null(0.0)
    return (
        base.join(renewals, on=["profile", "sku_id"], how="left")
        .with_columns(
            pl.when(pl.col("_subscriptions").is_null())
            .then(pl.min_horizontal("_reducible", "purchased"))
            .otherwise(pl.col("_at_renewal")).fill_null(0).cast(pl.Int64)
            .alias("reducible_at_renewal"),
            (price * pl.col("purchased")).alias("monthly_cost"),
            (price * (pl.col("_reducible"))).alias("monthly_waste"),
            pl.lit(as_of).alias("day"))
        .select(POSITION_COLUMNS)
        .sort("profile", "sku_part_number", "sku_id")
    )


def department_positions(facts: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """DepartmentPositionDaily rows: held licenses, unused ones (inactive + never used), their
    monthly cost and the waste among them (free and capacity SKUs are not waste)."""
    price = pl.col("unit_price_monthly").fill_null(0.0)
    unused = pl.col("bucket").is_in(["inactive", "never_used"])
    waste = unused & ~(pl.col("is_free") | pl.col("is_capacity"))
    return (
        facts.with_columns(pl.col("department").fill_null(""))
        .group_by("profile", "department")
        .agg(pl.len().cast(pl.Int64).alias("assigned"), unused.sum().cast(pl.Int64).alias("unused"),
             price.sum().alias("monthly_cost"),
             pl.when(waste).then(price).otherwise(0.0).sum().alias("monthly_waste"))
        .with_columns(pl.lit(as_of).alias("day"))
        .select(DEPARTMENT_COLUMNS)
        .sort("profile", "department")
    )
