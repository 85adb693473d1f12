"""The store's SQL tables as Polars frames: one query per table, explicit schemas.

Everything after this point is lazy. The rows come from the driver as they are (no SQLAlchemy
result processing, which costs tens of microseconds per datetime and JSON value: seconds for
200,000 users) and are typed column by column in Polars: SQLite's datetime text and JSON text are
parsed vectorized, PostgreSQL's already typed values are taken as they come.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import ClauseElement, Table, column, func, select
from sqlmodel import SQLModel

from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    AssignmentOrigin,
    Coverage,
    DataverseUser,
    DirectoryUser,
    Environment,
    FinanceOperationsUser,
    LicenseAssignment,
    Profile,
    SkuState,
    Subscription,
)

UTC_TIME = pl.Datetime("us", "UTC")
STRINGS = pl.List(pl.String)

SCHEMAS: dict[type[SQLModel], dict[str, pl.DataType]] = {
    Profile: {"name": pl.String(), "has_p1": pl.Boolean()},
    SkuState: {"profile": pl.String(), "sku_id": pl.String(), "sku_part_number": pl.String(),
               "applies_to": pl.String(), "capability_status": pl.String(),
               "enabled": pl.Int64(), "warning": pl.Int64(), "suspended": pl.Int64(),
               "consumed": pl.Int64()},
    Subscription: {"profile": pl.String(), "id": pl.String(), "sku_id": pl.String(),
                   "status": pl.String(), "total_licenses": pl.Int64(),
                   "is_trial": pl.Boolean(), "next_lifecycle_at": UTC_TIME},
    DirectoryUser: {"profile": pl.String(), "id": pl.String(),
                    "user_principal_name": pl.String(), "display_name": pl.String(),
                    "account_enabled": pl.Boolean(), "user_type": pl.String(),
                    "department": pl.String(), "company_name": pl.String(),
                    "created_at": UTC_TIME, "last_sign_in_at": UTC_TIME,
                    "last_non_interactive_sign_in_at": UTC_TIME,
                    "last_successful_sign_in_at": UTC_TIME,
                    "sign_in_activity_collected": pl.Boolean(), "deleted_at": UTC_TIME},
    LicenseAssignment: {"profile": pl.String(), "user_id": pl.String(), "sku_id": pl.String(),
                        "via": pl.String(), "disabled_plans": STRINGS,
                        "graph_updated_at": UTC_TIME, "valid_from": UTC_TIME,
                        "valid_to": UTC_TIME},
    AssignmentOrigin: {"profile": pl.String(), "user_id": pl.String(), "sku_id": pl.String(),
                       "assigned_since": UTC_TIME, "provenance": pl.String()},
    Environment: {"profile": pl.String(), "url": pl.String(), "kind": pl.String(),
                  "families": STRINGS, "audit_enabled": pl.Boolean(),
                  "user_access_audit_enabled": pl.Boolean()},
    DataverseUser: {"profile": pl.String(), "environment_url": pl.String(),
                    "entra_object_id": pl.String(), "access_mode": pl.Int64(),
                    "is_disabled": pl.Boolean(), "is_application_user": pl.Boolean(),
                    "is_human": pl.Boolean()},
    FinanceOperationsUser: {"profile": pl.String(), "environment_url": pl.String(),
                            "matched_user_id": pl.String(), "enabled": pl.Boolean()},
    Coverage: {"profile": pl.String(), "source": pl.String(), "environment": pl.String(),
               "start": UTC_TIME, "end": UTC_TIME},
}


# how SQLAlchemy's SQLite dialect stores a DateTime (naive, UTC by the store's convention)
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S%.f"


def _first(values: list[Any]) -> Any:
    return next((v for v in values if v is not None), None)


def _column(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """One column of driver values as `dtype`, parsing SQLite's text forms vectorized."""
    sample = _first(values)
    if isinstance(dtype, pl.Datetime):
        if isinstance(sample, str):
            return (pl.Series(name, values, pl.String)
                    .str.to_datetime(_SQLITE_DATETIME, time_unit="us", time_zone="UTC"))
        series = pl.Series(name, values)
        if series.dtype == pl.Null:
            return series.cast(dtype)
        zone = getattr(series.dtype, "time_zone", None)
        series = (series.dt.convert_time_zone("UTC") if zone
                  else series.dt.replace_time_zone("UTC"))
        return series.cast(dtype)
    if isinstance(dtype, pl.List):
        if sample is None or isinstance(sample, str):
            return pl.Series(name, values, pl.String).str.json_decode(dtype)
        return pl.Series(name, values, dtype)
    return pl.Series(name, values).cast(dtype)


def _raw_rows(store: Store, query: ClauseElement) -> list[Any]:
    """The query's rows through the driver's own cursor: its raw values, without a Row object
    and a Python conversion per value (the query has no parameters)."""
    sql = str(query.compile(dialect=store.engine.dialect))
    with store.engine.connect() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql)
            return list(cursor.fetchall())
        finally:
            cursor.close()


def _read_rows(store: Store, table: Table, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    query: ClauseElement = select(*(column(name) for name in schema)).select_from(table)
    rows = _raw_rows(store, query)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    return pl.DataFrame([_column(name, list(values), dtype)
                         for (name, dtype), values in zip(schema.items(), columns, strict=True)])


def _json_type(dtype: pl.DataType) -> pl.DataType:
    """How a column arrives in SQLite's JSON: datetimes as text, booleans as 0/1."""
    if isinstance(dtype, pl.Datetime):
        return pl.String()
    if isinstance(dtype, pl.Boolean):
        return pl.Int64()
    return dtype


def _read_sqlite(store: Store, table: Table, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """SQLite builds one JSON array per column (in C, one row) and Polars decodes it (in Rust):
    no Python object per value, several times faster than fetching rows. The aggregates of one
    SELECT see the rows in the same order, so the columns line up."""
    arrays = [func.json_group_array(func.json(table.c[name]) if isinstance(dtype, pl.List)
                                    else table.c[name])
              for name, dtype in schema.items()]
    (row,) = _raw_rows(store, select(*arrays))
    columns = []
    for (name, dtype), text in zip(schema.items(), row, strict=True):
        series: pl.Series = pl.Series(name, [text]).str.json_decode(
            pl.List(_json_type(dtype)))[0]
        if isinstance(dtype, pl.Datetime):
            series = series.str.to_datetime(_SQLITE_DATETIME, time_unit="us", time_zone="UTC")
        columns.append(series.cast(dtype).alias(name))
    return pl.DataFrame(columns)


def read_table(store: Store, model: type[SQLModel]) -> pl.DataFrame:
    """All rows of `model`'s table, only the columns the pipeline uses, typed."""
    schema = SCHEMAS[model]
    table: Table = model.__table__  # type: ignore[attr-defined]
    if store.is_sqlite:
        return _read_sqlite(store, table, schema)
    return _read_rows(store, table, schema)


def read_tables(store: Store) -> dict[str, pl.LazyFrame]:
    """Every table the analysis reads, by model name, as LazyFrames."""
    return {model.__name__: read_table(store, model).lazy() for model in SCHEMAS}
