"""The bulk writes of `propose`: SQLAlchemy Core statements in batches, not ORM objects.

A daily run rewrites every open candidate (its day counts and evidence move each day), so the
write must be a few executemany calls: ORM bulk updates split into one statement per distinct
set of null columns, tens of thousands of round trips at 200,000 users.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from license_analyzer.store.models import Candidate, Decision, RuleResult

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


def upsert_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """New and merged candidates in one statement: insert, or update every column but the
    insert-only ones when the id is already stored. Every row carries every column."""
    if not rows:
        return
    table = table_of(Candidate)
    dialect = session.get_bind().dialect.name
    insert = sqlite_insert(table) if dialect == "sqlite" else pg_insert(table)
    stmt = insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={c.name: insert.excluded[c.name] for c in table.columns
              if c.name not in _INSERT_ONLY})
    for batch in _batches(rows):
        session.execute(stmt, batch)


def cancel_candidates(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """rows: {id, status, status_reason, updated_at}."""
    if not rows:
        return
    table = table_of(Candidate)
    stmt = (update(table).where(table.c.id == bindparam("b_id"))
            .values(status=bindparam("b_status"), status_reason=bindparam("b_reason"),
                    updated_at=bindparam("b_updated_at")))
    for batch in _batches(rows):
        session.execute(stmt, [{"b_id": r["id"], "b_status": r["status"],
                                "b_reason": r["status_reason"],
                                "b_updated_at": r["updated_at"]} for r in batch])


def insert_rows(session: Session, model: type[Decision] | type[RuleResult],
                rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    table = table_of(model)
    for batch in _batches(rows):
        session.execute(table.insert(), batch)
