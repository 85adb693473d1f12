"""Collection when the tenant is not fully set up, after an outage, with discovery."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from sqlmodel import select

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    Coverage,
    CoverageGap,
    DirectoryUser,
    Environment,
    Profile,
    StreamState,
)
from tests.sources.simhelp import options, run, sim_config, stored_days

TINY = {"users": 40, "dataverse_envs": 1, "fno_envs": 0}


def test_without_p1_users_are_read_without_sign_in_activity_and_sign_ins_degrade(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options(**TINY)) as sim:
        sim.tenant.has_p1 = False
        config = sim_config(sim, tmp_path)
        outcome = run(config, store, sim)
        by = {(s.stream, s.partition): s for s in outcome.streams}
        assert by[("signins", "signin_crm")].status == "degraded"
        assert by[("signins", "signin_erp")].status == "degraded"
        assert by[("users", "")].status in ("ok", "degraded")
        assert by[("users", "")].records > 0
        assert outcome.status == "ok" and outcome.exit_code == 0
        with store.session() as session:
            users = session.exec(select(DirectoryUser)).all()
            assert len(users) == 40
            assert not any(u.sign_in_activity_collected for u in users)
            profile = session.get(Profile, "simulated")
            assert profile is not None and profile.has_p1 is False
            state = session.get(StreamState, ("simulated", "signins", "signin_crm"))
            assert state is not None and state.status == "degraded"
            assert state.message and "P1" in state.message
        assert stored_days(store).filter(pl.col("source").str.starts_with("signin")).height == 0


def test_an_outage_longer_than_the_sign_in_retention_is_recorded_as_a_gap(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options(**TINY)) as sim:
        config = sim_config(sim, tmp_path)
        assert run(config, store, sim).status == "ok"
        sim.advance(days=45)
        assert run(config, store, sim).status == "ok"
        with store.session() as session:
            gaps = session.exec(select(CoverageGap).where(
                CoverageGap.source == "signin_crm")).all()
            assert len(gaps) == 1
            assert "sign-in logs keep 30 days" in gaps[0].reason
            assert gaps[0].start.date() < gaps[0].end.date()
            spans = session.exec(select(Coverage).where(Coverage.source == "signin_crm")).all()
            assert len(spans) == 2  # before and after the gap, never papered over
            audit = session.exec(select(Coverage).where(
                Coverage.source == "dataverse_audit")).all()
            assert len(audit) == 1  # the audit keeps more than 45 days: no gap there


def test_environments_are_discovered_through_the_admin_api(store: Store,
                                                          tmp_path: Path) -> None:
    with Simulator(options(users=40, dataverse_envs=2, fno_envs=0)) as sim:
        config = sim_config(sim, tmp_path)
        text = (tmp_path / "license-analyzer.toml").read_text()
        first_env = sim.info["dataverse"][0]
        text = text.replace("dataverse = [", f'dataverse = ["{first_env}"]\n# was [', 1)
        text = text.replace("[[profiles]]", "[[profiles]]\ndiscover_environments = true", 1)
        (tmp_path / "license-analyzer.toml").write_text(text)
        from license_analyzer.config import load_config

        config = load_config(tmp_path / "license-analyzer.toml")
        assert len(config.profiles[0].dataverse) == 1
        outcome = run(config, store, sim)
        assert outcome.status == "ok", [(s.key, s.message) for s in outcome.streams]
        with store.session() as session:
            envs = session.exec(select(Environment)).all()
        assert {e.url for e in envs} == {u.lower() for u in sim.info["dataverse"]}
        assert [e.discovered for e in envs if e.url == first_env.lower()] == [False]
        audited = {s.partition for s in outcome.streams if s.stream == "dataverse_audit"}
        assert audited == {u.lower() for u in sim.info["dataverse"]}


def test_auditing_off_degrades_and_a_missing_application_user_fails_one_environment(
        store: Store, tmp_path: Path) -> None:
    with Simulator(options(users=40, dataverse_envs=2, fno_envs=0)) as sim:
        sim.tenant.dataverse[0].user_access_audit_enabled = False
        sim.tenant.dataverse[1].application_user = False
        config = sim_config(sim, tmp_path)
        outcome = run(config, store, sim)
        by = {(s.stream, s.partition): s for s in outcome.streams}
        first, second = (u.lower() for u in sim.info["dataverse"])
        assert by[("dataverse_audit", first)].status == "degraded"
        assert "Log access" in (by[("dataverse_audit", first)].message or "")
        assert by[("systemusers", second)].status == "failed"
        assert by[("systemusers", second)].auth_failure
        assert ("dataverse_audit", second) not in by  # skipped: it could only fail the same way
        assert "application user" in (by[("systemusers", second)].message or "")
        assert by[("users", "")].status == "ok"
        assert outcome.status == "partial" and outcome.exit_code == 5


def test_a_wrong_secret_fails_every_stream_with_exit_code_3(store: Store,
                                                            tmp_path: Path) -> None:
    with Simulator(options(**TINY)) as sim:
        info = dict(sim.info, client_secret="not-the-secret")
        from license_analyzer.config import load_config
        from license_analyzer.simulator import write_config_file

        write_config_file(info, tmp_path / "bad.toml")
        config = load_config(tmp_path / "bad.toml")
        outcome = run(config, store, sim)
        assert outcome.status == "failed"
        assert outcome.exit_code == 3
        assert all("not-the-secret" not in (s.message or "") for s in outcome.streams)


def test_a_full_collection_rereads_everything_without_doubling(store: Store,
                                                                tmp_path: Path) -> None:
    from polars.testing import assert_frame_equal

    from tests.sources.simhelp import first_days, truth_days

    with Simulator(options(**TINY)) as sim:
        config = sim_config(sim, tmp_path)
        run(config, store, sim)
        before = stored_days(store)
        outcome = run(config, store, sim, full=True)
        audit = next(s for s in outcome.streams if s.stream == "dataverse_audit")
        assert audit.pages >= 90  # every window again (90 days kept), not just the overlap
        assert_frame_equal(stored_days(store), before)
        starts = first_days(store, sim)
        assert_frame_equal(stored_days(store, starts), truth_days(sim, starts))
