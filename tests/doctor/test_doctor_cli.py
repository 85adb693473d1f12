"""doctor through the real entry point: exit codes, JSON shape, text lines, no secret anywhere."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from license_analyzer.cli import app
from license_analyzer.doctor import diagnose
from license_analyzer.doctor.render import text_lines
from license_analyzer.simulator import Simulator, write_config_file
from tests.doctor.doctor_setup import simulator, write_config

FIELDS = {"profile", "check", "target", "status", "message", "fix"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulator() as s:
        yield s


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "license-analyzer"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "license_analyzer"]
    env = {k: v for k, v in os.environ.items() if k != "LICENSE_ANALYZER_CONFIG"}
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=120,
                          env=env, check=False)


def test_healthy_setup_exits_0_with_json(sim: Simulator, tmp_path: Path) -> None:
    config = tmp_path / "la.toml"
    write_config_file(sim.info, config)
    done = cli("--config", str(config), "--verbose", "doctor", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert rows and all(set(row) == FIELDS for row in rows)
    assert {row["status"] for row in rows} == {"ok"}
    secret = sim.info["client_secret"]
    assert secret not in done.stdout and secret not in done.stderr


def test_wrong_secret_exits_3_and_never_shows_the_secret(sim: Simulator, tmp_path: Path) -> None:
    wrong = "Wr0ng~secret.value-that-must-not-leak"
    config = write_config(sim, tmp_path / "la.toml", secret=wrong)
    done = cli("--config", str(config), "--verbose", "doctor", "--format", "json")
    assert done.returncode == 3, done.stderr
    rows = json.loads(done.stdout)
    token = next(r for r in rows if r["check"] == "token")
    assert token["status"] == "failed" and "client_secret" in token["fix"]
    assert wrong not in done.stdout and wrong not in done.stderr


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI installs a handler on CliRunner's stderr, closed afterwards: undo it."""
    names = ("", "httpx", "httpcore", "msal", "urllib3", "alembic", "apscheduler")
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    handlers = logging.getLogger().handlers[:]
    yield
    logging.getLogger().handlers[:] = handlers
    for logger, level in saved:
        logger.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_text_output_is_one_line_per_check(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.dataverse[0].application_user = False
    config = write_config(sim, tmp_path / "la.toml")
    result = CliRunner().invoke(app, ["--config", str(config), "doctor"])
    assert result.exit_code == 3
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    failed = [line for line in lines if "  failed  " in line]
    assert len(failed) == 1
    assert "application user" in failed[0]
    assert "-> Add the app as an application user in" in failed[0]
    assert failed[0].split()[:3] == ["simulated", "failed", "dataverse"]
    assert all(line.split()[0] == "simulated" for line in lines)


def test_msal_and_httpx_debug_logs_never_carry_the_secret(
        sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # everything, unredacted (caplog has no redacting filter): msal, httpx, httpcore, ours
    for name in ("", "msal", "httpx", "httpcore", "license_analyzer"):
        caplog.set_level(logging.DEBUG, logger=name)
    from license_analyzer.config import load_config

    diagnose(load_config(write_config(sim, tmp_path / "la.toml")))
    sim.tenant.app.secret_expires_at = sim.tenant.now.replace(year=2000)
    results = diagnose(load_config(write_config(sim, tmp_path / "la.toml")))
    secret = sim.info["client_secret"]
    assert caplog.records
    assert secret not in caplog.text
    assert all(secret not in line for line in text_lines(results))
    assert all(secret not in json.dumps(r.as_row()) for r in results)
