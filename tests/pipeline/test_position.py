"""License position, department position, usage rows and the activity export."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
from sqlmodel import select

from license_analyzer.pipeline.analyze import analyze
from license_analyzer.pipeline.export import export_activity
from license_analyzer.pipeline.usage import USAGE_FIELDS, usage_rows
from license_analyzer.store.db import Store
from license_analyzer.store.models import DepartmentPositionDaily, PositionDaily
from tests.factories import (
    AS_OF,
    SALES_ENV,
    add_activity,
    add_coverage,
    add_environment,
    add_profile,
    add_sku,
    add_subscription,
    add_systemuser,
    add_user,
    assign,
    days_before,
    make_config,
    utc,
)

PRICES = {"DYN365_ENTERPRISE_SALES": 100.0, "FLOW_FREE": 5.0, "CDS_DB_CAPACITY": 40.0,
          "CRMSTANDARD": 50.0}


def _tenant(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sales = add_sku(s, "DYN365_ENTERPRISE_SALES", enabled=10).sku_id
        free = add_sku(s, "FLOW_FREE", enabled=10000).sku_id
        add_sku(s, "CDS_DB_CAPACITY", enabled=20, applies_to="Company")
        zero = add_sku(s, "CRMSTANDARD", enabled=0, suspended=25,
                       capability_status="Suspended").sku_id
        add_subscription(s, sales, total_licenses=6, next_lifecycle_at=utc(2027, 1, 31),
                         id="sub-a")
        add_subscription(s, sales, total_licenses=4, next_lifecycle_at=utc(2027, 3, 31),
                         id="sub-b")
        add_environment(s, SALES_ENV)
        add_coverage(s, "dataverse_audit", AS_OF - timedelta(days=300), AS_OF + timedelta(1),
                     environment=SALES_ENV)
        rows = []
        for name, dept, last in [("a", "Sales", 1), ("b", "Sales", 90), ("c", "IT", None),
                                 ("d", None, 3)]:
            uid = add_user(s, name, department=dept, last_sign_in_at=days_before(AS_OF, 1)).id
            assign(s, uid, sales, since=utc(2025, 1, 1))
            assign(s, uid, free, since=utc(2025, 1, 1))
            assign(s, uid, zero, since=utc(2025, 1, 1))
            add_systemuser(s, SALES_ENV, uid)
            if last is not None:
                rows.append((uid, days_before(AS_OF, last), 3))
        add_activity(s, store, "dataverse_audit", rows, environment=SALES_ENV, coverage=False)


def test_position_per_sku(store: Store) -> None:
    _tenant(store)
    analyze(make_config(store=store, prices=PRICES), store, AS_OF)
    with store.session() as s:
        rows = {r.sku_part_number: r for r in s.exec(select(PositionDaily)).all()}
    sales = rows["DYN365_ENTERPRISE_SALES"]
    assert (sales.purchased, sales.assigned, sales.active, sales.inactive, sales.never_used) == (
        10, 4, 2, 1, 1)
    assert (sales.unassigned, sales.over_assigned) == (6, 0)
    assert sales.monthly_cost == 1000.0
    assert sales.monthly_waste == 800.0  # 6 unassigned + 1 inactive + 1 never used
    assert sales.reducible_at_renewal == 8  # 6 at the first renewal, 2 at the second
    assert sales.next_renewal is not None and sales.next_renewal.isoformat() == "2027-01-31"
    assert (rows["FLOW_FREE"].monthly_waste, rows["FLOW_FREE"].waste_counts) == (0.0, False)
    capacity = rows["CDS_DB_CAPACITY"]
    assert (capacity.assigned, capacity.monthly_waste, capacity.reducible_at_renewal) == (
        0, 0.0, 0)
    suspended = rows["CRMSTANDARD"]
    assert (suspended.purchased, suspended.assigned, suspended.over_assigned,
            suspended.unassigned) == (0, 4, 4, 0)


def test_usage_rows_have_the_contract_fields_and_add_up(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store, prices=PRICES)
    assert usage_rows(store, config) == []
    analyze(config, store, AS_OF - timedelta(days=1))
    analyze(config, store, AS_OF)
    rows = usage_rows(store, config)
    assert len(rows) == 4
    for row in rows:
        assert list(row) == USAGE_FIELDS
        assert row["assigned"] == sum(row[b] for b in (
            "active", "inactive", "never_used", "in_grace", "no_data"))
    with store.session() as s:
        days = {r.day for r in s.exec(select(PositionDaily)).all()}
    assert days == {AS_OF, AS_OF - timedelta(days=1)}  # the history for trends


def test_department_position(store: Store) -> None:
    _tenant(store)
    analyze(make_config(store=store, prices=PRICES), store, AS_OF)
    with store.session() as s:
        rows = {r.department: r for r in s.exec(select(DepartmentPositionDaily)).all()}
    assert set(rows) == {"Sales", "IT", ""}
    assert (rows["Sales"].assigned, rows["Sales"].unused) == (6, 2)  # b: Sales + CRM Online
    # Sales licenses (100) + Flow Free (5) + CRM Online (50) each; waste only the inactive Sales
    assert rows["Sales"].monthly_cost == 310.0
    assert rows["Sales"].monthly_waste == 150.0  # inactive b: Sales 100 + CRM Online 50


def test_reanalysis_of_a_day_replaces_its_positions(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store, prices=PRICES)
    analyze(config, store, AS_OF)
    analyze(config, store, AS_OF)
    with store.session() as s:
        assert len(s.exec(select(PositionDaily)).all()) == 4


def test_export_activity_one_row_per_product_source_day(store: Store, tmp_path: Path) -> None:
    _tenant(store)
    out = tmp_path / "export" / "activity.parquet"
    rows = export_activity(make_config(store=store), store, out)
    frame = pl.read_parquet(out)
    assert rows == frame.height
    assert frame.columns == ["profile", "user_id", "product", "source", "day", "events",
                             "last_at"]
    assert frame.filter(pl.col("product") == "sales").height == 3
    assert "finance" not in frame["product"].to_list()  # Dataverse never counts for ERP
    assert frame.select("profile", "user_id", "product", "source", "day").is_unique().all()
