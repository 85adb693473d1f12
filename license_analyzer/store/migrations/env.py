"""Alembic environment: the engine comes from the caller (store/migrate.py), never from a file."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import license_analyzer.store.models  # noqa: F401  (registers the tables)

target_metadata = SQLModel.metadata
engine = context.config.attributes["engine"]

# Tables the product keeps outside SQLModel (APScheduler's job store) are not ours to migrate.
FOREIGN_TABLES = {"apscheduler_jobs"}


def include_object(obj: object, name: str | None, type_: str, reflected: bool,
                   compare_to: object) -> bool:
    return not (type_ == "table" and name in FOREIGN_TABLES)


def configure(connection: Connection, **extra: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
        **extra,
    )


def migrate_sqlite(connection: Connection) -> None:
    """One real transaction around every step: Python's sqlite3 otherwise commits each CREATE
    on its own, and a run killed mid-migration would leave half a schema and no version."""
    driver = connection.connection.driver_connection
    assert driver is not None
    previous = driver.isolation_level
    driver.isolation_level = None  # we say BEGIN and COMMIT ourselves
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            configure(connection, transactional_ddl=False)
            context.run_migrations()
        except BaseException:
            connection.exec_driver_sql("ROLLBACK")
            raise
        connection.exec_driver_sql("COMMIT")
    finally:
        driver.isolation_level = previous


if engine.dialect.name == "sqlite":
    with engine.connect() as sqlite_connection:
        migrate_sqlite(sqlite_connection)
else:
    with engine.begin() as connection:
        configure(connection)
        with context.begin_transaction():
            context.run_migrations()
