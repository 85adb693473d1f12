"""`catalog refresh [--from FILE]`: replace the packaged SKU CSV with a newer copy."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from license_analyzer.catalog.skus import (
    CSV_PATH,
    load_catalog,
    load_service_plans,
    read_service_plan_csv,
)
from license_analyzer.errors import ConfigError

DOWNLOAD_URL = ("https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-"
                "c6089a1fc5b0/Product%20names%20and%20service%20plan%20identifiers%20for%20"
                "licensing.csv")
# A genuine copy has thousands of (SKU, service plan) rows; far fewer means a truncated download.
MIN_ROWS = 1000
MIN_SKUS = 100


def refresh_catalog(source: Path | None, target: Path = CSV_PATH) -> str:
    """Validate `source` and copy it over the packaged CSV; returns a one-line summary."""
    if source is None:
        raise ConfigError(
            "This machine does not download the catalog; download Microsoft's \"Product names"
            f" and service plan identifiers for licensing\" CSV from {DOWNLOAD_URL} (linked"
            " from learn.microsoft.com, 'licensing-service-plan-reference') and run `catalog"
            " refresh --from FILE`.")
    try:
        frame = read_service_plan_csv(source)
    except FileNotFoundError:
        raise ConfigError(f"There is no file at {source}; pass the downloaded CSV's path to"
                          " --from.") from None
    except (ValueError, OSError) as exc:  # polars raises ComputeError (a ValueError) too
        raise ConfigError(
            f"{source} is not Microsoft's product names CSV (its header must be"
            " Product_Display_Name,String_Id,GUID,...); download it again.",
            detail=str(exc)) from None
    skus = frame["sku_id"].n_unique()
    if frame.height < MIN_ROWS or skus < MIN_SKUS:
        raise ConfigError(
            f"{source} has only {frame.height} rows for {skus} SKUs, fewer than any genuine"
            f" copy ({MIN_ROWS}+ rows); the download is probably truncated, fetch it again.")
    before = load_catalog().height
    temp = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(source, temp)
    os.replace(temp, target)
    load_service_plans.cache_clear()
    load_catalog.cache_clear()
    return (f"SKU catalog replaced: {skus} SKUs ({frame.height} service-plan rows), was"
            f" {before} SKUs.")
