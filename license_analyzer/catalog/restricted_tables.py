"""Microsoft's restricted Dataverse tables and the licenses that may write them
(restricted_tables.toml), read once."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("restricted_tables.toml")
NO_LONGER_SOLD = ("DYN365_ENTERPRISE_PLAN1",)


@cache
def _raw() -> dict[str, Any]:
    return tomllib.loads(PATH.read_text(encoding="utf-8"))


@cache
def restricted_tables() -> dict[str, tuple[str, ...]]:
    """Logical name -> skuPartNumbers (upper case) any of which may write the table."""
    raw = _raw()
    groups = {k: tuple(s.upper() for s in v) for k, v in raw["licenses"].items()}
    always = groups["always"]
    return {table: groups[group] + always for table, group in raw["tables"].items()}


@cache
def list_prices() -> dict[str, float]:
    return {k.upper(): float(v) for k, v in _raw()["prices"].items()}
