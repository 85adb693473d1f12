"""The store's SQL tables as Polars frames: one query per table, explicit schemas.

Everything after this point is lazy; these reads are the only row-by-row work, and they touch
the small tables (users, assignments, SKUs), never the activity rows (Parquet).
"""

from __future__ import annotations

from typing import Any

import polars as pl
from sqlalchemy import Table, select
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


def read_table(store: Store, model: type[SQLModel]) -> pl.DataFrame:
    """All rows of `model`'s table, only the columns the pipeline uses, typed."""
    schema = SCHEMAS[model]
    table: Table = model.__table__  # type: ignore[attr-defined]
    query = select(*(table.c[name] for name in schema))
    with store.engine.connect() as conn:
        rows: list[Any] = [tuple(r) for r in conn.execute(query)]
    return pl.DataFrame(rows, schema=schema, orient="row")


def read_tables(store: Store) -> dict[str, pl.LazyFrame]:
    """Every table the analysis reads, by model name, as LazyFrames."""
    return {model.__name__: read_table(store, model).lazy() for model in SCHEMAS}
