"""Verdicts on a simulated tenant that behaves like a real one (simulator traps on by default):
collect, analyze, propose and the report's data, once for the module."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from sqlmodel import select

from license_analyzer.config import Config
from license_analyzer.pipeline.analyze import load_facts
from license_analyzer.pipeline.usage import usage_rows
from license_analyzer.report.build import Report, collect_report, write_report
from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store
from license_analyzer.store.models import AssignmentErrorDaily, Candidate, DirectoryUser
from tests.sources.simhelp import NOW, analysed_tenant

AS_OF = NOW.date()
CS = "749742bf-0d37-4158-a120-33567104deeb"  # DYN365_ENTERPRISE_CUSTOMER_SERVICE


@dataclass
class Tenant:
    sim: Simulator
    store: Store
    config: Config
    facts: pl.DataFrame
    report: Report
    folder: Path


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenant]:
    folder = tmp_path_factory.mktemp("verdicts")
    with analysed_tenant(folder) as (sim, store, config, analysis_id):
        report = collect_report(config, store, AS_OF, None)
        yield Tenant(sim, store, config, load_facts(store, analysis_id), report, folder)


def _facts_of(tenant: Tenant, user_id: str) -> dict[str, dict[str, Any]]:
    rows = tenant.facts.filter(pl.col("user_id") == user_id.lower()).to_dicts()
    return {r["sku_id"]: r for r in rows}


def test_an_assignment_in_error_holds_no_seat_and_is_shown_as_an_error(tenant: Tenant) -> None:
    failed = {(u["id"].lower(), f["skuId"]) for u in tenant.sim.truth.users()
              for f in u["failed"]}
    assert failed
    for user_id, sku in failed:
        assert sku not in _facts_of(tenant, user_id)  # not assigned, so never judged
    with tenant.store.session() as session:
        candidates = {(c.user_id, c.sku_id) for c in session.exec(select(Candidate)).all()}
        errors = session.exec(select(AssignmentErrorDaily)).all()
    assert not failed & candidates
    assert {(e.user_id, e.sku_id) for e in errors} == failed
    assert {e.error for e in errors} == {"CountViolation"}
    assert all(e.assigned_via.startswith("group:") for e in errors)
    cs = next(r for r in usage_rows(tenant.store, tenant.config) if r["sku_id"] == CS)
    assert cs["assignment_errors"] == len(failed)
    held = sum(1 for u in tenant.sim.truth.users() if CS in u["sku_ids"])
    assert cs["assigned"] == held  # what Graph counts as consumed
    shown = [e for e in tenant.report.assignment_errors if e.row.sku_id == CS]
    assert len(shown) == len(failed)
    assert {e.via for e in shown} == {"Customer Service Team"}
    assert "not enough licenses" in shown[0].fix


def test_use_seen_only_in_non_interactive_sign_ins_counts(tenant: Tenant) -> None:
    """People who work in Finance & Operations only through the Excel add-in and token
    refreshes are active, with the kind of sign-in their last activity came from."""
    days = tenant.sim.truth.activity_days()
    interactive = {u for u, s, _, _, _ in days if s == "signin_erp"}
    only_ni = {u.lower() for u, s, _, _, _ in days
               if s == "signin_erp_noninteractive"} - {u.lower() for u in interactive}
    erp_skus = {"55c9eb4e-c746-45b4-b255-9ab6b19d5c62", "f2e48cb3-9da0-42cd-8464-4a54ce198ad0"}
    judged = [f for u in only_ni for sku, f in _facts_of(tenant, u).items() if sku in erp_skus]
    assert judged
    assert {f["bucket"] for f in judged} == {"active"}
    assert {f["last_activity_source"] for f in judged} == {"signin_erp_noninteractive"}


def test_low_usage_is_unknown_where_evidence_cannot_cover_its_window(tenant: Tenant) -> None:
    """A first collection: Entra sign-in activity has one listing, the sign-in log 30 days;
    Dataverse audit reaches back further, so Dynamics products are judged."""
    e3 = tenant.facts.filter((pl.col("sku_part_number") == "SPE_E3")
                             & (pl.col("bucket") == "active"))
    assert e3.height > 0 and e3["low_usage"].null_count() == e3.height
    rows = {r["sku_part_number"]: r for r in usage_rows(tenant.store, tenant.config)}
    assert rows["SPE_E3"]["low_usage"] is None and rows["DYN365_SCM"]["low_usage"] is None
    assert rows["DYN365_ENTERPRISE_SALES"]["low_usage"] is not None
    with tenant.store.session() as session:
        rules = {c.rule for c in session.exec(select(Candidate)).all()}
        low = [c for c in session.exec(select(Candidate)).all() if c.rule == "low_usage"]
    assert "low_usage" not in rules or all(c.sku_part_number not in ("SPE_E3", "SPE_E5")
                                           for c in low)


def test_usage_json_says_null_where_low_usage_is_unknown(tenant: Tenant,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    from license_analyzer.cli import main

    path = tenant.folder / "license-analyzer.toml"
    text = path.read_text(encoding="utf-8").replace(
        'url = "sqlite:///license-analyzer.db"', 'url = "sqlite:///store.db"')
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["license-analyzer", "--config", str(path), "usage",
                                      "--format", "json"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code in (0, None)
    rows = {r["sku_part_number"]: r for r in orjson.loads(capsys.readouterr().out)}
    assert rows["SPE_E3"]["low_usage"] is None
    assert isinstance(rows["DYN365_ENTERPRISE_SALES"]["low_usage"], int)
    assert rows["DYN365_ENTERPRISE_CUSTOMER_SERVICE"]["assignment_errors"] > 0


def test_a_last_attempt_before_december_2023_means_idle_since_then(tenant: Tenant) -> None:
    dormant = [u for u in tenant.sim.tenant.users if u.dormant_since]
    assert dormant
    with tenant.store.session() as session:
        seen = {u.id: u for u in session.exec(select(DirectoryUser)).all()}
    judged = 0
    for user in dormant:
        row = seen[user.id.lower()]
        assert row.last_successful_sign_in_at is None
        attempt = max(a for a in (row.last_sign_in_at, row.last_non_interactive_sign_in_at) if a)
        assert attempt < datetime(2023, 12, 1, tzinfo=UTC)
        for fact in _facts_of(tenant, user.id).values():
            if fact["assigned_since"] > attempt:
                continue  # assigned after the last attempt: never used since, rightly
            judged += 1
            assert fact["bucket"] == "inactive", fact
            assert fact["last_activity_source"] == "entra_sign_in_attempt"
            assert fact["days_since_activity"] == (AS_OF - attempt.date()).days
    assert judged


def test_only_active_paid_subscriptions_are_renewals(tenant: Tenant) -> None:
    renewing = tenant.report.renewals
    assert renewing and all(r.status in ("Enabled", "Warning") and not r.is_trial
                            for r in renewing)
    ending = {(e.sku_part_number, e.status, e.is_trial) for e in tenant.report.ending}
    assert ending == {("DYN365_SALES_PREMIUM", "Enabled", True),
                      ("DYN365_ENTERPRISE_CUSTOMER_SERVICE", "Suspended", False),
                      ("DYN365_TEAM_MEMBERS", "LockedOut", False)}
    assert all(e.on <= date(2027, 2, 19) for e in tenant.report.ending)


def test_the_report_page_shows_assignment_errors_and_ending_subscriptions(tenant: Tenant
                                                                          ) -> None:
    page = write_report(tenant.config, tenant.store, tenant.folder / "reports", AS_OF)
    html = page.read_text(encoding="utf-8")
    errors = html[html.index('id="assignment-errors"'):html.index('id="activity"')]
    assert "License assignment errors" in errors and "CountViolation" in errors
    assert errors.count("<tr>") == 1 + len(tenant.report.assignment_errors)
    renewals = html[html.index('id="renewals"'):html.index('id="candidates"')]
    assert "Not renewing" in renewals and "Suspended" in renewals and "LockedOut" in renewals
    assert "low use not yet known" in html
    usage = (page.parent / "usage.csv").read_text(encoding="utf-8-sig").splitlines()
    assert usage[0].endswith(",assignment_errors")
