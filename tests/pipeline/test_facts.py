"""Facts and buckets on small hand-built stores, one definition of PRODUCT.md per test."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from license_analyzer.pipeline.analyze import analyze, load_facts
from license_analyzer.pipeline.facts import FACT_COLUMNS
from license_analyzer.store.db import Store
from tests.factories import (
    AS_OF,
    SALES_ENV,
    SERVICE_ENV,
    add_activity,
    add_coverage,
    add_environment,
    add_group,
    add_profile,
    add_sku,
    add_systemuser,
    add_user,
    assign,
    days_before,
    make_config,
    object_id,
    utc,
)

LONG_AGO = utc(2025, 1, 1)
COVERAGE_FROM = AS_OF - timedelta(days=200)


def facts_by_upn(store: Store, **config: Any) -> dict[tuple[str, str], dict[str, Any]]:
    analyze(make_config(store=store, **config), store, AS_OF)
    facts = load_facts(store)
    assert facts.columns == FACT_COLUMNS
    return {(r["user_principal_name"].split("@")[0], r["sku_part_number"]): r
            for r in facts.to_dicts()}


def sales_tenant(s: Any, store: Store, *, coverage_from: date = COVERAGE_FROM) -> str:
    """A tenant with Sales Enterprise and one unmapped Dataverse environment audited since
    `coverage_from`; returns the Sales skuId."""
    add_profile(s)
    sku = add_sku(s, "DYN365_ENTERPRISE_SALES", enabled=10)
    add_environment(s, SALES_ENV)
    add_coverage(s, "dataverse_audit", coverage_from, AS_OF + timedelta(days=1),
                 environment=SALES_ENV)
    return sku.sku_id


def sales_user(s: Any, store: Store, name: str, sku: str, *, since: Any = LONG_AGO,
               active: list[Any] | None = None, **user: Any) -> None:
    uid = add_user(s, name, **user).id
    assign(s, uid, sku, since=since)
    add_systemuser(s, SALES_ENV, uid)
    if active:
        add_activity(s, store, "dataverse_audit", [(uid, t) for t in active],
                     environment=SALES_ENV, coverage=False)


@pytest.mark.parametrize(("name", "since", "active", "bucket", "days_since"), [
    ("recent", LONG_AGO, [days_before(AS_OF, 5)], "active", 5),
    ("edge_active", LONG_AGO, [days_before(AS_OF, 59)], "active", 59),
    ("edge_inactive", LONG_AGO, [days_before(AS_OF, 60)], "inactive", 60),
    ("never", LONG_AGO, [], "never_used", None),
    ("new", days_before(AS_OF, 10), [], "in_grace", None),
    ("before_assignment", days_before(AS_OF, 100), [days_before(AS_OF, 120)], "never_used", 120),
])
def test_buckets_from_dataverse_activity(store: Store, name: str, since: Any,
                                         active: list[Any], bucket: str,
                                         days_since: int | None) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        sales_user(s, store, name, sku, since=since, active=active)
    fact = facts_by_upn(store)[(name, "DYN365_ENTERPRISE_SALES")]
    assert fact["bucket"] == bucket
    assert fact["days_since_activity"] == days_since
    assert fact["sufficient_history"] is True
    if active:
        assert fact["last_activity_source"] == "dataverse_audit"


def test_no_systemuser_anywhere_is_no_data(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        # signed in yesterday (to something): Graph's attempts cannot prove them idle
        assign(s, add_user(s, "ghost", last_sign_in_at=days_before(AS_OF, 1)).id, sku,
               since=LONG_AGO)
        assign(s, add_user(s, "gone").id, sku, since=LONG_AGO)
    fact = facts_by_upn(store)[("ghost", "DYN365_ENTERPRISE_SALES")]
    assert fact["bucket"] == "no_data"
    assert fact["coverage_start"] is None and fact["coverage_days"] == 0
    # never signed in anywhere (signInActivity collected, no attempt): certainly idle
    assert facts_by_upn(store)[("gone", "DYN365_ENTERPRISE_SALES")]["bucket"] == "never_used"


def test_auditing_off_is_no_data(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sku = add_sku(s, "DYN365_ENTERPRISE_SALES").sku_id
        add_environment(s, SALES_ENV, user_access_audit_enabled=False)
        add_coverage(s, "dataverse_audit", COVERAGE_FROM, AS_OF + timedelta(days=1),
                     environment=SALES_ENV)
        sales_user(s, store, "quiet", sku, last_sign_in_at=days_before(AS_OF, 1))
    assert facts_by_upn(store)[("quiet", "DYN365_ENTERPRISE_SALES")]["bucket"] == "no_data"


def test_first_run_with_30_days_of_signin_logs_is_insufficient_history_not_inactive(
        store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sku = add_sku(s, "DYN365_ENTERPRISE_SALES").sku_id
        add_coverage(s, "signin_crm", AS_OF - timedelta(days=29), AS_OF + timedelta(days=1))
        for name in ("short", "idle_for_long", "recent_attempt"):
            assign(s, add_user(s, name, last_sign_in_at={
                "short": days_before(AS_OF, 10), "idle_for_long": days_before(AS_OF, 100),
                "recent_attempt": days_before(AS_OF, 2)}[name]).id, sku, since=LONG_AGO)
        never = add_user(s, "never_signed_in")  # sentinels stored as None, activity collected
        assign(s, never.id, sku, since=LONG_AGO)
        unknown = add_user(s, "no_p1_data", sign_in_activity_collected=False)
        assign(s, unknown.id, sku, since=LONG_AGO)
    facts = facts_by_upn(store)
    part = "DYN365_ENTERPRISE_SALES"
    short = facts[("short", part)]
    assert (short["bucket"], short["sufficient_history"], short["coverage_days"]) == (
        "in_grace", False, 30)
    # a failed or successful attempt 2 days ago never makes anyone active ...
    assert facts[("recent_attempt", part)]["bucket"] == "in_grace"
    # ... but an attempt older than the threshold proves the user idle despite short coverage
    assert facts[("idle_for_long", part)]["bucket"] == "never_used"
    assert facts[("idle_for_long", part)]["last_attempt_at"] == days_before(AS_OF, 100)
    assert facts[("never_signed_in", part)]["bucket"] == "never_used"
    assert facts[("no_p1_data", part)]["bucket"] == "in_grace"


def test_failed_attempts_never_make_an_entra_product_active(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        e3 = add_sku(s, "POWER_BI_PRO").sku_id
        add_coverage(s, "entra_signin", AS_OF - timedelta(days=5), AS_OF + timedelta(days=1))
        failing = add_user(s, "failing", last_sign_in_at=days_before(AS_OF, 1),
                           last_non_interactive_sign_in_at=days_before(AS_OF, 1))
        ok = add_user(s, "ok", last_sign_in_at=days_before(AS_OF, 1),
                      last_successful_sign_in_at=days_before(AS_OF, 1))
        old = add_user(s, "old", last_successful_sign_in_at=days_before(AS_OF, 90),
                       last_sign_in_at=days_before(AS_OF, 1))
        for user in (failing, ok, old):
            assign(s, user.id, e3, since=LONG_AGO)
    facts = facts_by_upn(store)
    assert facts[("failing", "POWER_BI_PRO")]["bucket"] == "never_used"
    assert facts[("failing", "POWER_BI_PRO")]["last_activity"] is None
    assert facts[("ok", "POWER_BI_PRO")]["bucket"] == "active"
    assert facts[("ok", "POWER_BI_PRO")]["last_activity_source"] == "entra_signin"
    # Graph keeps lastSuccessfulSignInDateTime since 2023-12: the Entra source speaks that far
    assert facts[("old", "POWER_BI_PRO")]["bucket"] == "inactive"
    assert facts[("old", "POWER_BI_PRO")]["days_since_activity"] == 90


def test_no_p1_makes_entra_products_no_data(store: Store) -> None:
    with store.session() as s:
        add_profile(s, has_p1=False)
        e3 = add_sku(s, "POWER_BI_PRO").sku_id
        add_coverage(s, "entra_signin", COVERAGE_FROM, AS_OF + timedelta(days=1))
        assign(s, add_user(s, "anyone", sign_in_activity_collected=False).id, e3, since=LONG_AGO)
    assert facts_by_upn(store)[("anyone", "POWER_BI_PRO")]["bucket"] == "no_data"


def test_several_environments_with_different_systemuserids(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        add_environment(s, SERVICE_ENV)
        add_coverage(s, "dataverse_audit", COVERAGE_FROM, AS_OF + timedelta(days=1),
                     environment=SERVICE_ENV)
        uid = add_user(s, "multi").id
        assign(s, uid, sku, since=LONG_AGO)
        add_systemuser(s, SALES_ENV, uid, systemuser_id=object_id("su-a"), access_mode=2)
        add_systemuser(s, SERVICE_ENV, uid, systemuser_id=object_id("su-b"), access_mode=2)
        reader = add_user(s, "mixed").id
        assign(s, reader, sku, since=LONG_AGO)
        add_systemuser(s, SALES_ENV, reader, access_mode=2)
        add_systemuser(s, SERVICE_ENV, reader, access_mode=0)
        same_day = days_before(AS_OF, 3)
        add_activity(s, store, "dataverse_audit", [(uid, same_day), (uid, days_before(AS_OF, 4))],
                     environment=SALES_ENV, coverage=False)
        add_activity(s, store, "dataverse_audit", [(uid, same_day.replace(hour=15))],
                     environment=SERVICE_ENV, coverage=False)
    facts = facts_by_upn(store)
    multi = facts[("multi", "DYN365_ENTERPRISE_SALES")]
    assert multi["active_days_30"] == 2  # the day active in both environments counts once
    assert multi["last_activity"] == same_day.replace(hour=15)
    assert multi["dataverse_environments"] == sorted([SALES_ENV, SERVICE_ENV])
    assert multi["read_only"] is True
    assert facts[("mixed", "DYN365_ENTERPRISE_SALES")]["read_only"] is False


def test_environment_mapped_to_one_family_counts_only_for_it(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sales = add_sku(s, "DYN365_ENTERPRISE_SALES").sku_id
        service = add_sku(s, "DYN365_ENTERPRISE_CUSTOMER_SERVICE").sku_id
        add_environment(s, SERVICE_ENV, families=["customer_service"])
        add_coverage(s, "dataverse_audit", COVERAGE_FROM, AS_OF + timedelta(days=1),
                     environment=SERVICE_ENV)
        uid = add_user(s, "agent", last_sign_in_at=days_before(AS_OF, 1)).id
        assign(s, uid, sales, since=LONG_AGO)
        assign(s, uid, service, since=LONG_AGO)
        add_systemuser(s, SERVICE_ENV, uid)
        add_activity(s, store, "dataverse_audit", [(uid, days_before(AS_OF, 1))],
                     environment=SERVICE_ENV, coverage=False)
    facts = facts_by_upn(store)
    assert facts[("agent", "DYN365_ENTERPRISE_CUSTOMER_SERVICE")]["bucket"] == "active"
    sales_fact = facts[("agent", "DYN365_ENTERPRISE_SALES")]
    assert sales_fact["bucket"] == "no_data"
    assert sales_fact["last_activity"] is None


def test_coverage_is_the_earliest_of_the_environments_that_count_where_the_user_is(
        store: Store) -> None:
    late = AS_OF - timedelta(days=20)
    other_env = "https://field.crm.dynamics.com"
    with store.session() as s:
        sku = sales_tenant(s, store)  # SALES_ENV audited since COVERAGE_FROM
        add_environment(s, SERVICE_ENV)
        add_coverage(s, "dataverse_audit", late, AS_OF + timedelta(days=1),
                     environment=SERVICE_ENV)
        # audited for longest, but it counts only for Field Service
        add_environment(s, other_env, families=["field_service"])
        add_coverage(s, "dataverse_audit", COVERAGE_FROM - timedelta(days=100),
                     AS_OF + timedelta(days=1), environment=other_env)
        for name, envs in (("both", [SALES_ENV, SERVICE_ENV]), ("late_only", [SERVICE_ENV]),
                           ("elsewhere", [SERVICE_ENV, other_env])):
            uid = add_user(s, name, last_sign_in_at=days_before(AS_OF, 1)).id
            assign(s, uid, sku, since=LONG_AGO)
            for env in envs:
                add_systemuser(s, env, uid)
    facts = facts_by_upn(store)
    assert facts[("both", "DYN365_ENTERPRISE_SALES")]["coverage_start"] == COVERAGE_FROM
    assert facts[("both", "DYN365_ENTERPRISE_SALES")]["bucket"] == "never_used"
    for name in ("late_only", "elsewhere"):
        fact = facts[(name, "DYN365_ENTERPRISE_SALES")]
        assert fact["coverage_start"] == late
        assert (fact["bucket"], fact["sufficient_history"]) == ("in_grace", False)


def test_group_and_direct_assignment_of_one_sku(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        uid = add_user(s, "both").id
        assign(s, uid, sku, since=utc(2025, 6, 1), disabled_plans=["plan-direct"])
        group = add_group(s, "Sales users", skus=[(sku, ["plan-group"])], members=[uid],
                          since=utc(2025, 3, 1))
        add_systemuser(s, SALES_ENV, uid)
    fact = facts_by_upn(store)[("both", "DYN365_ENTERPRISE_SALES")]
    assert fact["assigned_via"] == f"direct,group:{group.id}"
    assert (fact["via_direct"], fact["via_groups"]) == (True, [group.id])
    assert fact["disabled_plans"] == ["plan-direct"]
    assert fact["assigned_since"] == utc(2025, 3, 1)  # sticky: the earliest path
    assert fact["assigned_since_source"] == "licenseAssignmentStates"


def test_assignment_date_falls_back_to_first_seen(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        uid = add_user(s, "fallback").id
        assign(s, uid, sku, since=utc(2025, 5, 1), graph_updated_at=utc(2025, 7, 1), origin=None)
    fact = facts_by_upn(store)[("fallback", "DYN365_ENTERPRISE_SALES")]
    assert (fact["assigned_since"], fact["assigned_since_source"]) == (utc(2025, 5, 1),
                                                                       "first_seen")


def test_evidence_just_before_and_after_midnight_of_the_as_of_day(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        late = utc(AS_OF.year, AS_OF.month, AS_OF.day, 23, 59, 59)
        after = late + timedelta(seconds=2)
        sales_user(s, store, "owl", sku, active=[days_before(AS_OF, 70), late, after])
    fact = facts_by_upn(store)[("owl", "DYN365_ENTERPRISE_SALES")]
    assert fact["last_activity"] == late
    assert (fact["days_since_activity"], fact["active_days_30"], fact["active_days_90"]) == (
        0, 1, 2)


def test_low_usage_flags_active_users_with_few_days(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        sales_user(s, store, "rare", sku)
        sales_user(s, store, "busy", sku)
        # one file for both: a file replaces every older row of its window's days
        add_activity(s, store, "dataverse_audit",
                     [(object_id("rare"), days_before(AS_OF, d)) for d in (1, 20, 40)]
                     + [(object_id("busy"), days_before(AS_OF, d)) for d in range(1, 9)],
                     environment=SALES_ENV, coverage=False)
    facts = facts_by_upn(store)
    assert facts[("rare", "DYN365_ENTERPRISE_SALES")]["low_usage"] is True
    assert facts[("rare", "DYN365_ENTERPRISE_SALES")]["active_days_60"] == 3
    assert facts[("busy", "DYN365_ENTERPRISE_SALES")]["low_usage"] is False


def test_per_product_thresholds(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        sales_user(s, store, "monthly", sku, active=[days_before(AS_OF, 40)])
    facts = facts_by_upn(store, analysis={"products": {"sales": {"inactive_days": 30}}})
    assert facts[("monthly", "DYN365_ENTERPRISE_SALES")]["bucket"] == "inactive"
    analyze(make_config(store=store, analysis={
        "products": {"sales": {"inactive_days": 30},
                     "dyn365_enterprise_sales": {"inactive_days": 45}}}), store, AS_OF)
    assert load_facts(store)["bucket"].to_list() == ["active"]


def test_unknown_sku_still_appears_named_by_part_number(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        odd = add_sku(s, "CONTOSO_SPECIAL", sku_id=object_id("odd-sku")).sku_id
        assign(s, add_user(s, "odd").id, odd, since=LONG_AGO)
    fact = facts_by_upn(store)[("odd", "CONTOSO_SPECIAL")]
    assert (fact["product_name"], fact["family"]) == ("CONTOSO_SPECIAL", "other")


def test_facts_frame_types_are_stable(store: Store) -> None:
    with store.session() as s:
        sku = sales_tenant(s, store)
        sales_user(s, store, "typed", sku, active=[days_before(AS_OF, 1)])
    analyze(make_config(store=store), store, AS_OF)
    schema = load_facts(store).schema
    assert schema["via_groups"] == pl.List(pl.String)
    assert schema["last_activity"] == pl.Datetime("us", "UTC")
    assert schema["coverage_start"] == pl.Date
    assert schema["as_of"] == pl.Date


def test_nothing_collected_and_no_profile_configured_is_an_empty_analysis(store: Store) -> None:
    # no profile means no evidence channel at all: the activity step has nothing to rank
    outcome = analyze(make_config(store=store, profiles=()), store, AS_OF)
    assert (outcome.users, outcome.assignments) == (0, 0)
    facts = load_facts(store)
    assert facts.height == 0 and facts.columns == FACT_COLUMNS
    assert facts.schema["last_activity_source"] == pl.String
