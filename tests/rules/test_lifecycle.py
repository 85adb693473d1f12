"""The life cycle of candidates over several runs with changing activity."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from license_analyzer.errors import ConfigError
from license_analyzer.rules.review import decide, list_candidates
from license_analyzer.store.db import Store
from license_analyzer.store.models import Decision
from tests.factories import AS_OF, utc
from tests.rules.builders import fact
from tests.rules.conftest import Run


def idle(user: str, last: datetime | None, on: date, **values: Any) -> dict[str, Any]:
    """`user` holding SPE_E3 as of `on`, last active at `last`."""
    days = (on - last.date()).days if last else None
    return fact(user, "SPE_E3", days=days, last_activity=last, as_of=on, **values)


def decisions(store: Store, cid: str) -> list[tuple[str, str]]:
    with store.session() as s:
        rows = s.exec(select(Decision).where(Decision.candidate_id == cid)
                      .order_by(col(Decision.id)))
        return [(d.decision, d.note or "") for d in rows]


def test_life_cycle_over_runs(run: Run, tenant: Store) -> None:
    ann_last, bob_last, carl_last, dora_last = (utc(2026, 9, 10), utc(2026, 9, 1),
                                                utc(2026, 9, 15), utc(2026, 8, 20))
    d1 = AS_OF
    got = run([idle("ann", ann_last, d1), idle("bob", bob_last, d1), idle("carl", carl_last, d1),
               idle("dora", dora_last, d1)], as_of=d1)
    assert {c.status for c in got.values()} == {"proposed"}
    ids = {k.split("/")[0]: c.id for k, c in got.items()}
    decide(tenant, [ids["ann"], ids["dora"]], "approved", by="Jane", note="ok")
    decide(tenant, [ids["bob"]], "rejected", by="Jane", note="needs it for year end")
    decide(tenant, [ids["carl"]], "snoozed", by="Jane", note=None, until=d1 + timedelta(days=10))

    # run 2: nothing material for ann (an approval survives quiet days); dora is back
    d2 = d1 + timedelta(days=5)
    got = run([idle("ann", ann_last, d2), idle("bob", bob_last, d2), idle("carl", carl_last, d2),
               idle("dora", utc(2026, 11, 25), d2)], as_of=d2)
    status = {k.split("/")[0]: c.status for k, c in got.items()}
    assert status == {"ann": "approved", "bob": "rejected", "carl": "snoozed",
                      "dora": "cancelled"}
    assert got["dora/SPE_E3"].status_reason is not None
    assert "active again" in got["dora/SPE_E3"].status_reason
    assert got["ann/SPE_E3"].days_inactive == (d2 - ann_last.date()).days

    # run 3: carl's snooze is over; ann's evidence changed (an older sign-in surfaced late)
    d3 = d1 + timedelta(days=15)
    got = run([idle("ann", utc(2026, 9, 20), d3), idle("bob", bob_last, d3),
               idle("carl", carl_last, d3), idle("dora", utc(2026, 11, 25), d3)], as_of=d3)
    status = {k.split("/")[0]: c.status for k, c in got.items()}
    assert status == {"ann": "proposed", "bob": "rejected", "carl": "proposed",
                      "dora": "cancelled"}
    kinds = decisions(tenant, ids["ann"])
    assert kinds[0] == ("approved", "ok") and kinds[-1][0] == "reopened"
    assert "last_activity 2026-09-10 -> 2026-09-20" in kinds[-1][1]
    assert decisions(tenant, ids["carl"])[-1][0] == "reopened"

    # run 4: bob has been idle 60 more days since the rejection: proposed again;
    # dora went quiet again and comes back
    d4 = d1 + timedelta(days=90)
    got = run([idle("ann", utc(2026, 9, 20), d4), idle("bob", bob_last, d4),
               idle("carl", carl_last, d4), idle("dora", utc(2026, 11, 25), d4)], as_of=d4)
    status = {k.split("/")[0]: c.status for k, c in got.items()}
    assert status["bob"] == "proposed" and status["dora"] == "proposed"
    assert [d for d, _ in decisions(tenant, ids["dora"])] == ["approved", "cancelled",
                                                             "reopened"]


def test_license_gone_cancels(run: Run, tenant: Store) -> None:
    got = run([idle("ann", utc(2026, 9, 1), AS_OF), idle("bob", None, AS_OF)])
    assert len(got) == 2
    got = run([idle("bob", None, AS_OF)])
    assert got["ann/SPE_E3"].status == "cancelled"
    assert got["ann/SPE_E3"].status_reason == "the license is no longer assigned"


def test_decisions_keep_who_and_refuse_unknown_ids(run: Run, tenant: Store) -> None:
    got = run([idle("ann", utc(2026, 9, 1), AS_OF)])
    cid = got["ann/SPE_E3"].id
    lines = decide(tenant, [cid], "approved", by="Jane Doe", note="fine")
    assert lines == [f"{cid} ann@contoso.com SPE_E3: approved"]
    with tenant.session() as s:
        d = s.exec(select(Decision)).one()
    assert (d.by, d.note, d.evidence_hash) == ("Jane Doe", "fine", got["ann/SPE_E3"].evidence_hash)
    assert d.os_user  # getpass.getuser()
    with pytest.raises(ConfigError, match="No candidate with id c-00000000"):
        decide(tenant, ["c-00000000"], "rejected", by="Jane", note=None)
    [row] = list_candidates(tenant, status="approved")
    assert list(row) == ["id", "profile", "user_id", "user_principal_name", "sku_id",
                         "sku_part_number", "product_name", "rule", "reason", "last_activity",
                         "last_activity_source", "days_inactive", "action",
                         "target_sku_part_number", "assigned_via", "blocked_reason",
                         "monthly_saving", "status", "version", "decided_by"]
    assert row["last_activity"] == "2026-09-01" and row["decided_by"] == "Jane Doe"
    assert row["version"] == 1  # proposed (0), approved (1)


def test_two_reviewers_on_the_same_version_one_wins_the_other_is_told(run: Run,
                                                                      tenant: Store) -> None:
    """What the web app relies on: each reviewer sends the version they saw."""
    from license_analyzer.rules.versioning import DecisionConflict

    got = run([idle("ann", utc(2026, 9, 1), AS_OF), idle("bob", utc(2026, 9, 1), AS_OF)])
    ann, bob = got["ann/SPE_E3"], got["bob/SPE_E3"]
    seen = {r["id"]: r["version"] for r in list_candidates(tenant)}
    decide(tenant, [ann.id], "approved", by="First", note=None,
           expected_versions={ann.id: seen[ann.id]})
    with pytest.raises(DecisionConflict, match=f"Candidate {ann.id} was changed since you saw"
                                               " it \\(it is now approved\\)") as conflict:
        decide(tenant, [bob.id, ann.id], "rejected", by="Second", note=None,
               expected_versions={bob.id: seen[bob.id], ann.id: seen[ann.id]})
    assert conflict.value.ids == [ann.id]
    statuses = {r["id"]: (r["status"], r["version"]) for r in list_candidates(tenant)}
    assert statuses == {ann.id: ("approved", 1), bob.id: ("proposed", 0)}  # all or nothing
    assert decisions(tenant, bob.id) == []


def test_no_decision_lands_while_apply_carries_the_candidate_out(run: Run,
                                                                 tenant: Store) -> None:
    from license_analyzer.rules.versioning import DecisionConflict
    from license_analyzer.store.db import utcnow
    from license_analyzer.store.models import AppliedChange

    ann = run([idle("ann", utc(2026, 9, 1), AS_OF)])["ann/SPE_E3"]
    decide(tenant, [ann.id], "approved", by="Jane", note=None)
    with tenant.session() as s:  # apply has claimed it and is making its Graph calls
        s.add(AppliedChange(candidate_id=ann.id, profile=ann.profile, user_id=ann.user_id,
                            sku_id=ann.sku_id, action="remove", status="started",
                            applied_at=utcnow()))
    with pytest.raises(DecisionConflict, match="being carried out by `candidates apply`"):
        decide(tenant, [ann.id], "rejected", by="Reviewer", note=None)
    assert [r["status"] for r in list_candidates(tenant)] == ["approved"]
