"""The daily job end to end, and what it survives (real subprocesses, a simulated cloud)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlmodel import select

from license_analyzer.simulator import Simulator
from license_analyzer.store.db import open_store
from license_analyzer.store.models import Run
from tests.reliability.conftest import make_cli, simulator_options
from tests.reliability.harness import AS_OF, kill_after, outcome

pytestmark = pytest.mark.xdist_group("reliability")


def runs(config_dir: Path) -> list[Run]:
    store = open_store(f"sqlite:///{config_dir / 'store.db'}", data_dir=config_dir / "d")
    with store.session() as session:
        return list(session.exec(select(Run).order_by(Run.id)).all())  # type: ignore[arg-type]


def wait_for_job_lock(db: Path, timeout: float = 60.0) -> None:
    """Until the first run holds the job lock (so the second is the one that must wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    if conn.execute("select count(*) from joblock").fetchone()[0]:
                        return
            except sqlite3.OperationalError:
                pass  # not created yet, or busy
        time.sleep(0.05)
    raise AssertionError("the first run never took the job lock")


def test_run_end_to_end(sim: Simulator, tmp_path: Path) -> None:
    cli = make_cli(sim, tmp_path, "a")
    done = cli.run("run", "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip().splitlines()[-1])
    assert report.name == "index.html" and report.parent.name == AS_OF.isoformat()
    assert report.read_text().rstrip().endswith("</html>")
    for export in ("candidates.csv", "candidates.xlsx", "usage.csv"):
        assert (report.parent / export).exists()
    result = outcome(cli)
    assert result["usage"] and result["candidates"]
    history = runs(cli.config.parent)
    assert [r.status for r in history] == ["ok"]
    stages = history[0].stages
    assert {k: v["status"] for k, v in stages.items()} == {
        "collect": "ok", "confirm_applied": "ok", "analyze": "ok", "propose": "ok",
        "report": "ok"}
    assert history[0].report_path == str(report)


def test_sigkill_at_any_point_then_run_again_gives_the_same_result(
        sim: Simulator, tmp_path: Path) -> None:
    baseline = make_cli(sim, tmp_path, "baseline")
    assert baseline.run("run", "--as-of", AS_OF.isoformat()).returncode == 0
    expected = outcome(baseline)
    killed = make_cli(sim, tmp_path, "killed")
    kills = 0
    # the last kill lands in the run even where starting Python alone takes 5 s (a busy CI)
    for delay in (0.6, 1.5, 3.0, 5.0, 8.0):
        process = killed.start("run", "--as-of", AS_OF.isoformat())
        kills += kill_after(process, delay)
    assert kills >= 2, "the runs ended before they could be killed; raise the delays"
    done = killed.run("run", "--as-of", AS_OF.isoformat())
    assert done.returncode == 0, done.stderr
    assert outcome(killed) == expected
    report = Path(done.stdout.strip().splitlines()[-1])
    assert report.read_text().rstrip().endswith("</html>")
    statuses = [r.status for r in runs(killed.config.parent)]
    assert statuses[-1] == "ok" and "interrupted" in statuses


def test_faults_and_throttling_storms_give_the_same_result(tmp_path: Path) -> None:
    with Simulator(simulator_options()) as clean:
        baseline = make_cli(clean, tmp_path, "clean")
        assert baseline.run("run", "--as-of", AS_OF.isoformat()).returncode == 0
        expected = outcome(baseline)
    with Simulator(simulator_options(fault_rate=0.1)) as faulty:
        cli = make_cli(faulty, tmp_path, "faulty")
        faulty.throttle_storm(2.0)
        first = cli.run("run", "--as-of", AS_OF.isoformat())
        assert first.returncode in (0, 5), first.stderr
        if first.returncode:
            assert cli.run("run", "--as-of", AS_OF.isoformat()).returncode == 0
        assert outcome(cli) == expected
        assert sum(r.retries for r in runs(cli.config.parent)) > 0


def test_short_token_lifetime_does_not_stop_the_run(tmp_path: Path) -> None:
    with Simulator(simulator_options(token_lifetime_s=2, time_scale=1.0,
                                     latency_ms=5.0)) as short:
        cli = make_cli(short, tmp_path, "short")
        done = cli.run("run", "--as-of", AS_OF.isoformat())
        assert done.returncode == 0, done.stderr


def test_two_runs_at_once_one_refuses_and_nothing_breaks(sim: Simulator, tmp_path: Path) -> None:
    cli = make_cli(sim, tmp_path, "twice")
    first = cli.start("run", "--as-of", AS_OF.isoformat())
    wait_for_job_lock(cli.config.parent / "store.db")
    second = cli.run("run", "--as-of", AS_OF.isoformat())
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert second.returncode == 1
    assert "Another run" in second.stderr and "in progress" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert [r.status for r in runs(cli.config.parent)] == ["ok"]


def test_locked_database_gives_a_sentence(sim: Simulator, tmp_path: Path) -> None:
    cli = make_cli(sim, tmp_path, "locked")
    assert cli.run("usage").returncode in (0, 1)  # creates the store
    holder = sqlite3.connect(cli.config.parent / "store.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        done = cli.run("run", "--as-of", AS_OF.isoformat())
    finally:
        holder.rollback()
        holder.close()
    assert done.returncode == 1
    assert "locked" in done.stderr and "Traceback" not in done.stderr


def test_unreachable_database_gives_a_sentence(tmp_path: Path) -> None:
    config = tmp_path / "la.toml"
    config.write_text('[storage]\nurl = "postgresql+psycopg://nobody@127.0.0.1:1/none"\n'
                      'lock_timeout_s = 1\n')
    from tests.reliability.harness import Cli

    done = Cli(config).run("usage")
    assert done.returncode == 1
    assert "Cannot open the database" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_demo_prints_a_report_path_with_every_section(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "license_analyzer", "demo", "--users", "150", "--out",
         str(tmp_path / "reports"), "--as-of", "2026-11-20"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = Path(done.stdout.strip().splitlines()[-1])
    assert report == tmp_path / "reports" / "2026-11-20" / "index.html"
    page = report.read_text()
    for section in ("Summary", "License position", "Last activity", "Trends", "Departments",
                    "Renewals", "Candidates", "Rules", "Data freshness"):
        assert section in page
