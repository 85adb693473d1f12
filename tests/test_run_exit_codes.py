"""The job's exit code says what failed even when analysis and report still ran."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from license_analyzer.config import load_config
from license_analyzer.run import job
from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file
from license_analyzer.store.models import Run
from license_analyzer.store.open import open_configured_store
from tests.reliability.harness import SIM_NOW

pytestmark = pytest.mark.xdist_group("reliability")


def test_expired_secret_gives_exit_3_and_a_partial_run_with_a_report(tmp_path: Path) -> None:
    with Simulator(SimulatorOptions(users=40, seed=5, now=SIM_NOW, time_scale=0.01)) as sim:
        config_path = tmp_path / "la.toml"
        write_config_file(sim.info, config_path)
        text = config_path.read_text().replace(
            'url = "sqlite:///license-analyzer.db"', f'url = "sqlite:///{tmp_path / "s.db"}"')
        config_path.write_text(text + f'\n[reports]\ndir = "{tmp_path / "reports"}"\n')
        sim.tenant.app.secret_expires_at = SIM_NOW.replace(year=2025)
        result = job(load_config(config_path), as_of=SIM_NOW.date(), now=SIM_NOW)
    assert result.exit_code == 3
    assert result.report_path is not None and result.report_path.exists()
    with open_configured_store(load_config(config_path)).session() as session:
        run = session.exec(select(Run)).one()
    assert run.status == "partial"
    assert run.stages["collect"]["status"] == "failed"
    assert run.stages["report"]["status"] == "ok"


def test_a_bug_in_a_stage_is_recorded_and_alerted(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import license_analyzer.pipeline.analyze as analyze_module
    from license_analyzer import notify

    config_path = tmp_path / "la.toml"
    config_path.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "s.db"}"\n')

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("facts went sideways")

    sent: list[str] = []
    monkeypatch.setattr(analyze_module, "analyze", broken)
    monkeypatch.setattr(notify, "deliver",
                        lambda config, store, alerts: sent.extend(a.kind for a in alerts) or [])
    with pytest.raises(RuntimeError):
        job(load_config(config_path), as_of=SIM_NOW.date())
    with open_configured_store(load_config(config_path)).session() as session:
        run = session.exec(select(Run)).one()
    assert run.status == "failed" and run.error == "RuntimeError: facts went sideways"
    assert run.stages["analyze"]["status"] == "failed"
    assert sent == ["run_failed"]
