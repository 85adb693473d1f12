"""Faults and throttling storms never change what ends up stored: after at most two runs the
store equals a fault-free run's, table by table and row by row."""

from __future__ import annotations

import threading
from pathlib import Path

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import Store, open_store
from tests.sources.simhelp import content_hash, options, run, sim_config

SMALL = {"users": 120, "dataverse_envs": 1, "fno_envs": 1}


def _reference(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "reference"
    folder.mkdir()
    with Simulator(options(**SMALL)) as sim:
        config = sim_config(sim, folder)
        store = open_store(f"sqlite:///{folder / 'ref.db'}", base=folder,
                           data_dir=folder / "data")
        try:
            assert run(config, store, sim).status == "ok"
            return content_hash(store)
        finally:
            store.dispose()


def test_faults_leave_the_same_data_as_a_clean_run(store: Store, tmp_path: Path) -> None:
    reference = _reference(tmp_path)
    with Simulator(options(fault_rate=0.1, **SMALL)) as sim:
        config = sim_config(sim, tmp_path)
        first = run(config, store, sim)
        if first.status != "ok":
            run(config, store, sim)
        assert content_hash(store) == reference


def test_throttle_storms_leave_the_same_data_as_a_clean_run(store: Store,
                                                            tmp_path: Path) -> None:
    reference = _reference(tmp_path)
    with Simulator(options(**SMALL)) as sim:
        config = sim_config(sim, tmp_path)
        sim.throttle_storm(30)  # 0.3 s at this time scale: the first calls meet 429s
        # and a second storm lands in the middle of the audit windows
        timer = threading.Timer(1.5, sim.throttle_storm, args=(60,))
        timer.start()
        try:
            first = run(config, store, sim)
        finally:
            timer.cancel()
        assert first.retries > 0
        if first.status != "ok":
            run(config, store, sim)
        assert content_hash(store) == reference
