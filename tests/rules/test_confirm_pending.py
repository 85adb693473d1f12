"""Group removals are confirmed by a later collect that no longer sees the inherited license."""

from __future__ import annotations

from sqlmodel import select

from license_analyzer.rules.apply import PENDING_NOTE, confirm_pending
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import AppliedChange, Candidate, LicenseAssignment
from tests.factories import PROFILE, assign, make_config, object_id, utc
from tests.rules.builders import sku


def test_confirm_pending_after_collect(store: Store) -> None:
    user, group = object_id("u"), object_id("group:g")
    with store.session() as s:
        s.add(Candidate(id="c-00000001", profile=PROFILE, user_id=user,
                        user_principal_name="u@contoso.com", sku_id=sku("SPE_E3"),
                        sku_part_number="SPE_E3", product_name="E3", rule="inactive", reason="",
                        action="remove_from_group", assigned_via=f"group:{group}",
                        evidence_hash="h", status="applied", status_reason=PENDING_NOTE,
                        proposed_at=utcnow(), updated_at=utcnow()))
        s.add(AppliedChange(candidate_id="c-00000001", profile=PROFILE, user_id=user,
                            sku_id=sku("SPE_E3"), action="remove_from_group", group_id=group,
                            prior={"group_ids": [group]}, status="pending_confirmation",
                            applied_at=utcnow()))
        row = assign(s, user, sku("SPE_E3"), via=group)
    config = make_config(store=store)
    assert confirm_pending(config, store) == 0  # the collect still sees it
    with store.session() as s:
        current = s.get(LicenseAssignment, row.id)
        assert current is not None
        current.valid_to = utc(2026, 11, 22)
    assert confirm_pending(config, store) == 1
    with store.session() as s:
        change = s.exec(select(AppliedChange)).one()
        candidate = s.exec(select(Candidate)).one()
    assert change.status == "confirmed" and change.confirmed_at is not None
    assert candidate.status == "applied" and candidate.status_reason is None
