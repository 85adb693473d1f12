"""Last-activity buckets per product, read from the facts of the newest analysis."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date

import polars as pl
from sqlmodel import Session, col, select

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.report.stages import optional_function
from license_analyzer.store.db import Store
from license_analyzer.store.models import Analysis

log = logging.getLogger(__name__)

BUCKETS = ("0-30 days", "30-60 days", "60-90 days", "90+ days", "never")


@dataclass(frozen=True)
class ActivityBuckets:
    analysis_id: int | None
    as_of: date | None
    # product name -> counts in BUCKETS order
    by_product: dict[str, list[int]] = field(default_factory=dict)

    @property
    def totals(self) -> list[int]:
        sums = [0] * len(BUCKETS)
        for counts in self.by_product.values():
            sums = [a + b for a, b in zip(sums, counts, strict=True)]
        return sums


def latest_analysis(session: Session, as_of: date) -> Analysis | None:
    return session.exec(
        select(Analysis)
        .where(Analysis.as_of <= as_of)
        .order_by(col(Analysis.as_of).desc(), col(Analysis.id).desc())
        .limit(1)
    ).first()


def _facts(store: Store, analysis: Analysis) -> pl.LazyFrame:
    load_facts = optional_function("license_analyzer.pipeline.analyze", "load_facts")
    if load_facts is None:  # the pipeline stage is not there: read its Parquet directly
        return pl.scan_parquet(store.data_dir / analysis.facts_path)
    facts = load_facts(store, analysis_id=analysis.id)
    return facts.lazy() if isinstance(facts, pl.DataFrame) else facts


def bucket_expr(as_of: date, schema: pl.Schema) -> pl.Expr:
    if "days_since_activity" in schema:
        days = pl.col("days_since_activity")
    else:
        days = (pl.lit(as_of) - pl.col("last_activity").dt.date()).dt.total_days()
    return (
        pl.when(pl.col("last_activity").is_null()).then(pl.lit(BUCKETS[4]))
        .when(days < 30).then(pl.lit(BUCKETS[0]))
        .when(days < 60).then(pl.lit(BUCKETS[1]))
        .when(days < 90).then(pl.lit(BUCKETS[2]))
        .otherwise(pl.lit(BUCKETS[3]))
    )


def bucket_counts(facts: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """(product_name, bucket, n) for the licenses that cost money."""
    schema = facts.collect_schema()
    paid = pl.lit(True)
    for flag in ("is_free", "is_capacity"):
        if flag in schema:
            paid = paid & ~pl.col(flag).fill_null(False)
    return (
        facts.filter(paid)
        .with_columns(bucket=bucket_expr(as_of, schema))
        .group_by("product_name", "bucket")
        .agg(n=pl.len())
    )


def activity_buckets(store: Store, as_of: date) -> ActivityBuckets:
    with store.session() as session:
        analysis = latest_analysis(session, as_of)
    if analysis is None:
        return ActivityBuckets(None, None)
    try:
        counts = bucket_counts(_facts(store, analysis), analysis.as_of).collect()
    except (OSError, pl.exceptions.PolarsError, LicenseAnalyzerError) as exc:
        log.warning("cannot read the facts of analysis %s: %s", analysis.id, exc)
        return ActivityBuckets(analysis.id, analysis.as_of)
    by_product: dict[str, list[int]] = {}
    for name, bucket, n in counts.iter_rows():
        row = by_product.setdefault(str(name), [0] * len(BUCKETS))
        row[BUCKETS.index(bucket)] += int(n)
    ordered = dict(sorted(by_product.items(), key=lambda kv: (-sum(kv[1]), kv[0])))
    return ActivityBuckets(analysis.id, analysis.as_of, ordered)
