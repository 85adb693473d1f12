"""The columnar table reader returns exactly what the ORM does, on every backend."""

from __future__ import annotations

from datetime import datetime

import polars as pl
from sqlmodel import SQLModel, select

from license_analyzer.pipeline.tables import SCHEMAS, read_table
from license_analyzer.store.db import Store
from tests.factories import (
    SALES_ENV,
    add_environment,
    add_profile,
    add_sku,
    add_systemuser,
    add_user,
    assign,
    utc,
)


def _tenant(store: Store) -> None:
    with store.session() as s:
        add_profile(s, has_p1=None)
        sku = add_sku(s, "SPE_E3").sku_id
        add_environment(s, SALES_ENV)
        alice = add_user(s, "alice", department="Sales", created_at=utc(2024, 5, 6, 7, 8, 9),
                         last_sign_in_at=datetime(2026, 11, 20, 9, 30, 1, 123456,
                                                  tzinfo=utc(2026, 1, 1).tzinfo))
        bob = add_user(s, "bob", account_enabled=False, sign_in_activity_collected=False)
        assign(s, alice.id, sku, since=utc(2025, 1, 1), disabled_plans=["plan-b", "plan-a"])
        assign(s, bob.id, sku, since=utc(2025, 2, 1))
        add_systemuser(s, SALES_ENV, alice.id)
        add_systemuser(s, SALES_ENV, None)


def _orm(store: Store, model: type[SQLModel]) -> pl.DataFrame:
    schema = SCHEMAS[model]
    with store.session() as session:
        rows = session.exec(select(model)).all()
        data = {name: [getattr(row, name) for row in rows] for name in schema}
    return pl.DataFrame(data, schema=schema)


def test_read_table_matches_the_orm(store: Store) -> None:
    _tenant(store)
    for model in SCHEMAS:
        got = read_table(store, model)
        want = _orm(store, model)
        assert got.schema == want.schema, model.__name__
        keys = [c for c, t in want.schema.items() if not isinstance(t, pl.List)]
        assert got.sort(keys).equals(want.sort(keys)), model.__name__


def test_read_table_of_an_empty_table_is_typed(store: Store) -> None:
    for model in SCHEMAS:
        frame = read_table(store, model)
        assert frame.height == 0
        assert frame.schema == pl.Schema(SCHEMAS[model])
