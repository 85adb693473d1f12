"""Two reviewers deciding on the same candidate at once: one wins, the other is told, nothing
is lost (SQLite and PostgreSQL). The decisions are bound to what each reviewer saw."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlmodel import select

from license_analyzer.errors import ConfigError
from license_analyzer.rules.candidate_page import CandidateQuery, candidate_page
from license_analyzer.rules.review import decide, list_candidates
from license_analyzer.rules.versioning import DecisionConflict
from license_analyzer.store.db import Store
from license_analyzer.store.models import Candidate, Decision
from tests.rules.builders import fact
from tests.rules.conftest import Run


def test_two_reviewers_at_once_one_wins_the_other_is_told(tenant: Store, run: Run) -> None:
    found = run([fact(f"user{i}", "SPE_E3", days=120 + i) for i in range(6)])
    rounds = 5
    outcomes: list[list[Any]] = []
    for attempt in range(rounds):
        # every round starts from the candidate as both pages showed it
        cid = found[f"user{attempt}/SPE_E3"].id
        seen = found[f"user{attempt}/SPE_E3"]
        start = threading.Barrier(2)
        results: list[Any] = []

        def reviewer(decision: str, who: str, oid: str, cid: str = cid,
                     seen: Candidate = seen, results: list[Any] = results,
                     start: threading.Barrier = start) -> None:
            start.wait()
            try:
                decide(tenant, [cid], decision, by=who, note="at once", by_object_id=oid,
                       expected_versions={cid: seen.version},
                       expected_evidence={cid: seen.evidence_hash})
                results.append((who, decision))
            except DecisionConflict as exc:
                results.append(("told", exc.ids))

        threads = [threading.Thread(target=reviewer, args=("approved", "ann@contoso.com",
                                                           "0a")),
                   threading.Thread(target=reviewer, args=("rejected", "bob@contoso.com",
                                                           "0b"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        outcomes.append(results)
        winners = [r for r in results if r[0] != "told"]
        told = [r for r in results if r[0] == "told"]
        assert len(winners) == 1 and told == [("told", [cid])], results
        who, decision = winners[0]
        with tenant.session() as s:
            stored = s.get(Candidate, cid)
            history = list(s.exec(select(Decision).where(Decision.candidate_id == cid)))
        assert stored is not None
        assert (stored.status, stored.decided_by) == (decision, who)
        # nothing lost: the winner's decision is recorded once, the loser's not at all
        assert [(d.decision, d.by, d.by_object_id) for d in history] == [
            (decision, who, "0a" if who.startswith("ann") else "0b")]
    assert len(outcomes) == rounds


def test_a_decision_on_what_changed_since_it_was_shown_is_refused(tenant: Store,
                                                                    run: Run) -> None:
    found = run([fact("dora", "SPE_E3", days=120), fact("eve", "SPE_E3", days=130)])
    dora, eve = found["dora/SPE_E3"], found["eve/SPE_E3"]
    versions = {c.id: c.version for c in (dora, eve)}
    evidence = {c.id: c.evidence_hash for c in (dora, eve)}
    decide(tenant, [dora.id], "approved", by="ann@contoso.com", note=None,
           expected_versions=versions, expected_evidence=evidence)
    # a selection with one candidate someone else just decided: nothing of it is written
    with pytest.raises(DecisionConflict) as refused:
        decide(tenant, [eve.id, dora.id], "rejected", by="bob@contoso.com", note="no",
               expected_versions=versions, expected_evidence=evidence)
    assert refused.value.ids == [dora.id]
    rows = {r["id"]: r for r in list_candidates(tenant)}
    assert (rows[eve.id]["status"], rows[eve.id]["decided_by"]) == ("proposed", None)
    assert (rows[dora.id]["status"], rows[dora.id]["decided_by"]) == ("approved",
                                                                     "ann@contoso.com")
    # evidence that moved (a new analysis) refuses too, and an unknown id is named
    with pytest.raises(DecisionConflict):
        decide(tenant, [eve.id], "approved", by="bob@contoso.com", note=None,
               expected_versions=versions, expected_evidence={eve.id: "another-hash"})
    with pytest.raises(ConfigError, match="No candidate with id c-nope"):
        decide(tenant, ["c-nope"], "approved", by="bob@contoso.com", note=None,
               expected_versions={"c-nope": 0})


def test_the_list_page_filters_sorts_and_pages_in_sql(tenant: Store, run: Run) -> None:
    rows = [fact(f"p{i:02d}", "SPE_E3", days=70 + i, display_name=f"Person {i:02d}",
                 department="Sales" if i % 2 else "Legal") for i in range(30)]
    found = run(rows)
    page = candidate_page(tenant, CandidateQuery(department="Legal", sort="idle", size=4))
    assert page.total == 15 and page.pages == 4
    idle = [r["days_inactive"] for r in page.rows]
    assert idle == sorted(idle, reverse=True) and len(idle) == 4
    assert {r["department"] for r in page.rows} == {"Legal"}
    last = candidate_page(tenant, CandidateQuery(department="Legal", sort="idle", size=4,
                                                 page=9))
    assert last.query.page == 4 and len(last.rows) == 3  # past the end: the last page
    text = candidate_page(tenant, CandidateQuery(text="PERSON 07"))
    assert [r["user_principal_name"] for r in text.rows] == ["p07@contoso.com"]
    assert candidate_page(tenant, CandidateQuery(text=found["p03/SPE_E3"].id)).total == 1
    wildcard = candidate_page(tenant, CandidateQuery(text="%"))
    assert wildcard.total == 0  # LIKE's wildcards are searched for, not obeyed
    mine = candidate_page(tenant, CandidateQuery(), reports=[(found["p05/SPE_E3"].profile,
                                                              found["p05/SPE_E3"].user_id)])
    assert [r["id"] for r in mine.rows] == [found["p05/SPE_E3"].id]
    assert candidate_page(tenant, CandidateQuery(), reports=[]).total == 0
