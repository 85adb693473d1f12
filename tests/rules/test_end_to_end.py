"""Through the real pipeline: a hand-built store, analyze, then propose."""

from __future__ import annotations

from datetime import timedelta

from license_analyzer.pipeline.analyze import analyze, load_facts
from license_analyzer.rules.propose import propose
from license_analyzer.rules.schema import FACTS_SCHEMA
from license_analyzer.store.db import Store
from tests.factories import (
    AS_OF,
    SALES_ENV,
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
    utc,
)
from tests.rules.conftest import candidates


def test_analyze_then_propose_over_two_days(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sales = add_sku(s, "DYN365_ENTERPRISE_SALES", enabled=10).sku_id
        add_environment(s, SALES_ENV)
        add_coverage(s, "dataverse_audit", AS_OF - timedelta(days=200),
                     AS_OF + timedelta(days=30), environment=SALES_ENV)
        users = {}
        for name in ("idle", "busy", "never", "grouped"):
            users[name] = add_user(s, name).id
            add_systemuser(s, SALES_ENV, users[name], access_mode=0)
        for name in ("idle", "busy", "never"):
            assign(s, users[name], sales, since=utc(2025, 1, 1))
        add_group(s, "Sales (dynamic)", skus=[sales], members=[users["grouped"]], dynamic=True,
                  since=utc(2025, 1, 1))
        add_activity(s, store, "dataverse_audit",
                     [(users["idle"], days_before(AS_OF, 90)),
                      (users["busy"], days_before(AS_OF, 2)),
                      (users["grouped"], days_before(AS_OF, 100))],
                     environment=SALES_ENV, coverage=False)
    config = make_config(store=store, prices={"DYN365_ENTERPRISE_SALES": 105.0},
                         dataverse=[SALES_ENV])
    outcome = analyze(config, store, AS_OF)
    facts = load_facts(store, outcome.analysis_id)
    assert {k: v for k, v in facts.schema.items() if k in FACTS_SCHEMA} == {
        k: v for k, v in FACTS_SCHEMA.items() if k in facts.schema}
    proposed = propose(config, store, outcome.analysis_id)
    got = candidates(store)
    assert {k: c.rule for k, c in got.items()} == {
        "idle/DYN365_ENTERPRISE_SALES": "inactive",
        "never/DYN365_ENTERPRISE_SALES": "never_used",
        "grouped/DYN365_ENTERPRISE_SALES": "inactive",
    }
    assert got["idle/DYN365_ENTERPRISE_SALES"].monthly_saving == 105.0
    assert got["idle/DYN365_ENTERPRISE_SALES"].last_activity_source == "dataverse_audit"
    blocked = got["grouped/DYN365_ENTERPRISE_SALES"].blocked_reason
    assert blocked is not None and "dynamic group Sales (dynamic)" in blocked
    assert proposed.candidates == 3 and proposed.new == 3

    # the next day the idle user is back
    next_day = AS_OF + timedelta(days=1)
    with store.session() as s:
        add_activity(s, store, "dataverse_audit", [(users["idle"], days_before(next_day, 0))],
                     environment=SALES_ENV, coverage=False)
    outcome = analyze(config, store, next_day)
    proposed = propose(config, store, outcome.analysis_id)
    idle = candidates(store)["idle/DYN365_ENTERPRISE_SALES"]
    assert idle.status == "cancelled" and proposed.cancelled == 1
    assert idle.status_reason is not None and "active again" in idle.status_reason
