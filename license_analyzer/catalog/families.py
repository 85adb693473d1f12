"""Product families: which evidence counts for which SKU (packaged families.toml)."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

FAMILIES_PATH = Path(__file__).with_name("families.toml")
# the Microsoft 365 usage reports' workload sources (sources/usage_reports.py)
WORKLOAD_SOURCES = ("m365_exchange", "m365_teams", "m365_onedrive", "m365_sharepoint",
                    "m365_viva_engage", "m365_office_apps", "m365_copilot")
SOURCES = ("dataverse_audit", "signin_crm", "signin_erp", "entra_signin", *WORKLOAD_SOURCES)
# A resource's sign-ins count interactive and non-interactive alike (PRODUCT.md, second
# version); each kind is stored as its own source, so a table naming the resource's sign-ins
# means both.
SIGNIN_KINDS = {"signin_crm": ("signin_crm", "signin_crm_noninteractive"),
                "signin_erp": ("signin_erp", "signin_erp_noninteractive")}


def with_kinds(sources: Iterable[str]) -> tuple[str, ...]:
    """`sources` with every sign-in source's non-interactive twin after it."""
    return tuple(kind for source in sources for kind in SIGNIN_KINDS.get(source, (source,)))


@dataclass(frozen=True)
class Family:
    key: str
    name: str
    sources: tuple[str, ...]
    customer_engagement: bool
    environment_families: tuple[str, ...]
    skus: tuple[str, ...]


@dataclass(frozen=True)
class Families:
    default: str
    families: dict[str, Family]

    def family_of(self, part_number: str) -> str:
        """The family of a skuPartNumber (case-insensitive), the default one if none."""
        wanted = part_number.strip().upper()
        for family in self.families.values():
            if any(s.upper() == wanted for s in family.skus):
                return family.key
        return self.default

    def sku_frame(self) -> pl.DataFrame:
        """(part_number_upper, family) for every listed SKU."""
        rows = [(s.upper(), f.key) for f in self.families.values() for s in f.skus]
        return pl.DataFrame(rows, schema={"part_number_upper": pl.String, "family": pl.String},
                            orient="row")

    def counts_environment(self, family: str, env_families: list[str]) -> bool:
        """Whether Dataverse activity in an environment mapped to `env_families` counts for
        `family`: unmapped environments count for every customer-engagement family."""
        fam = self.families[family]
        if "dataverse_audit" not in fam.sources:
            return False
        if not env_families:
            return fam.customer_engagement
        return bool(set(env_families) & set(fam.environment_families))


@lru_cache(maxsize=1)
def load_families() -> Families:
    raw = tomllib.loads(FAMILIES_PATH.read_text(encoding="utf-8"))
    families: dict[str, Family] = {}
    for key, spec in raw["families"].items():
        sources = tuple(spec["sources"])
        unknown = set(sources) - set(SOURCES)
        if unknown:  # a packaging mistake, caught by the tests
            raise ValueError(f"family {key} names unknown sources {sorted(unknown)}")
        families[key] = Family(
            key=key, name=spec["name"], sources=with_kinds(sources),
            customer_engagement=bool(spec.get("customer_engagement", False)),
            environment_families=tuple(spec.get("environment_families", [key])),
            skus=tuple(spec.get("skus", [])))
    default = raw["default_family"]
    if default not in families:
        raise ValueError(f"default family {default} is not defined")
    return Families(default=default, families=families)
