"""The bulk writes of `propose`: SQLAlchemy Core statements in batches, not ORM objects.

A daily run rewrites every open candidate (its day counts and evidence move each day), so the
write must be a few executemany calls: ORM bulk updates split into one statement per distinct
set of null columns, tens of thousands of round trips at 200,000 users.

Every write to a stored candidate is a compare-and-set on the `version` propose read (each row
carries it): a reviewer who decided while propose ran keeps the decision, and the row waits
for the next run (rules/versioning.py). A row whose status changes gets the next version.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Table, bindparam, case, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from license_analyzer.store.models import LIST_INDEXES, Candidate, Decision, RuleResult

BATCH = 5_000
# set when a candidate is first proposed and kept by later runs (decisions set the hash and
# who decided)
_INSERT_ONLY = ("id", "proposed_at", "decided_evidence_hash", "decided_by")


def table_of(model: Any) -> Table:
    """The Core table of a SQLModel class (typed: SQLModel does not declare __table__)."""
    table: Table = model.__table__
    return table


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start:start + BATCH]


def upsert_candidates(session: Session, rows: Sequence[dict[str, Any]],
                      written: bool = False) -> set[str]:
    """New and merged candidates in one statement: insert, or update every column but the
    insert-only ones when the id is already stored at the row's `version`. Every row carries
    every column. `written`: return the ids actually inserted or updated (RETURNING), to tell
    the rows that lost a race to a reviewer; else an empty set."""
    if not rows:
        return set()
    table = table_of(Candidate)
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert(table) if dialect == "sqlite" else pg_insert(table)
    set_: dict[str, Any] = {c.name: insert.excluded[c.name] for c in table.columns
                            if c.name not in _INSERT_ONLY}
    set_["version"] = case((table.c.status == insert.excluded.status, table.c.version),
                           else_=table.c.version + 1)
    stmt = insert.on_conflict_do_update(index_elements=[table.c.id], set_=set_,
                                        where=table.c.version == insert.excluded.version)
    ids: set[str] = set()
    for batch in _batches(rows):
        if written:
            ids.update(session.execute(stmt.returning(table.c.id), batch).scalars())
        else:
            session.execute(stmt, batch)
    return ids


def cancel_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """rows: {id, version (as read), status_reason, updated_at}; returns the ids cancelled.

    A cancelled candidate can be changed by nobody but propose (no decision, apply or restore
    takes one), and propose holds the job lock: so the rows now cancelled at the version after
    the one read are exactly those this call cancelled."""
    if not rows:
        return set()
    table = table_of(Candidate)
    stmt = (update(table).where(table.c.id == bindparam("b_id"),
                                table.c.version == bindparam("b_version"))
            .values(status="cancelled", status_reason=bindparam("b_reason"),
                    updated_at=bindparam("b_updated_at"), version=table.c.version + 1))
    done: set[str] = set()
    for batch in _batches(rows):
        session.execute(stmt, [{"b_id": r["id"], "b_version": r["version"],
                                "b_reason": r["status_reason"],
                                "b_updated_at": r["updated_at"]} for r in batch])
        wanted = {r["id"]: r["version"] + 1 for r in batch}
        done.update(cid for cid, version in session.execute(
            select(table.c.id, table.c.version).where(
                table.c.id.in_(list(wanted)), table.c.status == "cancelled"))
            if wanted[cid] == version)
    return done


def insert_rows(session: Session, model: type[Decision] | type[RuleResult],
                rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    table = table_of(model)
    for batch in _batches(rows):
        session.execute(table.insert(), batch)


_JSON_COLUMNS = ("evidence", "also_matching")


def _driver_rows(frame: pl.DataFrame, dialect: str) -> list[tuple[Any, ...]]:
    """The frame's rows as the database driver takes them, without SQLAlchemy's processing
    of every value (seconds per 300,000 rows): JSON columns are already text; SQLite gets
    dates and datetimes as the text SQLAlchemy stores there, PostgreSQL the Python values."""
    if dialect == "sqlite":
        frame = frame.with_columns(
            *(pl.col(n).dt.strftime("%Y-%m-%d") for n, t in frame.schema.items()
              if t == pl.Date),
            *(_stored_datetime(n, t) for n, t in frame.schema.items()
              if isinstance(t, pl.Datetime)))
    return frame.rows()


def _stored_datetime(name: str, dtype: pl.Datetime) -> pl.Expr:
    """SQLAlchemy's SQLite DATETIME text: naive UTC with microseconds."""
    column = pl.col(name).dt.convert_time_zone("UTC") if dtype.time_zone else pl.col(name)
    return column.dt.strftime("%Y-%m-%d %H:%M:%S%.6f")


def _placeholder(dialect: str, name: str) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    # PostgreSQL takes JSON text into a json column only through a cast
    return f"CAST({mark} AS JSON)" if name in _JSON_COLUMNS and dialect != "sqlite" else mark


def _execute_many(session: Session, sql: str, frame: pl.DataFrame) -> None:
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    for start in range(0, frame.height, BATCH):
        connection.exec_driver_sql(sql, _driver_rows(frame.slice(start, BATCH), dialect))


# into an empty table, building the review app's list indexes after the rows is faster than
# keeping them up to date row by row (4.1 s against 5.9 s for 310,000 candidates on SQLite)
_REBUILD_INDEXES_FROM = 50_000


def insert_candidates(session: Session, frame: pl.DataFrame, *, table_empty: bool = False,
                      rebuild_from: int = _REBUILD_INDEXES_FROM) -> None:
    """New candidates: every column of the frame (JSON columns as text). `table_empty`: the
    candidate table holds no row yet (a first run), so a large insert may rebuild the list
    indexes after it, in the same transaction."""
    if frame.is_empty():
        return
    if table_empty and frame.height >= rebuild_from:
        connection = session.connection()
        indexes = [i for i in table_of(Candidate).indexes if i.name in LIST_INDEXES]
        for index in indexes:
            index.drop(connection)
        _insert(session, frame)
        for index in indexes:
            index.create(connection)
        return
    _insert(session, frame)


def _insert(session: Session, frame: pl.DataFrame) -> None:
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    sql = (f"INSERT INTO {quote(table_of(Candidate).name)}"
           f" ({', '.join(quote(n) for n in frame.columns)})"
           f" VALUES ({', '.join(_placeholder(dialect.name, n) for n in frame.columns)})")
    _execute_many(session, sql, frame)


def update_candidates(session: Session, frame: pl.DataFrame) -> None:
    """Stored candidates whose columns changed, status unchanged: the frame's columns but
    `id` and `version` are set, each row only while the candidate is still at the `version`
    read (a reviewer's decision meanwhile wins; that row waits for the next run)."""
    if frame.is_empty():
        return
    dialect = session.get_bind().dialect
    quote = dialect.identifier_preparer.quote
    names = [n for n in frame.columns if n not in ("id", "version")]
    mark = "?" if dialect.name == "sqlite" else "%s"
    sql = (f"UPDATE {quote(table_of(Candidate).name)} SET "
           + ", ".join(f"{quote(n)} = {_placeholder(dialect.name, n)}" for n in names)
           + f" WHERE {quote('id')} = {mark} AND {quote('version')} = {mark}")
    _execute_many(session, sql, frame.select(*names, "id", "version"))
