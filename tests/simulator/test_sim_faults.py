"""Throttling storms and injected faults: reproducible, scaled, and shaped like Microsoft's."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import Api


def test_throttle_storm_hits_graph_and_dataverse(own: Api, sim: Simulator) -> None:
    own.token(own.graph_resource)
    own.token(own.info["dataverse"][0])
    sim.throttle_storm(100, retry_after=2.128)  # 100 s scaled by 0.01 = 1 s
    g = own.graph("/users")
    assert g.status_code == 429
    assert g.headers["Retry-After"] == "0.021"
    assert g.json()["error"]["code"] == "TooManyRequests"
    d = own.dataverse(0, "/WhoAmI")
    assert d.status_code == 429 and d.json()["error"]["code"] == "0x80072322"
    assert float(d.headers["Retry-After"]) > 0
    # Tokens still come: the storm is on the resource APIs.
    assert own.token_response(own.graph_resource).status_code == 200


def test_fractional_retry_after_unscaled() -> None:
    with Simulator(SimulatorOptions(users=30)) as sim:
        a = Api(sim)
        a.token(a.graph_resource)
        sim.throttle_storm(5, retry_after=2.128)
        r = a.graph("/organization")
        assert r.status_code == 429 and r.headers["Retry-After"] == "2.128"
        a.http.close()


def _statuses(fault_rate: float) -> list[int]:
    with Simulator(SimulatorOptions(users=30, fault_rate=fault_rate, time_scale=0.001)) as sim:
        a = Api(sim)
        out = []
        for i in range(40):
            try:
                out.append(a.graph(f"/users?$top={i % 7 + 1}&$select=id").status_code)
            except httpx.TransportError:
                out.append(-1)
        a.http.close()
        return out


def test_faults_are_reproducible() -> None:
    first, second = _statuses(0.4), _statuses(0.4)
    assert first == second
    assert {500, 503, 504} & set(first) and 200 in first
    assert _statuses(0.0) == [200] * 40


def test_dropped_connection_is_a_transport_error() -> None:
    with Simulator(SimulatorOptions(users=30, fault_rate=1.0, time_scale=0.001)) as sim:
        a = Api(sim)
        a.token(a.graph_resource)
        seen = set()
        for i in range(30):
            try:
                seen.add(a.graph(f"/organization?x={i}").status_code)
            except httpx.TransportError:
                seen.add(-1)
        assert -1 in seen
        a.http.close()


def test_request_log_records_calls(api: Api, shared_sim: Simulator) -> None:
    api.graph("/organization?$select=id")
    assert ("GET", "/graph/v1.0/organization?$select=id", 200) in shared_sim.request_log


@pytest.mark.parametrize("name", ["graph-throttling-429.json"])
def test_429_body_matches_docs(own: Api, sim: Simulator, name: str) -> None:
    doc = json.loads((Path(__file__).parent / "fixtures" / name).read_text())
    own.token(own.graph_resource)
    sim.throttle_storm(100)
    body = own.graph("/organization").json()
    assert set(body["error"]) == set(doc["error"])
    assert set(body["error"]["innerError"]) == set(doc["error"]["innerError"])


def test_graph_request_limit_answers_429_with_retry_after() -> None:
    with Simulator(SimulatorOptions(users=30, graph_requests_per_10s=3, time_scale=0.05)) as sim:
        a = Api(sim)
        codes = [a.graph("/organization") for _ in range(4)]
        assert [c.status_code for c in codes] == [200, 200, 200, 429]
        wait = float(codes[3].headers["Retry-After"])
        assert 0 < wait <= 0.5
        a.http.close()
