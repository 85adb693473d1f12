"""How group-inherited licenses are carried out, overlap against enabled plans, attach SKUs."""

from __future__ import annotations

from typing import Any

import pytest

from license_analyzer.store.db import Store
from tests.factories import add_group, object_id
from tests.rules.builders import fact, plan_id, sku
from tests.rules.conftest import Run


def _group(store: Store, name: str, parts: tuple[str, ...] = ("SPE_E3",), **kind: Any) -> str:
    with store.session() as s:
        g = add_group(s, name, skus=[sku(p) for p in parts], members=[object_id("u")],
                      assign_members=False, **kind)
    return g.id


def test_assigned_cloud_security_group_is_removed_from(run: Run, tenant: Store) -> None:
    gid = _group(tenant, "E3 users")
    c = run([fact("u", "SPE_E3", days=90, via_groups=[gid])])["u/SPE_E3"]
    assert c.action == "remove_from_group" and c.blocked_reason is None
    assert c.assigned_via == f"group:{gid}" and c.monthly_saving == 50.0
    assert c.evidence["remove_groups"] == [gid]


@pytest.mark.parametrize(("kind", "expected"), [
    ({"dynamic": True}, "inherited from dynamic group E3 users"),
    ({"on_premises_sync_enabled": True}, "synced from on-premises"),
    ({"mail_enabled": True}, "inherited from mail-enabled group"),
])
def test_groups_apply_cannot_change_are_blocked(run: Run, tenant: Store, kind: dict[str, Any],
                                                expected: str) -> None:
    gid = _group(tenant, "E3 users", **kind)
    c = run([fact("u", "SPE_E3", days=90, via_groups=[gid])])["u/SPE_E3"]
    assert c.blocked_reason is not None and expected in c.blocked_reason
    assert c.blocked_reason.count(":") >= 1  # says what an administrator must do


def test_group_with_another_license_is_blocked(run: Run, tenant: Store) -> None:
    gid = _group(tenant, "Bundle", ("SPE_E3", "DYN365_TEAM_MEMBERS"))
    c = run([fact("u", "SPE_E3", days=90, via_groups=[gid])])["u/SPE_E3"]
    assert c.blocked_reason is not None and "also grants DYN365_TEAM_MEMBERS" in c.blocked_reason


def test_direct_and_blocked_group_saves_nothing(run: Run, tenant: Store) -> None:
    gid = _group(tenant, "Dyn", dynamic=True)
    c = run([fact("u", "SPE_E3", days=90, via_direct=True, via_groups=[gid])])["u/SPE_E3"]
    assert c.assigned_via == f"direct,group:{gid}" and c.action == "remove"
    assert c.monthly_saving == 0.0 and c.blocked_reason is not None


def test_direct_and_removable_group_saves_the_price(run: Run, tenant: Store) -> None:
    gid = _group(tenant, "E3 users")
    c = run([fact("u", "SPE_E3", days=90, via_direct=True, via_groups=[gid])])["u/SPE_E3"]
    assert c.monthly_saving == 50.0 and c.blocked_reason is None
    assert c.evidence["remove_direct"] is True and c.evidence["remove_groups"] == [gid]


def test_protected_user_is_proposed_but_blocked(run: Run) -> None:
    c = run([fact("boss", "SPE_E3", days=90)],
            reclamation={"protected_users": ["boss@contoso.com"]})["boss/SPE_E3"]
    assert c.blocked_reason is not None and "protected user" in c.blocked_reason


def test_overlap_needs_the_mailbox_on_in_the_covering_license(run: Run) -> None:
    exchange_off = [plan_id("EXCHANGE_S_ENTERPRISE")]
    got = run([fact("a", "SPE_E5", days=1, disabled_plans=exchange_off),
               fact("a", "SPE_E3", days=1),
               fact("b", "SPE_E5", days=1), fact("b", "SPE_E3", days=1)])
    assert "a/SPE_E3" not in got  # E5 has its mailbox switched off: E3 keeps the mailbox
    assert got["b/SPE_E3"].rule == "overlap"


def test_overlap_ignores_what_the_covered_license_has_off_itself(run: Run) -> None:
    both_off = [plan_id("EXCHANGE_S_ENTERPRISE")]
    got = run([fact("a", "SPE_E5", days=1, disabled_plans=both_off),
               fact("a", "SPE_E3", days=1, disabled_plans=both_off)])
    assert got["a/SPE_E3"].rule == "overlap"


def test_overlap_switched_off_teams_blocks(run: Run) -> None:
    got = run([fact("a", "SPE_E5", days=1, disabled_plans=[plan_id("TEAMS1")]),
               fact("a", "SPE_E3", days=1)])
    assert "a/SPE_E3" not in got


def test_team_members_beside_full_license_unless_fo_activity(run: Run) -> None:
    got = run([fact("ce", "DYN365_ENTERPRISE_SALES", days=1, read_only=False),
               fact("ce", "DYN365_TEAM_MEMBERS", days=1),
               fact("fo", "DYN365_ENTERPRISE_SALES", days=1, read_only=False),
               fact("fo", "DYN365_TEAM_MEMBERS", days=1, last_activity_source="signin_erp")])
    assert got["ce/DYN365_TEAM_MEMBERS"].rule == "overlap"
    assert "fo/DYN365_TEAM_MEMBERS" not in got


def test_attach_sku_is_never_stranded(run: Run) -> None:
    got = run([fact("u", "DYN365_ENTERPRISE_SALES", days=90),
               fact("u", "D365_CUSTOMER_SERVICE_ENT_ATTACH", days=90)])
    base = got["u/DYN365_ENTERPRISE_SALES"]
    assert base.blocked_reason is not None
    assert "D365_CUSTOMER_SERVICE_ENT_ATTACH needs this license" in base.blocked_reason
    assert got["u/D365_CUSTOMER_SERVICE_ENT_ATTACH"].blocked_reason is None


def test_second_base_keeps_the_attach_company(run: Run) -> None:
    got = run([fact("u", "DYN365_ENTERPRISE_SALES", days=90),
               fact("u", "DYN365_ENTERPRISE_CUSTOMER_SERVICE", days=1, read_only=False),
               fact("u", "D365_CUSTOMER_SERVICE_ENT_ATTACH", days=1)])
    assert got["u/DYN365_ENTERPRISE_SALES"].blocked_reason is None


def test_every_license_of_a_protected_group_member_is_blocked(run: Run, tenant: Store) -> None:
    """Membership protects, not only the path a license comes through: the user's direct
    Team Members license is blocked because the user is in the protected (E3) group."""
    _group(tenant, "Executives")
    got = run([fact("u", "DYN365_TEAM_MEMBERS", days=90)],
              reclamation={"protected_groups": ["executives"]})
    blocked = got["u/DYN365_TEAM_MEMBERS"].blocked_reason
    assert blocked is not None and "member of protected group Executives" in blocked
