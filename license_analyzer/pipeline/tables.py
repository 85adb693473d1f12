"""The store's SQL tables as Polars frames: one query per table, explicit schemas, all in one
consistent snapshot of the store.

Everything after this point is lazy. The rows come from the driver as they are (no SQLAlchemy
result processing, which costs tens of microseconds per datetime and JSON value: seconds for
200,000 users) and are typed column by column in Polars: SQLite's datetime text and JSON text are
parsed vectorized, PostgreSQL's already typed values are taken as they come.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import ColumnElement, Select, Table, column, func, select
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
AnySelect = Select[*tuple[Any, ...]]
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
                        "via": pl.String(), "disabled_plans": STRINGS, "state": pl.String(),
                        "error": pl.String(), "graph_updated_at": UTC_TIME,
                        "valid_from": UTC_TIME, "valid_to": UTC_TIME},
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


class Snapshot:
    """Queries that all see the same committed state of the store (one read transaction).

    SQLite in WAL mode gives a transaction a fixed snapshot, and writers are serialized, so the
    user_change log is in commit order. PostgreSQL's REPEATABLE READ gives the snapshot; the SHARE
    lock taken before it waits for transactions still writing user_change and holds new ones off
    until the read ends, so every change numbered below the newest one seen is visible too.
    """

    def __init__(self, store: Store, cursor: Any) -> None:
        self.store = store
        self._cursor = cursor

    def rows(self, query: AnySelect) -> list[Any]:
        """The query's rows through the driver's own cursor: its raw values, without a Row
        object and a Python conversion per value (parameters are rendered inline)."""
        sql = str(query.compile(dialect=self.store.engine.dialect,
                                compile_kwargs={"literal_binds": True}))
        self._cursor.execute(sql)
        return list(self._cursor.fetchall())

    def read(self, model: type[SQLModel], columns: Sequence[str] | None = None,
             where: ColumnElement[bool] | None = None) -> pl.DataFrame:
        """Rows of `model`'s table (those matching `where`), only the columns the pipeline
        uses (or `columns` of them), typed."""
        schema = {name: dtype for name, dtype in SCHEMAS[model].items()
                  if columns is None or name in columns}
        table: Table = model.__table__  # type: ignore[attr-defined]
        if self.store.is_sqlite:
            return self._read_sqlite(table, schema, where)
        query: AnySelect = select(*(column(name) for name in schema)).select_from(table)
        rows = self.rows(query if where is None else query.where(where))
        values = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
        return pl.DataFrame([_column(name, list(v), dtype)
                             for (name, dtype), v in zip(schema.items(), values, strict=True)])

    def _read_sqlite(self, table: Table, schema: dict[str, pl.DataType],
                     where: ColumnElement[bool] | None) -> pl.DataFrame:
        """SQLite builds one JSON array per column (in C, one row) and Polars decodes it (in
        Rust): no Python object per value, several times faster than fetching rows. The
        aggregates of one SELECT see the rows in the same order, so the columns line up."""
        arrays = [func.json_group_array(func.json(table.c[name]) if isinstance(dtype, pl.List)
                                        else table.c[name])
                  for name, dtype in schema.items()]
        query: AnySelect = select(*arrays).select_from(table)
        (row,) = self.rows(query if where is None else query.where(where))
        columns = []
        for (name, dtype), text in zip(schema.items(), row, strict=True):
            series: pl.Series = pl.Series(name, [text]).str.json_decode(
                pl.List(_json_type(dtype)))[0]
            if isinstance(dtype, pl.Datetime):
                series = series.str.to_datetime(_SQLITE_DATETIME, time_unit="us",
                                                time_zone="UTC")
            columns.append(series.cast(dtype).alias(name))
        return pl.DataFrame(columns, schema=schema)


@contextmanager
def snapshot(store: Store, *, lock_changes: bool = False) -> Iterator[Snapshot]:
    """A Snapshot of the store; `lock_changes` (PostgreSQL) makes the user_change log complete
    up to its newest entry (see Snapshot)."""
    connection = store.engine.raw_connection()
    cursor = connection.cursor()
    try:
        if store.is_sqlite:
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM sqlite_master LIMIT 1")  # the snapshot starts here
        else:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            if lock_changes:
                cursor.execute("LOCK TABLE user_change IN SHARE MODE")
        yield Snapshot(store, cursor)
    finally:
        cursor.close()
        connection.rollback()
        connection.close()


def _json_type(dtype: pl.DataType) -> pl.DataType:
    """How a column arrives in SQLite's JSON: datetimes as text, booleans as 0/1."""
    if isinstance(dtype, pl.Datetime):
        return pl.String()
    if isinstance(dtype, pl.Boolean):
        return pl.Int64()
    return dtype


def read_table(store: Store, model: type[SQLModel]) -> pl.DataFrame:
    """All rows of `model`'s table, only the columns the pipeline uses, typed."""
    with snapshot(store) as snap:
        return snap.read(model)


def read_tables(store: Store) -> dict[str, pl.LazyFrame]:
    """Every table the analysis reads, by model name, as LazyFrames, from one snapshot."""
    with snapshot(store) as snap:
        return {model.__name__: snap.read(model).lazy() for model in SCHEMAS}
