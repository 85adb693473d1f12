"""`license-analyzer simulate`: one JSON line when ready, a ready config, a clean stop."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx

from license_analyzer.config import load_config

KEYS = {"authority_host", "graph_url", "tenant_id", "client_id", "client_secret", "ca_bundle",
        "dataverse", "finance_operations"}


def test_simulate_prints_one_json_line_and_writes_a_config(tmp_path: Path) -> None:
    config_path = tmp_path / "sim.toml"
    process = subprocess.Popen(
        [sys.executable, "-m", "license_analyzer", "simulate", "--users", "40", "--seed", "3",
         "--now", "2026-11-21T06:00:00Z", "--write-config", str(config_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        info = json.loads(line)
        assert set(info) >= KEYS
        assert info["authority_host"].startswith("https://127.0.0.1:")
        # the CA it wrote is what makes its HTTPS trusted
        discovery = httpx.get(
            f"{info['authority_host']}/{info['tenant_id']}/v2.0/.well-known/openid-configuration",
            verify=ssl.create_default_context(cafile=info["ca_bundle"]))
        assert discovery.status_code == 200
        config = load_config(config_path)
        profile = config.profiles[0]
        assert profile.tenant_id == info["tenant_id"]
        assert [e.url for e in profile.dataverse] == [u.lower() for u in info["dataverse"]]
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=20)
    assert out.strip() == ""  # nothing but the one line
    assert process.returncode in (0, 130)
