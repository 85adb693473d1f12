"""Which workload counts for which SKU (catalog families.toml), the usage reports' lag and
reach, and the per-workload facts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from license_analyzer.catalog import load_families
from license_analyzer.store.db import Store
from tests.factories import (
    AS_OF,
    add_activity,
    add_coverage,
    add_profile,
    add_sku,
    add_user,
    assign,
    days_before,
    utc,
)
from tests.pipeline.test_facts import facts_by_upn

LONG_AGO = utc(2025, 1, 1)
WORKLOADS = ("m365_exchange", "m365_teams", "m365_onedrive", "m365_sharepoint",
             "m365_viva_engage", "m365_office_apps", "m365_copilot")


def test_the_catalog_maps_skus_to_the_workloads_that_count() -> None:
    families = load_families()
    assert families.family_of("SPE_E3") == "microsoft_365"
    assert families.family_of("spe_e5") == "microsoft_365"
    assert families.family_of("Microsoft_365_Copilot") == "copilot"
    assert families.family_of("TEAMS_ESSENTIALS_AAD") == "teams"
    assert families.family_of("EXCHANGESTANDARD") == "exchange"
    assert families.family_of("OFFICESUBSCRIPTION") == "office_apps"
    suite = families.families["microsoft_365"].sources
    assert set(suite) == set(WORKLOADS) - {"m365_copilot"}
    assert "entra_signin" not in suite  # a signed-in session alone is not use
    assert families.families["copilot"].sources == ("m365_copilot",)
    assert families.families["teams"].sources == ("m365_teams",)
    assert families.families["exchange"].sources == ("m365_exchange",)


def _tenant(s: Any, reports_for_days: int = 200, refresh_lag: int = 2) -> dict[str, str]:
    """Usage reports read up to AS_OF - refresh_lag; every workload source covered."""
    add_profile(s)
    skus = {p: add_sku(s, p).sku_id for p in ("SPE_E3", "Microsoft_365_Copilot",
                                              "TEAMS_ESSENTIALS_AAD", "POWER_BI_PRO")}
    refresh = AS_OF - timedelta(days=refresh_lag)
    for source in WORKLOADS:
        add_coverage(s, source, refresh - timedelta(days=reports_for_days), refresh
                     + timedelta(days=1))
    add_coverage(s, "entra_signin", AS_OF - timedelta(days=200), AS_OF + timedelta(days=1))
    return skus


def test_each_sku_counts_only_its_workloads(store: Store) -> None:
    with store.session() as s:
        skus = _tenant(s)
        mail = add_user(s, "mail", last_successful_sign_in_at=days_before(AS_OF, 1))
        teams = add_user(s, "teams", last_successful_sign_in_at=days_before(AS_OF, 1))
        signin = add_user(s, "signin", last_successful_sign_in_at=days_before(AS_OF, 1),
                          last_sign_in_at=days_before(AS_OF, 1))
        for user in (mail, teams, signin):
            for sku in skus.values():
                assign(s, user.id, sku, since=LONG_AGO)
        add_activity(s, store, "m365_exchange", [(mail.id, days_before(AS_OF, 3))],
                     coverage=False)
        add_activity(s, store, "m365_teams", [(teams.id, days_before(AS_OF, 4))],
                     coverage=False)
    facts = facts_by_upn(store)
    # a suite counts any of its workloads
    assert facts[("mail", "SPE_E3")]["bucket"] == "active"
    assert facts[("mail", "SPE_E3")]["last_activity_source"] == "m365_exchange"
    assert facts[("teams", "SPE_E3")]["bucket"] == "active"
    # Copilot counts only Copilot: mail or Teams is not Copilot use
    assert facts[("mail", "Microsoft_365_Copilot")]["bucket"] == "never_used"
    assert facts[("teams", "Microsoft_365_Copilot")]["bucket"] == "never_used"
    # a Teams-only SKU counts Teams
    assert facts[("teams", "TEAMS_ESSENTIALS_AAD")]["bucket"] == "active"
    assert facts[("mail", "TEAMS_ESSENTIALS_AAD")]["bucket"] == "never_used"
    # signed in every day, no workload: the suite is not used; an Entra-only SKU still is
    assert facts[("signin", "SPE_E3")]["bucket"] == "never_used"
    assert facts[("signin", "POWER_BI_PRO")]["bucket"] == "active"
    # per-workload last activity, on Microsoft 365 rows only
    row = facts[("mail", "SPE_E3")]
    assert row["last_exchange_at"].date() == (AS_OF - timedelta(days=3))
    assert row["last_teams_at"] is None and row["mail_only"] is True
    assert facts[("teams", "SPE_E3")]["mail_only"] is False
    assert facts[("mail", "POWER_BI_PRO")]["last_exchange_at"] is None
    assert facts[("mail", "POWER_BI_PRO")]["mail_only"] is None


def test_without_report_evidence_a_suite_has_no_data(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        e3 = add_sku(s, "SPE_E3").sku_id
        add_coverage(s, "entra_signin", AS_OF - timedelta(days=200), AS_OF + timedelta(days=1))
        user = add_user(s, "someone", last_successful_sign_in_at=days_before(AS_OF, 1),
                        last_sign_in_at=days_before(AS_OF, 1))
        assign(s, user.id, e3, since=LONG_AGO)
    row = facts_by_upn(store)[("someone", "SPE_E3")]
    assert row["bucket"] == "no_data"


@pytest.mark.parametrize(("lag", "speaks"), [(2, True), (6, True), (9, False)])
def test_the_refresh_lag_of_a_few_days_still_speaks(store: Store, lag: int, speaks: bool
                                                    ) -> None:
    """Reports run about two days behind (Copilot three): their evidence stays current for a
    week without a new refresh date, unlike a sign-in source's three days."""
    with store.session() as s:
        skus = _tenant(s, reports_for_days=10, refresh_lag=lag)
        # signs in (so the attempts do not prove them idle) but uses no workload
        user = add_user(s, "idle", last_sign_in_at=days_before(AS_OF, 1))
        assign(s, user.id, skus["SPE_E3"], since=LONG_AGO)
    row = facts_by_upn(store)[("idle", "SPE_E3")]
    if speaks:
        assert row["bucket"] == "never_used"
        # the first pull asks D180: its last activity reaches 179 days before the first
        # refresh date, though active days count only from that date on
        assert row["coverage_days"] >= 179
    else:
        assert row["bucket"] == "no_data"


def test_low_usage_counts_days_only_from_the_first_refresh_date(store: Store) -> None:
    with store.session() as s:
        skus = _tenant(s, reports_for_days=5)
        user = add_user(s, "new")
        assign(s, user.id, skus["SPE_E3"], since=LONG_AGO)
        add_activity(s, store, "m365_exchange", [(user.id, days_before(AS_OF, 3))],
                     coverage=False)
    row = facts_by_upn(store)[("new", "SPE_E3")]
    assert row["bucket"] == "active"
    assert row["low_usage"] is None  # five days of counted evidence cannot span the window
