"""License assignments are validity intervals: a removal closes one, an addition opens one,
everything else stays untouched; the assignment date is sticky."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store
from license_analyzer.store.models import AssignmentOrigin, LicenseAssignment
from tests.sources.simhelp import options, run, sim_config


def test_changes_close_and_open_intervals_and_keep_the_rest(store: Store,
                                                            tmp_path: Path) -> None:
    with Simulator(options(users=40, dataverse_envs=0, fno_envs=0)) as sim:
        config = sim_config(sim, tmp_path)
        assert run(config, store, sim).status == "ok"
        first_now = sim.tenant.now
        with store.session() as session:
            before = {(a.user_id, a.sku_id, a.via): a for a in session.exec(
                select(LicenseAssignment)).all()}
            origins = {(o.user_id, o.sku_id): o.assigned_since for o in session.exec(
                select(AssignmentOrigin)).all()}
        user = next(u for u in sim.tenant.users if len(u.direct) >= 1)
        removed = next(iter(user.direct))
        other_sku = next(p.sku.sku_id for p in sim.tenant.pools
                         if p.sku.sku_id not in user.direct)
        with sim.tenant.lock:
            user.direct.pop(removed)
            user.direct_dates.pop(removed, None)
            user.direct[other_sku] = []
            sim.tenant.touch()
        sim.advance(days=2)
        assert run(config, store, sim).status == "ok"
        uid = user.id.lower()
        with store.session() as session:
            rows = session.exec(select(LicenseAssignment)).all()
            closed = [r for r in rows if r.valid_to is not None]
            assert [(r.user_id, r.sku_id, r.via) for r in closed] == [
                (uid, removed.lower(), "direct")]
            assert closed[0].valid_to == sim.tenant.now
            opened = [r for r in rows if r.valid_from == sim.tenant.now]
            assert [(r.user_id, r.sku_id) for r in opened] == [(uid, other_sku.lower())]
            untouched = [r for r in rows if r.valid_to is None and r.valid_from == first_now]
            assert len(untouched) == len(before) - 1
            now_origins = {(o.user_id, o.sku_id): o for o in session.exec(
                select(AssignmentOrigin)).all()}
            # first seen now (no lastUpdatedDateTime), kept for the others, gone for the removal
            assert now_origins[(uid, other_sku.lower())].assigned_since == sim.tenant.now
            assert now_origins[(uid, other_sku.lower())].provenance == "first_seen"
            assert (uid, removed.lower()) not in now_origins
            for key, since in origins.items():
                if key != (uid, removed.lower()):
                    assert now_origins[key].assigned_since == since
            assert session.exec(select(LicenseAssignment).where(
                col(LicenseAssignment.valid_to).is_(None))).all()
