"""Driving the real CLI in subprocesses against an in-process simulated cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

AS_OF = date(2026, 11, 20)
SIM_NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)


def config_text(info: dict[str, Any], store_url: str, reports: Path, extra: str = "") -> str:
    """A config for the simulator's tenant, written here so each test picks its own store."""
    dataverse = ", ".join(json.dumps(u) for u in info["dataverse"])
    fno = ", ".join(json.dumps(u) for u in info["finance_operations"])
    power_platform = info.get("power_platform_url")
    pp_line = f"power_platform_url = {json.dumps(power_platform)}\n" if power_platform else ""
    return f"""
[storage]
url = {json.dumps(store_url)}
lock_timeout_s = 2

[reports]
dir = {json.dumps(str(reports))}

[prices]
DYN365_ENTERPRISE_SALES = 105.0
DYN365_ENTERPRISE_CUSTOMER_SERVICE = 105.0
D365_SALES_PRO = 65.0
DYN365_TEAM_MEMBERS = 8.0
DYN365_FINANCE = 210.0
DYN365_SCM = 210.0
POWERAPPS_PER_USER = 20.0
SPE_E3 = 36.0
SPE_E5 = 57.0
ENTERPRISEPACK = 23.0
{extra}
[[profiles]]
name = "simulated"
tenant_id = {json.dumps(info["tenant_id"])}
client_id = {json.dumps(info["client_id"])}
client_secret = {json.dumps(info["client_secret"])}
authority_host = {json.dumps(info["authority_host"])}
graph_url = {json.dumps(info["graph_url"])}
{pp_line}ca_bundle = {json.dumps(info["ca_bundle"])}
activity_since = "2026-06-01"
# the simulator runs at time_scale 0.01: its sign-in log allows 5 requests per 0.1 s
signin_requests_per_10s = 400
dataverse = [{dataverse}]
finance_operations = [{fno}]
"""


@dataclass
class Cli:
    config: Path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "license_analyzer", "--config", str(self.config), *args]

    def run(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.command(*args), capture_output=True, text=True,
                              timeout=timeout, env=_env())

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=_env())

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("LICENSE_ANALYZER_CONFIG", None)
    return env


def kill_after(process: subprocess.Popen[str], seconds: float) -> bool:
    """SIGKILL the process after `seconds` unless it ended; True when it was killed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            process.communicate(timeout=30)
            return False
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)  # reaps it and closes its pipes
    return True


def outcome(cli: Cli) -> dict[str, Any]:
    """What a run produced, in a form two stores can be compared by."""
    usage = cli.json("usage")
    candidates = cli.json("candidates", "list")
    return {
        "usage": sorted((u["sku_part_number"], u["assigned"], u["active"], u["inactive"],
                         u["never_used"], u["in_grace"], u["no_data"]) for u in usage),
        "candidates": sorted((c["user_id"], c["sku_part_number"], c["rule"], c["action"])
                             for c in candidates),
    }
