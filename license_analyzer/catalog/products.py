"""The product view of the SKUs a tenant holds: names, families and flags, unknown SKUs too."""

from __future__ import annotations

import polars as pl

from license_analyzer.catalog.families import load_families
from license_analyzer.catalog.flags import is_attach, is_capacity, is_free
from license_analyzer.catalog.skus import load_catalog


def sku_products(skus: pl.LazyFrame) -> pl.LazyFrame:
    """Add product_name, family, is_free, is_capacity, is_attach to rows with sku_id,
    sku_part_number (may be null) and applies_to (may be null).

    A SKU missing from Microsoft's table still appears, named by its part number (or its id).
    """
    catalog = load_catalog().lazy().select(
        "sku_id", pl.col("sku_part_number").alias("_catalog_part"),
        pl.col("product_name").alias("_catalog_name"))
    families = load_families()
    return (
        skus.with_columns(pl.col("sku_id").str.to_lowercase())
        .join(catalog, on="sku_id", how="left")
        .with_columns(
            pl.coalesce("sku_part_number", "_catalog_part", "sku_id").alias("sku_part_number"))
        .with_columns(
            pl.coalesce("_catalog_name", "sku_part_number").alias("product_name"))
        .with_columns(pl.col("sku_part_number").str.to_uppercase().alias("part_number_upper"))
        .join(families.sku_frame().lazy(), on="part_number_upper", how="left")
        .with_columns(
            pl.col("family").fill_null(families.default),
            is_free().alias("is_free"),
            is_capacity().alias("is_capacity"),
            is_attach().alias("is_attach"))
        .drop("_catalog_part", "_catalog_name", "part_number_upper")
    )
