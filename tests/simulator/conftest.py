"""Fixtures that start simulators and talk to them over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import FAST, Api


@pytest.fixture(scope="session")
def shared_sim() -> Iterator[Simulator]:
    """Read-only tests share one tenant; tests that change it start their own."""
    with Simulator(SimulatorOptions(users=300, **FAST)) as sim:
        yield sim


@pytest.fixture(scope="session")
def api(shared_sim: Simulator) -> Iterator[Api]:
    a = Api(shared_sim, wait_out_throttling=True)
    yield a
    a.http.close()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(SimulatorOptions(users=120, **FAST)) as s:
        yield s


@pytest.fixture
def own(sim: Simulator) -> Iterator[Api]:
    a = Api(sim)
    yield a
    a.http.close()
