"""The packaged licensing tables the rules need, as small frames: overlap, downgrade, families.

They live in license_analyzer/catalog/ (overlap.toml, downgrade.toml, families.toml); this module
only reads them into the shapes the rules join against.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import polars as pl

from license_analyzer.catalog.families import with_kinds

# SKUs that an "Attach to Qualifying Base Offer" SKU needs beside it (Dynamics 365 full user
# licenses). Removing the user's last one of these strands the attach SKU.
ATTACH_BASES = (
    "DYN365_ENTERPRISE_SALES", "D365_SALES_PRO", "DYN365_SALES_PREMIUM",
    "DYN365_ENTERPRISE_CUSTOMER_SERVICE", "DYN365_CUSTOMER_SERVICE_PRO",
    "DYN365_ENTERPRISE_FIELD_SERVICE", "DYN365_ENTERPRISE_PLAN1",
    "DYN365_ENTERPRISE_SALES_CUSTOMERSERVICE", "DYN365_FINANCE", "DYN365_SCM",
    "Dynamics_365_for_Operations", "DYN365_RETAIL", "DYN365_PROJECT_OPERATIONS",
)


@cache
def _catalog_toml(name: str) -> dict[str, Any]:
    text = resources.files("license_analyzer.catalog").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def overlap_pairs() -> pl.DataFrame:
    """One row per (covering, covered) skuPartNumber pair, with the sources that veto it."""
    rows = [
        {"covering": entry["covering"], "covered": covered,
         "unless_sources": list(with_kinds(entry.get("unless_sources", []))),
         "overlap_reason": entry.get("reason", "")}
        for entry in _catalog_toml("overlap.toml").get("overlap", [])
        for covered in entry["covered"]
    ]
    return pl.DataFrame(rows, schema={"covering": pl.String, "covered": pl.String,
                                      "unless_sources": pl.List(pl.String),
                                      "overlap_reason": pl.String})


@dataclass(frozen=True)
class Downgrade:
    source: str
    target: str
    requires: str
    reason: str


def downgrades() -> dict[str, Downgrade]:
    """From skuPartNumber -> where a read-only user of it can go."""
    return {
        entry["from"]: Downgrade(entry["from"], entry["to"], entry.get("requires", "read_only"),
                                 entry.get("reason", ""))
        for entry in _catalog_toml("downgrade.toml").get("downgrade", [])
    }


def family_sources() -> dict[str, list[str]]:
    """Family -> the activity sources that count for it."""
    families = _catalog_toml("families.toml").get("families", {})
    return {name: list(body.get("sources", [])) for name, body in families.items()}
