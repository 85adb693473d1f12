from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from license_analyzer.catalog import (
    load_catalog,
    load_downgrades,
    load_families,
    load_overlaps,
    sku_products,
)
from license_analyzer.catalog.refresh import refresh_catalog
from license_analyzer.catalog.skus import CSV_PATH
from license_analyzer.errors import ConfigError


def test_catalog_is_clean_and_unique() -> None:
    catalog = load_catalog()
    assert catalog.height == 569
    assert catalog["sku_id"].is_unique().all()
    for column in ("sku_id", "sku_part_number"):
        assert not catalog[column].str.contains("\u00a0").any()
        assert (catalog[column] == catalog[column].str.strip_chars()).all()
    assert (catalog["sku_id"] == catalog["sku_id"].str.to_lowercase()).all()


@pytest.mark.parametrize(("sku_id", "part", "applies", "family", "free", "capacity", "attach"), [
    ("1E1A282C-9C54-43A2-9310-98EF728FAACE", None, "User", "sales", False, False, False),
    ("f30db892-07e9-47e9-837c-80727f46fd3d", None, "User", "other", True, False, False),
    ("dcb1a3ae-b33f-4487-846a-a640262fadf4", None, "User", "power_apps", True, False, False),
    ("5b22585d-1b71-4c6b-b6ec-160b1a9c2323", None, "User", "sales", False, False, True),
    ("e612d426-6bc3-4181-9658-91aa906b0ac0", None, "User", "other", False, True, False),
    ("7ac9fe77-66b7-4e5e-9e46-10eed1cff547", None, "User", "team_members", False, False, False),
    ("55c9eb4e-c746-45b4-b255-9ab6b19d5c62", None, "User", "finance", False, False, False),
    ("00000000-0000-0000-0000-00000000abcd", "MYSTERY_SKU", "Company", "other", False, True,
     False),
])
def test_products_and_flags(sku_id: str, part: str | None, applies: str, family: str,
                            free: bool, capacity: bool, attach: bool) -> None:
    row = sku_products(pl.LazyFrame({"sku_id": [sku_id], "sku_part_number": [part],
                                     "applies_to": [applies]})).collect().row(0, named=True)
    assert (row["family"], row["is_free"], row["is_capacity"], row["is_attach"]) == (
        family, free, capacity, attach)
    if part:
        assert row["product_name"] == part  # unknown SKUs are named by part number


def test_families_and_environment_mapping() -> None:
    families = load_families()
    assert families.family_of("dyn365_enterprise_sales") == "sales"
    assert families.family_of("SPE_E5") == "microsoft_365"  # judged by its workloads
    assert families.family_of("AAD_PREMIUM") == "other"
    assert families.counts_environment("sales", [])
    assert not families.counts_environment("sales", ["customer_service"])
    assert families.counts_environment("customer_service", ["customer_service"])
    assert not families.counts_environment("finance", [])
    assert "signin_erp" in families.families["team_members"].sources
    # a resource's sign-ins count whether interactive or not (two sources, one entry)
    assert families.families["finance"].sources == ("signin_erp", "signin_erp_noninteractive")


def test_overlap_and_downgrade_tables() -> None:
    e5 = next(o for o in load_overlaps() if o.covering == "SPE_E5")
    assert {"ENTERPRISEPACK", "SPE_E3"} <= set(e5.covered)
    sales = next(o for o in load_overlaps() if o.covering == "DYN365_ENTERPRISE_SALES")
    assert "DYN365_TEAM_MEMBERS" in sales.covered
    assert sales.unless_sources == ("signin_erp", "signin_erp_noninteractive")
    targets = {d.from_: d.to for d in load_downgrades()}
    assert targets == {"DYN365_ENTERPRISE_SALES": "DYN365_TEAM_MEMBERS",
                       "D365_SALES_PRO": "DYN365_TEAM_MEMBERS",
                       "DYN365_ENTERPRISE_CUSTOMER_SERVICE": "DYN365_TEAM_MEMBERS"}


def test_refresh_without_file_explains_how(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="download"):
        refresh_catalog(None, target=tmp_path / "catalog.csv")


def test_refresh_validates_header_and_rows(tmp_path: Path) -> None:
    target = tmp_path / "catalog.csv"
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(ConfigError, match="header"):
        refresh_catalog(bad, target=target)
    short = tmp_path / "short.csv"
    short.write_text("\n".join(CSV_PATH.read_text(encoding="utf-8-sig").splitlines()[:50]))
    with pytest.raises(ConfigError, match="truncated"):
        refresh_catalog(short, target=target)
    with pytest.raises(ConfigError, match="no file"):
        refresh_catalog(tmp_path / "missing.csv", target=target)
    assert not target.exists()


def test_refresh_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "catalog.csv"
    message = refresh_catalog(CSV_PATH, target=target)
    assert "569 SKUs" in message
    assert target.read_bytes() == CSV_PATH.read_bytes()
