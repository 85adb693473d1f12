from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.reliability.harness import SIM_NOW, Cli, config_text


def simulator_options(**overrides: Any) -> SimulatorOptions:
    base: dict[str, Any] = dict(users=120, seed=11, now=SIM_NOW, dataverse_envs=2, fno_envs=1,
                                time_scale=0.01)
    return SimulatorOptions(**(base | overrides))


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(simulator_options()) as simulator:
        yield simulator


def make_cli(simulator: Simulator, tmp_path: Path, name: str, extra: str = "") -> Cli:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "la.toml"
    config.write_text(config_text(simulator.info, f"sqlite:///{folder / 'store.db'}",
                                  folder / "reports", extra))
    return Cli(config)
