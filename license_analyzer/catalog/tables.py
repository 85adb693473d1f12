"""The packaged overlap ("whose use rights include whose") and downgrade tables."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from license_analyzer.catalog.families import with_kinds

OVERLAP_PATH = Path(__file__).with_name("overlap.toml")
DOWNGRADE_PATH = Path(__file__).with_name("downgrade.toml")


@dataclass(frozen=True)
class Overlap:
    """`covering`'s use rights include `covered`'s, unless the user shows activity of one of
    `unless_sources` (part numbers are upper case)."""

    covering: str
    covered: tuple[str, ...]
    reason: str
    unless_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Downgrade:
    """A cheaper license (`to`) for users of `from_` who meet `requires` (e.g. "read_only")."""

    from_: str
    to: str
    requires: str
    reason: str


@lru_cache(maxsize=1)
def load_overlaps() -> tuple[Overlap, ...]:
    raw = tomllib.loads(OVERLAP_PATH.read_text(encoding="utf-8"))
    return tuple(
        Overlap(covering=e["covering"].upper(),
                covered=tuple(c.upper() for c in e["covered"]), reason=e["reason"],
                unless_sources=with_kinds(e.get("unless_sources", [])))
        for e in raw["overlap"])


@lru_cache(maxsize=1)
def load_downgrades() -> tuple[Downgrade, ...]:
    raw = tomllib.loads(DOWNGRADE_PATH.read_text(encoding="utf-8"))
    return tuple(Downgrade(from_=e["from"].upper(), to=e["to"].upper(), requires=e["requires"],
                           reason=e["reason"]) for e in raw["downgrade"])


def overlap_frame() -> pl.DataFrame:
    """One row per (covering, covered) pair: covering, covered, reason, unless_sources."""
    rows = [(o.covering, c, o.reason, list(o.unless_sources))
            for o in load_overlaps() for c in o.covered]
    return pl.DataFrame(rows, orient="row", schema={
        "covering": pl.String, "covered": pl.String, "reason": pl.String,
        "unless_sources": pl.List(pl.String)})


def downgrade_frame() -> pl.DataFrame:
    """One row per downgrade: from, to, requires, reason."""
    rows = [(d.from_, d.to, d.requires, d.reason) for d in load_downgrades()]
    return pl.DataFrame(rows, orient="row", schema={
        "from": pl.String, "to": pl.String, "requires": pl.String, "reason": pl.String})
