"""A reviewer deciding while `propose` runs keeps the decision (SQLite and PostgreSQL).

Two connections: propose reads the candidates on its own, then, right before its first write,
a reviewer decides through another connection and commits. Propose must write back nothing it
read before that decision: its writes compare the version it read (rules/versioning.py).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlmodel import col, select

from license_analyzer.rules.review import decide
from license_analyzer.store.db import Store
from license_analyzer.store.models import Decision
from tests.factories import AS_OF, utc
from tests.rules.conftest import Run, candidates
from tests.rules.test_lifecycle import idle


def test_a_decision_made_while_propose_runs_is_not_lost(run: Run, tenant: Store) -> None:
    ann, bob = idle("ann", utc(2026, 9, 1), AS_OF), idle("bob", utc(2026, 9, 2), AS_OF)
    got = run([ann, bob])
    ann_id, bob_id = got["ann/SPE_E3"].id, got["bob/SPE_E3"].id
    decide(tenant, [ann_id], "approved", by="Jane", note=None)

    fired: list[str] = []

    def reviewer_decides(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # propose has read ann "approved" and bob "proposed" and is about to write them back
        if not fired and statement.lstrip().upper().startswith(("INSERT INTO CANDIDATE",
                                                                 "UPDATE CANDIDATE")):
            fired.append(statement)
            decide(tenant, [ann_id], "rejected", by="Reviewer", note="still needed")
            decide(tenant, [bob_id], "approved", by="Reviewer", note="gone")

    event.listen(tenant.engine, "before_cursor_execute", reviewer_decides)
    try:
        # the next analysis: ann still idle (written back as read), bob's license is gone
        # (propose cancels it)
        got = run([ann])
    finally:
        event.remove(tenant.engine, "before_cursor_execute", reviewer_decides)
    assert fired
    assert (got["ann/SPE_E3"].status, got["bob/SPE_E3"].status) == ("rejected", "approved")
    assert run.outcome.cancelled == 0  # type: ignore[attr-defined]
    with tenant.session() as s:
        kinds = list(s.exec(select(Decision.decision).where(Decision.candidate_id == bob_id)
                            .order_by(col(Decision.id))))
    assert kinds == ["approved"]  # no cancellation recorded for a cancel that did not happen

    # the next run sees the reviewer's decisions and carries on from them
    got = run([ann])
    assert (got["ann/SPE_E3"].status, got["bob/SPE_E3"].status) == ("rejected", "cancelled")
    assert candidates(tenant)["bob/SPE_E3"].version == 2  # proposed 0, approved 1, cancelled 2
