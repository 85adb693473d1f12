"""`export activity`: the streamed export against its definition (every activity day row joined
to the products its channel counts for, then summed per (user, product, source, day))."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl

from license_analyzer.config import Config
from license_analyzer.pipeline.export import EXPORT_SCHEMA, channel_products, export_activity
from license_analyzer.store.activity import scan_activity
from license_analyzer.store.db import Store
from tests.factories import (
    AS_OF,
    SALES_ENV,
    SERVICE_ENV,
    add_activity,
    add_environment,
    add_profile,
    add_user,
    days_before,
    make_config,
)

KEY = ["profile", "user_id", "product", "source", "day"]
D1, D2, D3 = (AS_OF - timedelta(days=n) for n in (3, 2, 1))


def at(day: date, hour: int) -> datetime:
    return days_before(day, 0, hour)


def _store(store: Store) -> tuple[str, str]:
    with store.session() as s:
        add_profile(s)
        # the sales environment counts for Sales only, the unmapped one for every CE family
        add_environment(s, SALES_ENV, families=["sales"])
        add_environment(s, SERVICE_ENV)
        a, b = add_user(s, "a").id, add_user(s, "b").id
        add_activity(s, store, "dataverse_audit", [(a, at(D1, 9), 2), (b, at(D2, 10), 1)],
                     environment=SALES_ENV)
        add_activity(s, store, "dataverse_audit", [(a, at(D1, 15), 5), (a, at(D3, 8), 9)],
                     environment=SERVICE_ENV)
        # a re-collection of D3 in the service environment: it replaces the 9 events above
        add_activity(s, store, "dataverse_audit", [(a, at(D3, 11), 4)], environment=SERVICE_ENV,
                     window_start=D3, window_end=D3)
        add_activity(s, store, "signin_crm", [(a, at(D1, 8), 1)])
        add_activity(s, store, "entra_signin", [(b, at(D2, 7), 1)])
    return a, b


def _by_definition(store: Store, config: Config) -> pl.DataFrame:
    mapping = channel_products(config, store).lazy()
    return (scan_activity(store).join(mapping, on=["profile", "source", "environment"])
            .group_by(KEY).agg(pl.col("events").sum(), pl.col("last_at").max())
            .select(list(EXPORT_SCHEMA)).sort(KEY).collect())


def test_export_merges_environments_per_product_and_equals_its_definition(
        store: Store, tmp_path: Path) -> None:
    a, b = _store(store)
    config = make_config(store=store)
    out = tmp_path / "out" / "activity.parquet"
    rows = export_activity(config, store, out)
    frame = pl.read_parquet(out)
    assert rows == frame.height and frame.schema == pl.Schema(EXPORT_SCHEMA)
    assert frame.select(KEY).is_unique().all()
    assert frame.sort(KEY).equals(_by_definition(store, config))

    def row(user: str, product: str, source: str, day: date) -> tuple[int, datetime]:
        hit = frame.filter((pl.col("user_id") == user) & (pl.col("product") == product)
                           & (pl.col("source") == source) & (pl.col("day") == day))
        assert hit.height == 1, (user, product, source, day)
        return hit["events"][0], hit["last_at"][0]

    # Sales counts both environments: one row, events summed, the later time kept
    assert row(a, "sales", "dataverse_audit", D1) == (7, at(D1, 15))
    # Customer Service counts only the unmapped environment
    assert row(a, "customer_service", "dataverse_audit", D1) == (5, at(D1, 15))
    assert row(a, "customer_service", "dataverse_audit", D3) == (4, at(D3, 11))
    assert frame.filter((pl.col("user_id") == b) & (pl.col("product") == "customer_service")
                        & (pl.col("source") == "dataverse_audit")).height == 0
    # a CRM sign-in counts once for every customer-engagement family
    crm = frame.filter((pl.col("user_id") == a) & (pl.col("source") == "signin_crm"))
    assert {"sales", "customer_service", "field_service"} <= set(crm["product"])
    assert crm["events"].to_list() == [1] * crm.height
    assert row(b, "other", "entra_signin", D2) == (1, at(D2, 7))
    assert sorted(p.name for p in out.parent.iterdir()) == ["activity.parquet"]  # no temp left


def test_export_of_an_empty_store_is_an_empty_file(store: Store, tmp_path: Path) -> None:
    with store.session() as s:
        add_profile(s)
    out = tmp_path / "activity.parquet"
    assert export_activity(make_config(store=store), store, out) == 0
    assert pl.read_parquet(out).schema == pl.Schema(EXPORT_SCHEMA)
