"""SIGKILL the collector (a real subprocess) at several points; the next run ends with the
same data as an uninterrupted run: no gap, no duplicate."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import open_store
from tests.sources.simhelp import content_hash, options, run, sim_config

REPO = Path(__file__).resolve().parents[2]
SMALL = {"users": 100, "dataverse_envs": 1, "fno_envs": 1}


def _driver(config: Path, url: str, data: Path, now: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with open(log, "ab") as errors:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "sources" / "collect_driver.py"),
             str(config), url, str(data), now], env=env, stdout=subprocess.DEVNULL,
            stderr=errors)


def _kill_after(sim: Simulator, proc: subprocess.Popen[bytes], requests: int) -> bool:
    """SIGKILL once the simulator has seen `requests` more requests; False if it finished."""
    start = len(sim.request_log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if len(sim.request_log) - start >= requests:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.kill()
    raise AssertionError("the collector neither finished nor reached the kill point")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_runs_then_one_more_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    with Simulator(options(**SMALL)) as sim:
        ref_dir = tmp_path / "ref"
        ref_dir.mkdir()
        config = sim_config(sim, ref_dir)
        reference = open_store(f"sqlite:///{ref_dir / 'ref.db'}", base=ref_dir,
                               data_dir=ref_dir / "data")
        before = len(sim.request_log)
        assert run(config, reference, sim).status == "ok"
        total = len(sim.request_log) - before
        want = content_hash(reference)
        reference.dispose()

        work = tmp_path / "work"
        work.mkdir()
        config_path = work / "license-analyzer.toml"
        sim_config(sim, work)
        url = f"sqlite:///{work / 'store.db'}"
        data = work / "data"
        now = sim.tenant.now.isoformat()
        killed = 0
        # early (directory), middle (sign-in windows) and late (audit windows)
        for share in (0.03, 0.3, 0.5):
            requests = max(2, int(total * share))
            proc = _driver(config_path, url, data, now, work / "driver.log")
            killed += _kill_after(sim, proc, requests)
        assert killed >= 2
        final = _driver(config_path, url, data, now, work / "driver.log")
        final.wait(timeout=120)
        assert final.returncode == 0, (work / "driver.log").read_text()[-3000:]
        store = open_store(url, base=work, data_dir=data)
        try:
            assert content_hash(store) == want
        finally:
            store.dispose()
