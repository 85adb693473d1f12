"""How many Dataverse audit records per second one simulator process serves.

Runs the simulator in its own process (as `license-analyzer simulate` would), then drives it
like the collectors do: 4 environments x 16 concurrent createdon windows, HTTP/1.1
keep-alive, following @odata.nextLink to the end. Prints records/s overall and per CPU
second of the simulator process.

    .venv/bin/python bench/bench_simulator.py [--users 20000] [--page-latency-ms 500]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

SERVER = """
import sys
from license_analyzer.simulator import SimulatorOptions, serve_forever
serve_forever(SimulatorOptions(users={users}, dataverse_envs=4, audit_page_latency_ms={lat},
              dataverse_execution_s=1e12, dataverse_requests_per_window=10**9,
              dataverse_concurrency=10**6, request_log_size=1000), None)
"""


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _token(client: httpx.Client, info: dict[str, Any], resource: str) -> str:
    r = client.post(
        f"{info['authority_host']}/{info['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
            "scope": f"{resource}/.default",
        },
    )
    r.raise_for_status()
    return str(r.json()["access_token"])


def _window(args: tuple[dict[str, Any], str, str, str, str]) -> int:
    info, env_url, token, start, end = args
    ctx = ssl.create_default_context(cafile=info["ca_bundle"])
    headers = {"Authorization": f"Bearer {token}", "Prefer": "odata.maxpagesize=5000"}
    url = (
        f"{env_url}/api/data/v9.2/audits?$select=createdon,action,_objectid_value,"
        f"_userid_value,objecttypecode&$filter=(action eq 64 or action eq 65) and "
        f"createdon ge {start} and createdon lt {end}&$orderby=createdon asc"
    )
    n = 0
    with httpx.Client(verify=ctx, timeout=120, headers=headers) as client:
        link: str | None = url
        while link:
            body = client.get(link).content
            n += body.count(b'"auditid"')
            # nextLink is the last key; find it without a full parse of megabytes.
            tail = body[-4096:]
            i = tail.rfind(b'"@odata.nextLink":"')
            link = (
                json.loads(b"{" + tail[i:].rstrip(b"}") + b"}")["@odata.nextLink"]
                if i >= 0
                else None
            )
    return n


def _worker(jobs: list[tuple[dict[str, Any], str, str, str, str]]) -> int:
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return sum(pool.map(_window, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--page-latency-ms", type=float, default=500.0)
    parser.add_argument("--windows", type=int, default=16)
    args = parser.parse_args()
    code = SERVER.format(users=args.users, lat=args.page_latency_ms)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        ctx = ssl.create_default_context(cafile=info["ca_bundle"])
        now = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
        span = timedelta(days=180)
        step = span / args.windows
        jobs = []
        with httpx.Client(verify=ctx) as c:
            for env_url in info["dataverse"]:
                token = _token(c, info, env_url)
                env_jobs = []
                for w in range(args.windows):
                    start = now - span + step * w
                    env_jobs.append(
                        (
                            info,
                            env_url,
                            token,
                            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            (start + step).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        )
                    )
                jobs.append(env_jobs)
        cpu0, t0 = _cpu_seconds(proc.pid), time.perf_counter()
        with ProcessPoolExecutor(max_workers=len(jobs)) as pool:
            total = sum(pool.map(_worker, jobs))
        elapsed, cpu = time.perf_counter() - t0, _cpu_seconds(proc.pid) - cpu0
        print(
            f"served {total:,} audit records in {elapsed:.2f} s "
            f"({args.page_latency_ms:.0f} ms extra per page, "
            f"{len(jobs)} envs x {args.windows} windows)"
        )
        print(
            f"throughput: {total / elapsed:,.0f} records/s wall, "
            f"{total / max(cpu, 1e-9):,.0f} records per simulator CPU-second "
            f"(simulator used {cpu:.2f} CPU s)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
