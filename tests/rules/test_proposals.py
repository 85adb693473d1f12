"""The set-based proposals are what the per-row functions give: the evidence hash (reviewers'
approvals are bound to it across versions) and the evidence; and a re-run on the same evidence
writes nothing."""

from __future__ import annotations

from datetime import timedelta

import orjson
import polars as pl
from sqlalchemy import event, inspect
from sqlmodel import delete, select

from license_analyzer.rules.evidence import evidence_hash
from license_analyzer.rules.exports import candidate_export_frame, candidate_export_rows
from license_analyzer.rules.loading import load_rules
from license_analyzer.rules.review import decide
from license_analyzer.rules.writes import insert_candidates
from license_analyzer.store.db import Store
from license_analyzer.store.models import LIST_INDEXES, Candidate
from tests.factories import AS_OF, make_config
from tests.rules.builders import fact
from tests.rules.conftest import Run


def _rows() -> list[dict[str, object]]:
    return [
        fact("ann", "SPE_E3", days=90, last_activity_source='sign-in "é" \\ ✓'),
        fact("bob", "SPE_E3", days=None),
        fact("carl", "DYN365_ENTERPRISE_SALES", days=120, via_groups=["g-1"], read_only=True),
        fact("fred", "DYN365_ENTERPRISE_SALES", days=100, read_only=False),
        fact("dora", "ENTERPRISEPACK", days=2),
        fact("dora", "SPE_E5", days=2),
        fact("eve", "SPE_E3", days=75, account_enabled=False, display_name="Ève \"E\""),
    ]


def test_hash_reason_and_evidence_match_the_per_row_functions(run: Run, tenant: Store) -> None:
    got = run(_rows())
    assert len(got) >= 5
    rules = {r.id: r.rule for r in load_rules(make_config(store=tenant), None)}
    for candidate in got.values():
        evidence = candidate.evidence
        assert evidence_hash(candidate.rule, candidate.action, candidate.target_sku_part_number,
                             candidate.assigned_via, evidence) == candidate.evidence_hash
        assert ("last_activity_day" in evidence) == (evidence["last_activity"] is not None)
        assert candidate.reason and "{" not in candidate.reason
        assert rules[candidate.rule].action in (candidate.action, "remove")
    assert got["ann/SPE_E3"].evidence["last_activity_source"] == 'sign-in "é" \\ ✓'


def test_a_rerun_on_the_same_evidence_writes_no_candidate(run: Run, tenant: Store) -> None:
    run(_rows())
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement)

    event.listen(tenant.engine, "before_cursor_execute", seen)
    try:
        run(_rows())
    finally:
        event.remove(tenant.engine, "before_cursor_execute", seen)
    written = [s for s in statements if s.lstrip().upper().startswith(("INSERT INTO CANDIDATE",
                                                                        "UPDATE CANDIDATE"))]
    assert written == [] and any("FROM candidate" in s for s in statements)
    # the next day moves the day counts: every open candidate is brought up to date
    run(_rows(), as_of=AS_OF + timedelta(days=1))
    with tenant.session() as s:
        assert {c.evidence["as_of"] for c in s.exec(select(Candidate))} == {
            (AS_OF + timedelta(days=1)).isoformat()}


def test_the_export_frame_is_the_export_rows(run: Run, tenant: Store) -> None:
    run(_rows())
    decide(tenant, [next(iter(run(_rows()).values())).id], "approved", by="Jane", note="ok")
    rows = candidate_export_rows(tenant)
    frame = candidate_export_frame(tenant)
    assert len(rows) >= 5 and frame.columns == list(rows[0])
    assert frame.to_dicts() == rows


def test_a_first_insert_rebuilds_the_list_indexes_and_keeps_them(run: Run,
                                                                 tenant: Store) -> None:
    run(_rows())
    with tenant.session() as s:
        rows = [c.model_dump() for c in s.exec(select(Candidate))]
        s.exec(delete(Candidate))
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        evidence=pl.Series([orjson.dumps(r["evidence"]).decode() for r in rows]),
        also_matching=pl.Series([orjson.dumps(r["also_matching"]).decode() for r in rows]))
    with tenant.session() as s:
        insert_candidates(s, frame, table_empty=True, rebuild_from=1)
    names = {i["name"] for i in inspect(tenant.engine).get_indexes("candidate")}
    assert set(LIST_INDEXES) <= names
    with tenant.session() as s:
        back = {c.id: c.model_dump() for c in s.exec(select(Candidate))}
    assert back == {r["id"]: r for r in rows}
