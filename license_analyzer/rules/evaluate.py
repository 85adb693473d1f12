"""Running the compiled rules over the facts: one winning rule per (profile, user, SKU)."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from license_analyzer.rules.derive import ROW
from license_analyzer.rules.loading import CompiledRule


def matches(lf: pl.LazyFrame, rules: Sequence[CompiledRule]) -> pl.LazyFrame:
    """One row per (row, rule) that matches; excluded rows and rows in grace never match."""
    empty = pl.LazyFrame(schema={"profile": pl.String, "user_id": pl.String, "sku_id": pl.String,
                                 "rule": pl.String, "priority": pl.Int64, "order": pl.Int64})
    eligible = lf.filter(pl.col("excluded_reason").is_null())
    frames = [
        eligible.filter(
            compiled.expr if not compiled.rule.grace
            else compiled.expr & ~pl.col("in_grace_period")
        ).select(*ROW, rule=pl.lit(compiled.id), priority=pl.lit(compiled.rule.priority,
                                                                   dtype=pl.Int64),
                 order=pl.lit(order, dtype=pl.Int64))
        for order, compiled in enumerate(rules)
    ]
    return pl.concat([empty, *frames], how="vertical")


def winners(lf: pl.LazyFrame, matched: pl.LazyFrame) -> pl.LazyFrame:
    """The facts rows that some rule matched, with `rule` (the highest priority; on a tie the
    first declared) and `also_matching` (the others, best first)."""
    best = (
        matched.sort(["priority", "order"], descending=[True, False])
        .group_by(ROW, maintain_order=True)
        .agg(rule=pl.col("rule").first(), also_matching=pl.col("rule").slice(1))
    )
    return lf.join(best, on=ROW, how="inner")


def matched_counts(matched: pl.LazyFrame) -> pl.LazyFrame:
    return matched.group_by("rule").agg(matched=pl.len())
