"""End to end against the simulated cloud: every stream, counts equal to the ground truth,
and a second run that reads only what is new."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal
from sqlmodel import select

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    AssignmentOrigin,
    DataverseUser,
    DirectoryUser,
    FinanceOperationsUser,
    LicenseAssignment,
    Profile,
    StreamState,
)
from tests.sources.simhelp import first_days, options, run, sim_config, stored_days, truth_days


def _activity_matches(store: Store, sim: Simulator) -> None:
    starts = first_days(store, sim)
    assert {s for s, _ in starts} == {"dataverse_audit", "signin_crm", "signin_erp",
                                      "signin_crm_noninteractive", "signin_erp_noninteractive"}
    assert_frame_equal(stored_days(store, starts), truth_days(sim, starts))


def test_first_and_second_run_match_the_ground_truth(store: Store, tmp_path: Path) -> None:
    with Simulator(options()) as sim:
        config = sim_config(sim, tmp_path)
        first = run(config, store, sim)
        assert first.status == "ok", [(s.key, s.message) for s in first.streams]
        assert first.exit_code == 0
        streams = {s.stream for s in first.streams}
        assert {"organization", "subscribed_skus", "subscriptions", "groups", "users",
                "signins", "dataverse_organization", "systemusers", "dataverse_audit",
                "fno_users"} <= streams
        _activity_matches(store, sim)

        truth = {u["id"].lower(): u for u in sim.truth.users()}
        with store.session() as session:
            users = session.exec(select(DirectoryUser)).all()
            assert {u.id for u in users} == set(truth)
            rows = session.exec(select(LicenseAssignment)).all()
            held = {(a.user_id, a.sku_id, a.via) for a in rows if a.state != "Error"}
            want = {(uid, lic["skuId"].lower(), via.removeprefix("group:").lower())
                    for uid, u in truth.items() for lic in u["licenses"] for via in lic["via"]}
            assert held == want
            failed = {(a.user_id, a.sku_id, a.via, a.error) for a in rows if a.state == "Error"}
            assert failed == {(uid, f["skuId"], f["via"].removeprefix("group:"), f["error"])
                              for uid, u in truth.items() for f in u["failed"]} != set()
            origins = session.exec(select(AssignmentOrigin)).all()
            assert {(o.user_id, o.sku_id) for o in origins} == {(h[0], h[1]) for h in held}
            profile = session.get(Profile, "simulated")
            assert profile is not None and profile.has_p1 is True
            humans = session.exec(select(DataverseUser).where(DataverseUser.is_human)).all()
            assert all(h.entra_object_id for h in humans if h.full_name != "SYSTEM")
            fno = session.exec(select(FinanceOperationsUser)).all()
            assert any(f.match_method == "alias" for f in fno)
            assert any(f.match_method is None for f in fno)

        audits_before = sum(s.pages for s in first.streams if s.stream == "dataverse_audit")
        sim.advance(days=1)
        log_start = len(sim.request_log)
        second = run(config, store, sim)
        assert second.status == "ok"
        audits_after = sum(s.pages for s in second.streams if s.stream == "dataverse_audit")
        # overlap (48 h) plus the new day: a handful of windows per environment, not 180
        assert audits_after <= 2 * 5 < audits_before
        audit_requests = [r for r in sim.request_log[log_start:] if "/audits" in r[1]]
        assert len(audit_requests) == audits_after
        _activity_matches(store, sim)
        with store.session() as session:
            state = session.get(StreamState, ("simulated", "signins", "signin_crm"))
            assert state is not None and state.cursor == sim.tenant.now.isoformat()


def test_entra_sign_in_days_accumulate(store: Store, tmp_path: Path) -> None:
    with Simulator(options(users=60, dataverse_envs=1, fno_envs=0)) as sim:
        config = sim_config(sim, tmp_path)
        run(config, store, sim)
        first = stored_days(store).filter(pl.col("source") == "entra_signin")
        assert first.height > 0
        with store.session() as session:
            last = {u.id: u.last_successful_sign_in_at for u in session.exec(
                select(DirectoryUser)).all() if u.last_successful_sign_in_at}
        assert set(first["user_id"]) == set(last)
        sim.advance(days=3)
        run(config, store, sim)
        second = stored_days(store).filter(pl.col("source") == "entra_signin")
        # yesterday's evidence is kept beside the new days
        kept = first.join(second, on=["user_id", "day"], how="anti")
        assert kept.height == 0
        assert second.height >= first.height
