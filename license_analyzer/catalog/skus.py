"""Microsoft's "Product names and service plan identifiers for licensing" CSV, cleaned.

The file is packaged beside this module (`catalog refresh` replaces it). Its ids carry
non-breaking spaces and stray whitespace, so every cell is stripped; skuIds are lowercased so
they compare case-insensitively with Graph's.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import polars as pl

CSV_NAME = "licensing-service-plan-reference.csv"
CSV_PATH = Path(__file__).with_name(CSV_NAME)
CSV_COLUMNS = ("Product_Display_Name", "String_Id", "GUID", "Service_Plan_Name",
               "Service_Plan_Id", "Service_Plans_Included_Friendly_Names")

_RENAMES = {"Product_Display_Name": "product_name", "String_Id": "sku_part_number",
            "GUID": "sku_id", "Service_Plan_Name": "service_plan_name",
            "Service_Plan_Id": "service_plan_id",
            "Service_Plans_Included_Friendly_Names": "service_plan_friendly_name"}


def clean(column: str) -> pl.Expr:
    """Strip non-breaking spaces (U+00A0), BOMs and surrounding whitespace from a cell."""
    return (pl.col(column).str.replace_all("[\u00a0\ufeff]", "").str.strip_chars()
            .alias(column))


def read_service_plan_csv(path: Path) -> pl.DataFrame:
    """The CSV as one row per (SKU, service plan), cleaned; raises ValueError if malformed."""
    frame = pl.read_csv(path, infer_schema=False, encoding="utf8-lossy")
    header = tuple(c.replace("\ufeff", "").strip() for c in frame.columns)
    if header != CSV_COLUMNS:
        raise ValueError(f"unexpected header {','.join(header)}")
    frame.columns = list(header)
    return (frame.select(clean(c) for c in CSV_COLUMNS).rename(_RENAMES)
            .with_columns(pl.col("sku_id").str.to_lowercase(),
                          pl.col("service_plan_id").str.to_lowercase())
            .filter(pl.col("sku_id").str.len_chars() > 0))


@lru_cache(maxsize=1)
def load_service_plans() -> pl.DataFrame:
    """One row per (sku_id, service plan) of the packaged CSV."""
    return read_service_plan_csv(CSV_PATH)


@lru_cache(maxsize=1)
def load_catalog() -> pl.DataFrame:
    """One row per SKU of the packaged CSV: sku_id (lowercase), sku_part_number, product_name,
    service_plans (count)."""
    return (load_service_plans().group_by("sku_id", maintain_order=True)
            .agg(pl.col("sku_part_number").first(), pl.col("product_name").first(),
                 pl.len().cast(pl.Int64).alias("service_plans"))
            .sort("sku_part_number"))
