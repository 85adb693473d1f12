"""Finance & Operations license tiers, products and SKUs (fno_licenses.toml), read once."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PATH = Path(__file__).with_name("fno_licenses.toml")

TIERS = ("none", "team_members", "activity", "operations")
SYSADMIN_ROLE = "-SYSADMIN-"  # System administrator's SecurityRoleIdentifier


@dataclass(frozen=True)
class Product:
    key: str
    name: str
    base: str  # skuPartNumber, upper case
    attach: str | None
    base_price: float
    attach_price: float
    names: tuple[str, ...]
    covers_any: bool = False  # the legacy Operations license covers every product


@dataclass(frozen=True)
class FnoLicenses:
    tiers: Mapping[str, int]
    products: tuple[Product, ...]
    activity_sku: str
    activity_price: float
    team_members_skus: tuple[str, ...]  # the first is the one to buy
    team_members_price: float
    license_types: Mapping[str, tuple[str, str | None]]
    names: Mapping[str, str]  # lowercased export name -> skuPartNumber (upper case)

    def product(self, key: str | None) -> Product | None:
        return next((p for p in self.products if p.key == key), None)

    @property
    def all_skus(self) -> frozenset[str]:
        """Every F&O skuPartNumber (upper case), lower tiers included."""
        skus = {self.activity_sku, *self.team_members_skus}
        for p in self.products:
            skus.add(p.base)
            if p.attach:
                skus.add(p.attach)
        return frozenset(skus)

    def list_price(self, sku: str) -> float | None:
        sku = sku.upper()
        if sku == self.activity_sku:
            return self.activity_price
        if sku in self.team_members_skus:
            return self.team_members_price
        for p in self.products:
            if sku == p.base:
                return p.base_price
            if sku == p.attach:
                return p.attach_price
        return None

    def tier_of(self, license_type: str | None) -> tuple[str, str | None, bool]:
        """(tier, product key or None, known) for a role's UserLicenseType. An empty or
        unknown value is tier none and known=False, so the report can name such roles."""
        key = re.sub(r"[\s_\-]", "", (license_type or "")).lower()
        found = self.license_types.get(key)
        if found is None:
            return "none", None, False
        tier, product = found
        return tier, product or None, bool(key)


@cache
def load_fno_licenses() -> FnoLicenses:
    raw = tomllib.loads(PATH.read_text(encoding="utf-8"))
    products = tuple(
        Product(key=p["key"], name=p["name"], base=p["base"].upper(),
                attach=p["attach"].upper() if p.get("attach") else None,
                base_price=float(p["base_price"]),
                attach_price=float(p.get("attach_price", p["base_price"])),
                names=tuple(p.get("names", [])), covers_any=bool(p.get("covers_any", False)))
        for p in raw["products"])
    lower = raw["lower"]
    activity, team = lower["activity"], lower["team_members"]
    names: dict[str, str] = {}
    for p in products:
        for n in p.names:
            names[n.lower()] = p.base
    for n in activity["names"]:
        names[n.lower()] = activity["sku"].upper()
    for n in team["names"]:
        names[n.lower()] = team["sku"].upper()
    types = {k: (v[0], v[1] or None) for k, v in raw["license_types"].items()}
    return FnoLicenses(
        tiers=raw["tiers"], products=products, activity_sku=activity["sku"].upper(),
        activity_price=float(activity["price"]),
        team_members_skus=tuple(s.upper() for s in [team["sku"], *team.get("also", [])]),
        team_members_price=float(team["price"]), license_types=types, names=names)
