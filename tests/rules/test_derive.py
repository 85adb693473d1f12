"""The derived columns, as pure LazyFrame -> LazyFrame steps."""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from license_analyzer.config import AnalysisConfig, ProductThresholds
from license_analyzer.rules import derive
from tests.factories import utc


def test_attach_strands_only_the_last_base() -> None:
    lf = pl.LazyFrame({
        "profile": ["p"] * 5, "user_id": ["a", "a", "b", "b", "b"],
        "sku_part_number": ["DYN365_ENTERPRISE_SALES", "D365_SALES_ENT_ATTACH",
                            "DYN365_ENTERPRISE_SALES", "DYN365_ENTERPRISE_CUSTOMER_SERVICE",
                            "D365_SALES_ENT_ATTACH"],
        "is_attach": [False, True, False, False, True],
    })
    got = lf.pipe(derive.add_attach).select("user_id", "strands_attach").collect()
    expected = pl.DataFrame({"user_id": ["a", "a", "b", "b", "b"],
                             "strands_attach": ["D365_SALES_ENT_ATTACH", None, None, None, None]})
    assert_frame_equal(got, expected)


def test_grace_uses_the_product_threshold() -> None:
    analysis = AnalysisConfig(grace_days=30, products={"sales": ProductThresholds(grace_days=5)})
    lf = pl.LazyFrame({
        "sku_part_number": ["X", "DYN365_ENTERPRISE_SALES", "X"],
        "family": ["other", "sales", "other"],
        "assigned_since": [utc(2026, 11, 1), utc(2026, 11, 10), None],
        "as_of": [date(2026, 11, 21)] * 3,
    })
    got = (lf.pipe(derive.add_threshold_key, analysis.products).pipe(derive.add_grace, analysis)
           .select("threshold_key", "in_grace_period").collect())
    expected = pl.DataFrame({"threshold_key": ["*", "sales", "*"],
                             "in_grace_period": [True, False, False]})
    assert_frame_equal(got, expected)
