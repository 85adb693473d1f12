"""Reason sentences and evidence as Polars expressions, so a run of 150,000 candidates does not
format them one Python row at a time.

Each expression gives exactly what its per-row twin in evidence.py gives (`reason_text`,
`evidence_of`); a template the columnar form cannot reproduce (format specs, conversions,
floats, lists) returns None and those rows keep the per-row path.
"""

from __future__ import annotations

import string
from collections.abc import Mapping

import polars as pl

from license_analyzer.rules.evidence import EVIDENCE_FIELDS


def _shown(name: str, dtype: pl.DataType) -> pl.Expr | None:
    """evidence._shown then str(), for the dtypes whose str() Polars reproduces exactly."""
    column = pl.col(name)
    missing = pl.lit("never" if name == "last_activity" else "unknown")
    if dtype == pl.String:
        text = column
    elif dtype.is_integer():
        text = column.cast(pl.String)
    elif dtype == pl.Boolean:
        text = pl.when(column).then(pl.lit("True")).when(~column).then(pl.lit("False"))
    elif dtype == pl.Date:
        text = column.dt.strftime("%Y-%m-%d")
    elif isinstance(dtype, pl.Datetime):
        text = column.dt.date().dt.strftime("%Y-%m-%d")
    else:
        return None
    return text.fill_null(missing)


def reason_expr(template: str, fallback: str, schema: Mapping[str, pl.DataType]
                ) -> pl.Expr | None:
    """The rule's reason for every row, or None when only reason_text can format it."""
    if not template:
        return pl.lit(fallback)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return pl.lit(fallback)  # reason_text falls back on a malformed template too
    pieces: list[pl.Expr] = []
    for literal, name, spec, conversion in parsed:
        if literal:
            pieces.append(pl.lit(literal))
        if name is None:
            continue
        if spec or conversion or not name.isidentifier():
            return None
        if name not in schema:
            pieces.append(pl.lit("?"))  # reason_text's _Blank
            continue
        shown = _shown(name, schema[name])
        if shown is None:
            return None
        pieces.append(shown)
    text = pl.concat_str(pieces) if pieces else pl.lit("")
    return pl.when(text == "").then(pl.lit(fallback)).otherwise(text)


def iso_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """evidence._plain: dates and datetimes as Python's isoformat() writes them."""
    column = pl.col(name)
    if dtype == pl.Date:
        return column.dt.strftime("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        utc = column.dt.convert_time_zone("UTC") if dtype.time_zone else column
        micros = utc.dt.microsecond()
        fraction = (pl.when(micros != 0)
                    .then(pl.lit(".") + micros.cast(pl.String).str.zfill(6))
                    .otherwise(pl.lit("")))
        offset = "+00:00" if dtype.time_zone else ""
        return pl.concat_str([utc.dt.strftime("%Y-%m-%dT%H:%M:%S"), fraction, pl.lit(offset)])
    return column


def evidence_expr(schema: Mapping[str, pl.DataType]) -> pl.Expr:
    """evidence_of() as one struct column `_evidence` (last_activity_day null when absent)."""
    fields = [iso_text(name, schema[name]).alias(name) if name in schema
              else pl.lit(None).alias(name) for name in EVIDENCE_FIELDS]
    day = (pl.col("last_activity").dt.date().dt.strftime("%Y-%m-%d")
           if isinstance(schema.get("last_activity"), pl.Datetime) else pl.lit(None, pl.String))
    return pl.struct(*fields, day.alias("last_activity_day")).alias("_evidence")
