"""Collection against tenants that behave like real ones: Microsoft's limits kept, grace
periods and refusals survived, every page of every listing read."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
from sqlmodel import select

from license_analyzer.simulator import Simulator
from license_analyzer.sources.audits import fetch_window
from license_analyzer.sources.context import Ticker
from license_analyzer.sources.http import connect
from license_analyzer.sources.pacing import ExecutionBudget, header_number
from license_analyzer.sources.windows import day_windows
from license_analyzer.store.activity import scan_activity
from license_analyzer.store.db import Store
from license_analyzer.store.models import Coverage, DirectoryUser, Environment, Profile
from tests.sources.simhelp import options, run, sim_config

P1_PLAN = "41781fb2-bc02-4b7c-bd55-b576c07bb09d"


def test_pages_of_users_with_signin_activity_are_paced_under_the_limit(
        store: Store, tmp_path: Path) -> None:
    """Several pages at a limit of two a minute: none is refused."""
    with Simulator(options(users=1100, dataverse_envs=0, fno_envs=0,
                           signin_activity_requests_per_minute=2)) as sim:
        config = sim_config(sim, tmp_path, "signin_activity_requests_per_minute = 2\n")
        outcome = run(config, store, sim)
        users = next(s for s in outcome.streams if s.stream == "users")
        assert users.status == "ok" and users.pages >= 3
        listed = [(path, status) for _, path, status in sim.request_log
                  if path.startswith("/graph/v1.0/users") and "signInActivity" in path]
        assert len(listed) == users.pages and {s for _, s in listed} == {200}


def test_a_p1_in_its_grace_period_still_gives_sign_in_activity(store: Store,
                                                               tmp_path: Path) -> None:
    with Simulator(options(users=60, dataverse_envs=1, fno_envs=0)) as sim:
        for pool in sim.tenant.pools:  # every subscription with P1 expired into its grace
            if any(plan == P1_PLAN for _, plan in pool.sku.service_plans):
                pool.capability_status = "Warning"
                pool.warning, pool.enabled = pool.enabled + pool.warning, 0
        config = sim_config(sim, tmp_path)
        outcome = run(config, store, sim)
        assert {s.status for s in outcome.streams if s.stream in ("users", "signins")} == {"ok"}
        with store.session() as session:
            profile = session.get(Profile, "simulated")
            assert profile is not None and profile.has_p1 is True
            users = session.exec(select(DirectoryUser)).all()
        assert all(u.sign_in_activity_collected for u in users)


def test_environment_discovery_reads_every_page(store: Store, tmp_path: Path) -> None:
    """The admin API pages with nextLink: the third environment is on its second page."""
    with Simulator(options(users=60, dataverse_envs=3, fno_envs=0)) as sim:
        config = sim_config(sim, tmp_path, "discover_environments = true\n")
        first = config.profiles[0]
        config = config.model_copy(update={"profiles": [first.model_copy(update={
            "dataverse": first.dataverse[:1]})]})
        outcome = run(config, store, sim)
        discovery = next(s for s in outcome.streams if s.stream == "environments")
        assert discovery.status == "ok" and discovery.pages >= 2
        with store.session() as session:
            found = {e.url for e in session.exec(select(Environment)).all()
                     if e.kind == "dataverse"}
        assert found == {u.lower() for u in sim.info["dataverse"]}
        audited = {s.partition for s in outcome.streams
                   if s.stream == "dataverse_audit" and s.status == "ok"}
        assert audited == found


def test_the_audit_budget_steers_by_what_dataverse_reports(tmp_path: Path) -> None:
    """A slow network makes every request take far longer on the client's clock than the
    service spends on it: by its wall-time estimate the budget would hold requests back; by
    the remaining time Dataverse reports, it never needs to."""
    with Simulator(options(users=60, dataverse_envs=1, fno_envs=0, latency_ms=40)) as sim:
        config = sim_config(sim, tmp_path)
        profile = config.profiles[0]
        url = profile.dataverse[0].url
        connection = connect(profile, base_dir=tmp_path)
        try:
            budget = ExecutionBudget(0.05, 300.0)  # less than one request's wall time
            client = connection.dataverse(url)
            nobody = pl.DataFrame(schema={"systemuser_id": pl.String,
                                          "entra_object_id": pl.String})
            for window in day_windows(sim.tenant.now - timedelta(days=5), sim.tenant.now):
                fetch_window(client, window, nobody, profile="simulated", url=url,
                             ticker=Ticker(), budget=budget)
        finally:
            connection.close()
    assert budget.report is not None and budget.report.seconds > 0
    assert budget.held_back == 0


def test_rate_limit_headers_are_read_with_thousands_separators() -> None:
    assert header_number("1,200.00") == 1200.0
    assert header_number(" 7999 ") == 7999.0
    assert header_number("n/a") is None and header_number(None) is None


def test_where_beta_is_refused_the_sign_in_log_degrades_to_interactive(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options(users=120, dataverse_envs=1, fno_envs=1)) as sim:
        sim.tenant.beta_available = False
        config = sim_config(sim, tmp_path)
        outcome = run(config, store, sim)
        signins = [s for s in outcome.streams if s.stream == "signins"]
        assert {s.status for s in signins} == {"degraded"} and outcome.exit_code == 0
        assert all("beta" in (s.message or "") for s in signins)
        with store.session() as session:
            covered = {c.source for c in session.exec(select(Coverage)).all()}
        assert {"signin_crm", "signin_erp"} <= covered
        assert not {"signin_crm_noninteractive", "signin_erp_noninteractive"} & covered
        sources = set(scan_activity(store).select("source").unique().collect()["source"])
        assert "signin_crm" in sources and "signin_crm_noninteractive" not in sources
