"""The blocking entry point: one JSON line when ready, a config file, a clean stop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx


def test_serve_forever_prints_info_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "la.toml"
    code = (
        "from pathlib import Path; from license_analyzer.simulator import serve_forever, "
        f"SimulatorOptions; serve_forever(SimulatorOptions(users=40), Path({str(config)!r}))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line)
        assert {
            "authority_host",
            "graph_url",
            "tenant_id",
            "client_id",
            "client_secret",
            "ca_bundle",
            "dataverse",
            "finance_operations",
            "power_platform_url",
        } <= set(info)
        import ssl

        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        r = httpx.get(
            f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration",
            verify=ctx,
        )
        assert r.status_code == 200
        conf = tomllib.loads(config.read_text())
        profile = conf["profiles"][0]
        assert profile["tenant_id"] == info["tenant_id"]
        assert profile["dataverse"] == info["dataverse"]
        assert conf["storage"]["url"].startswith("sqlite:///")
        assert conf["prices"]["DYN365_ENTERPRISE_SALES"] > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
