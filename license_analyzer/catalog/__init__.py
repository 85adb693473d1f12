"""The product catalog: Microsoft's SKU table, product families, overlap and downgrade tables."""

from __future__ import annotations

from license_analyzer.catalog.families import Families, Family, load_families
from license_analyzer.catalog.flags import is_attach, is_capacity, is_free
from license_analyzer.catalog.products import sku_products
from license_analyzer.catalog.skus import load_catalog, load_service_plans
from license_analyzer.catalog.tables import (
    Downgrade,
    Overlap,
    downgrade_frame,
    load_downgrades,
    load_overlaps,
    overlap_frame,
)

__all__ = [
    "Downgrade", "Families", "Family", "Overlap", "downgrade_frame", "is_attach", "is_capacity",
    "is_free", "load_catalog", "load_downgrades", "load_families", "load_overlaps",
    "load_service_plans", "overlap_frame", "sku_products",
]
