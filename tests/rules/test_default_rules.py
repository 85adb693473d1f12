"""Each default rule, priority, exclusions and grace, on hand-made facts, through propose()."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from license_analyzer.store.db import Store
from license_analyzer.store.models import RuleResult
from tests.factories import AS_OF, utc
from tests.rules.builders import fact
from tests.rules.conftest import Run


def test_inactive_user_is_proposed_with_evidence(run: Run) -> None:
    got = run([fact("ann", "SPE_E3", days=75), fact("bob", "SPE_E3", days=10)],
              prices={"SPE_E3": 36.0})
    assert set(got) == {"ann/SPE_E3"}
    c = got["ann/SPE_E3"]
    assert (c.rule, c.action, c.status, c.blocked_reason) == ("inactive", "remove", "proposed",
                                                              None)
    assert c.days_inactive == 75 and c.last_activity_source == "entra_signin"
    assert c.last_activity == AS_OF - timedelta(days=75)
    assert c.monthly_saving == 50.0  # the facts' unit price wins over [prices]
    assert "75 days" in c.reason
    assert c.evidence["coverage_days"] == 170 and c.evidence["active_days_90"] == 1
    assert c.id.startswith("c-") and len(c.id) == 10


def test_each_default_rule(run: Run, tenant: Store) -> None:
    rows = [
        fact("dis", "SPE_E3", days=5, account_enabled=False),
        fact("nev", "SPE_E3", days=None),
        fact("ina", "SPE_E3", days=61),
        fact("low", "SPE_E3", days=20, low_usage=True, active_days_60=2),
        fact("back", "SPE_E3", days=2, low_usage=True, active_days_60=1),
        fact("ro", "DYN365_ENTERPRISE_SALES", days=1, read_only=True),
        fact("rw", "DYN365_ENTERPRISE_SALES", days=1, read_only=False),
        fact("ov", "SPE_E5", days=1), fact("ov", "SPE_E3", days=1),
        fact("free", "POWERAPPS_VIRAL", days=200, is_free=True),
    ]
    got = run(rows)
    assert {k: c.rule for k, c in got.items()} == {
        "dis/SPE_E3": "disabled_account", "nev/SPE_E3": "never_used", "ina/SPE_E3": "inactive",
        "low/SPE_E3": "low_usage", "ro/DYN365_ENTERPRISE_SALES": "downgrade_team_members",
        "ov/SPE_E3": "overlap",
    }
    down = got["ro/DYN365_ENTERPRISE_SALES"]
    assert down.action == "downgrade" and down.target_sku_part_number == "DYN365_TEAM_MEMBERS"
    assert down.blocked_reason is None
    assert "SPE_E5 already includes" in got["ov/SPE_E3"].reason
    with tenant.session() as s:
        results = {r.rule: r for r in s.exec(select(RuleResult))}
    assert results["inactive"].candidates == 1 and results["inactive"].monthly_saving == 50.0
    assert results["overlap"].candidates == 1


def test_downgrade_without_read_only_evidence_needs_review(run: Run) -> None:
    got = run([fact("u", "DYN365_ENTERPRISE_SALES", days=1, read_only=None)],
              prices={"DYN365_ENTERPRISE_SALES": 105.0, "DYN365_TEAM_MEMBERS": 8.0})
    c = got["u/DYN365_ENTERPRISE_SALES"]
    assert c.action == "downgrade" and c.blocked_reason is not None
    assert c.blocked_reason.startswith("needs review")
    assert c.monthly_saving == 50.0 - 8.0



def test_downgrade_to_a_license_of_unknown_price_claims_no_saving(run: Run) -> None:
    # without the target's price the difference is unknown: the held license's full price
    # would overstate what the downgrade saves
    got = run([fact("u", "DYN365_ENTERPRISE_SALES", days=1, read_only=True)],
              prices={"DYN365_ENTERPRISE_SALES": 105.0})
    c = got["u/DYN365_ENTERPRISE_SALES"]
    assert c.action == "downgrade" and c.target_sku_part_number == "DYN365_TEAM_MEMBERS"
    assert c.monthly_saving == 0.0

def test_highest_priority_wins_and_others_are_listed(run: Run) -> None:
    got = run([fact("u", "SPE_E3", days=90, account_enabled=False)])
    c = got["u/SPE_E3"]
    assert c.rule == "disabled_account" and c.also_matching == ["inactive"]


def test_exclusions_keep_rows_out(run: Run, tenant: Store) -> None:
    from tests.factories import add_group, object_id

    with tenant.session() as s:
        add_group(s, "VIPs", members=[object_id("vip")], assign_members=False)
    rows = [fact(name, "SPE_E3", days=90) for name in
            ("ceo", "svc-backup", "guest", "vip", "fin", "pat-x", "plain", "breakglass1")]
    rows[2]["user_type"] = "Guest"
    rows[4]["department"] = "Finance"
    got = run(rows, exclusions={
        "users": ["CEO@contoso.com"], "groups": ["vips"], "departments": ["finance"],
        "account_types": ["guest", "service", "breakglass"], "upn_patterns": ["pat-*@*"]})
    assert set(got) == {"plain/SPE_E3"}


def test_grace_period_after_assignment(run: Run) -> None:
    recent = utc(2026, 11, 1)  # 20 days before AS_OF
    got = run([fact("new", "SPE_E3", days=None, assigned_since=recent),
               fact("newdis", "SPE_E3", days=None, assigned_since=recent,
                    account_enabled=False),
               fact("old", "SPE_E3", days=None, assigned_since=utc(2026, 10, 1))])
    # disabled accounts skip the grace period; the others wait 30 days
    assert set(got) == {"newdis/SPE_E3", "old/SPE_E3"}


def test_per_product_thresholds_generate_rules(run: Run, tenant: Store) -> None:
    got = run([fact("s", "DYN365_ENTERPRISE_SALES", days=70, read_only=False),
               fact("o", "SPE_E3", days=70)],
              analysis={"products": {"sales": {"inactive_days": 90}}})
    assert set(got) == {"o/SPE_E3"}
    got = run([fact("s", "DYN365_ENTERPRISE_SALES", days=95, read_only=False),
               fact("o", "SPE_E3", days=70)],
              analysis={"products": {"sales": {"inactive_days": 90}}})
    assert got["s/DYN365_ENTERPRISE_SALES"].rule == "inactive.sales"
    assert got["o/SPE_E3"].rule == "inactive"
