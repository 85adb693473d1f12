"""Benchmark of the audit collection against the simulated cloud.

A tenant of 200,000 users and 10+ million user-access audit records over 4 Dataverse
environments, with a realistic 500 ms per 5,000-record page and the real service-protection
limits (time_scale 1). It measures:

1. the concurrent windowed collection (the product's path) per environment, against the
   service-protection bound of 20 pages/s = 100,000 records/s;
2. plain sequential nextLink paging on a subset of days, extrapolated to the same records;
3. client-side parsing and storing on recorded pages, without the network.

The simulator runs in its own process so that it does not share the client's GIL (it still
shares the machine's cores). Results go to stdout and bench/results/collect.json.

usage: .venv/bin/python bench/bench_collect.py [--users 200000] [--records 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from license_analyzer.config import load_config  # noqa: E402
from license_analyzer.sources import audits, dataverse, graph_tenant, graph_users  # noqa: E402
from license_analyzer.sources.collect import CollectOutcome, ProfileRun, _per_env  # noqa: E402
from license_analyzer.sources.context import Context, Tuning  # noqa: E402
from license_analyzer.sources.http import connect  # noqa: E402
from license_analyzer.sources.progress import Display  # noqa: E402
from license_analyzer.sources.rollup import audit_day_rows  # noqa: E402
from license_analyzer.sources.streams import AUDITS  # noqa: E402
from license_analyzer.sources.windows import odata_time  # noqa: E402
from license_analyzer.store.activity import write_activity  # noqa: E402
from license_analyzer.store.db import open_store  # noqa: E402

NOW = datetime(2026, 11, 21, 6, tzinfo=UTC)
PAGE = 5000
BOUND_PAGES_PER_S = 6000 / 300  # Dataverse: 6,000 requests per 5 minutes per user and server


def serve(args: argparse.Namespace) -> None:
    """Child process: the simulator, every environment keeping its audit forever."""
    from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file

    # Microsoft's real service-protection limits (the simulator's defaults).
    opts = SimulatorOptions(users=args.users, seed=42, now=NOW, dataverse_envs=args.envs,
                            fno_envs=0, audit_page_latency_ms=args.latency_ms,
                            history_days=args.history_days, time_scale=1.0)
    with Simulator(opts) as sim:
        for env in sim.tenant.dataverse:
            env.audit_retention_days = -1
        write_config_file(sim.info, Path(args.serve))
        counts = {url.lower(): sim.truth.audit_records(url) for url in sim.info["dataverse"]}
        sys.stdout.write(json.dumps({"counts": counts}) + "\n")
        sys.stdout.flush()
        sys.stdin.read()  # until the parent closes our stdin


def start_simulator(args: argparse.Namespace, folder: Path) -> tuple[subprocess.Popen[str],
                                                                      dict[str, int]]:
    config = folder / "license-analyzer.toml"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", str(config),
           "--users", str(args.users), "--envs", str(args.envs), "--latency-ms",
           str(args.latency_ms), "--history-days", str(args.history_days)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the simulator did not start")
    return proc, json.loads(line)["counts"]


def concurrent_collection(config_path: Path, folder: Path, since: datetime,
                          concurrency: int) -> tuple[CollectOutcome, float]:
    text = config_path.read_text()
    text = text.replace("[[profiles]]", f"[[profiles]]\nactivity_since = \"{since.date()}\"\n"
                        f"audit_concurrency = {concurrency}", 1)
    config_path.write_text(text)
    config = load_config(config_path)
    profile = config.profiles[0]
    store = open_store(f"sqlite:///{folder / 'bench.db'}", base=folder, data_dir=folder / "data")
    connection = connect(profile, concurrency=concurrency, base_dir=folder)
    ctx = Context(config=config, store=store, profile=profile, clients=connection, now=NOW,
                  tuning=Tuning())
    outcome = CollectOutcome()
    runner = ProfileRun(ctx, Display(), outcome)
    runner.stream("organization", "", lambda t: graph_tenant.collect_organization(ctx, t))
    runner.stream("users", "", lambda t: graph_users.collect_users(ctx, t))
    started = time.monotonic()
    for env in profile.dataverse:
        url = env.url
        runner.stream("dataverse_organization", url,
                      partial(_per_env, dataverse.collect_environment, ctx, url))
        runner.stream("systemusers", url,
                      partial(_per_env, dataverse.collect_systemusers, ctx, url))
        runner.stream(audits.SOURCE, url, partial(_per_env, audits.collect_audits, ctx, url))
    elapsed = time.monotonic() - started
    connection.close()
    store.dispose()
    return outcome, elapsed


def sequential_paging(config_path: Path, folder: Path, url: str, start: datetime,
                      days: int) -> tuple[int, int, float, list[bytes]]:
    """One query over `days` days followed page by page: the plain way."""
    config = load_config(config_path)
    connection = connect(config.profiles[0], concurrency=1, base_dir=folder)
    client = connection.dataverse(url)
    query = AUDITS.query(filter=f"createdon ge {odata_time(start)} and "
                                f"createdon lt {odata_time(start + timedelta(days=days))}")
    raw: list[bytes] = []
    records = pages = 0
    began = time.monotonic()
    response = client.get(AUDITS.path, params=query, headers=dict(AUDITS.headers))
    while True:
        response.raise_for_status()
        raw.append(response.content)
        body = orjson.loads(response.content)
        records += len(body["value"])
        pages += 1
        link = body.get("@odata.nextLink")
        if not link:
            break
        response = client.get(link, headers=dict(AUDITS.headers))
    elapsed = time.monotonic() - began
    connection.close()
    return records, pages, elapsed, raw


def parse_and_store(raw: list[bytes], folder: Path) -> tuple[int, float]:
    """orjson, roll-up to day rows and Parquet + registration, on recorded pages."""
    store = open_store(f"sqlite:///{folder / 'parse.db'}", base=folder,
                       data_dir=folder / "parse-data")
    sample = orjson.loads(raw[0])["value"]
    ids = sorted({r["_objectid_value"] for r in sample} | {r["_userid_value"] for r in sample
                                                             if r["_userid_value"]})
    humans = pl.DataFrame({"systemuser_id": ids, "entra_object_id": ids})
    records = 0
    began = time.monotonic()
    batch: list[list[dict[str, Any]]] = []
    for i, body in enumerate(raw):
        page = orjson.loads(body)["value"]
        records += len(page)
        batch.append(page)
        if len(batch) == 10 or i == len(raw) - 1:
            rows = audit_day_rows(batch, humans, profile="bench", environment="https://x")
            with store.session() as session:
                if rows.height:
                    write_activity(session, store, rows, profile="bench",
                                   source="dataverse_audit", environment="https://x",
                                   window_start=rows["day"].min(),  # type: ignore[arg-type]
                                   window_end=rows["day"].max())  # type: ignore[arg-type]
            batch = []
    elapsed = time.monotonic() - began
    store.dispose()
    return records, elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--records", type=int, default=10_000_000,
                        help="fail the run when the tenant holds fewer audit records")
    parser.add_argument("--envs", type=int, default=4)
    parser.add_argument("--history-days", type=int, default=250)
    parser.add_argument("--latency-ms", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential-days", type=int, default=12)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "collect.json")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t0 = time.monotonic()
        proc, counts = start_simulator(args, folder)
        generated_s = time.monotonic() - t0
        total = sum(counts.values())
        print(f"simulator: {args.users:,} users, {total:,} audit records in {args.envs} "
              f"environments (generated in {generated_s:.0f} s)", flush=True)
        try:
            since = NOW - timedelta(days=args.history_days)
            outcome, elapsed = concurrent_collection(folder / "license-analyzer.toml", folder,
                                                     since, args.concurrency)
            per_env: list[dict[str, Any]] = []
            for s in outcome.streams:
                if s.stream != audits.SOURCE:
                    continue
                rate = s.records / s.duration_s if s.duration_s else 0.0
                per_env.append({
                    "environment": s.partition, "status": s.status,
                    "records": s.records, "expected": counts.get(s.partition),
                    "pages": s.pages, "seconds": round(s.duration_s, 2),
                    "records_per_s": round(rate), "pages_per_s": round(s.pages / s.duration_s, 2),
                    "share_of_bound": round(rate / (BOUND_PAGES_PER_S * PAGE), 3),
                    "retries": s.retries, "waited_s": round(s.waited_s, 2)})
                print(f"  {s.partition}: {s.records:,} records ({counts.get(s.partition):,} "
                      f"expected) in {s.duration_s:.1f} s = {rate:,.0f} records/s, "
                      f"{s.pages / s.duration_s:.1f} pages/s, {s.retries} retries", flush=True)
            directory = {s.stream: round(s.duration_s, 2) for s in outcome.streams
                         if s.stream in ("users", "organization")}
            collected = sum(e["records"] for e in per_env)
            print(f"concurrent: {collected:,} records in {elapsed:.1f} s = "
                  f"{collected / elapsed:,.0f} records/s over all environments", flush=True)
            complete = [e for e in per_env if e["status"] == "ok"] or per_env
            biggest = max(complete, key=lambda e: e["records"])
            seq_start = NOW - timedelta(days=args.sequential_days + 1)
            seq_records, seq_pages, seq_s, raw = sequential_paging(
                folder / "license-analyzer.toml", folder, biggest["environment"], seq_start,
                args.sequential_days)
            seq_rate = seq_records / seq_s
            extrapolated = biggest["records"] / seq_rate
            speedup = extrapolated / biggest["seconds"]
            for e in per_env:
                e["sequential_extrapolated_s"] = round(e["records"] / seq_rate)
                e["speedup_vs_sequential"] = round(e["records"] / seq_rate / e["seconds"], 1)
            print(f"sequential: {seq_records:,} records in {seq_pages} pages in {seq_s:.1f} s = "
                  f"{seq_rate:,.0f} records/s; {biggest['records']:,} records would take "
                  f"{extrapolated:.0f} s vs {biggest['seconds']:.0f} s concurrent = "
                  f"{speedup:.1f}x", flush=True)
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
        parsed, parse_s = parse_and_store(raw, folder)
        parse_rate = parsed / parse_s
        print(f"parse + store (no network): {parsed:,} records in {parse_s:.2f} s = "
              f"{parse_rate:,.0f} records/s", flush=True)
    result = {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "users": args.users, "environments": args.envs,
        "audit_records": total, "page_latency_ms": args.latency_ms,
        "concurrency": args.concurrency,
        "bound_records_per_s_per_env": int(BOUND_PAGES_PER_S * PAGE),
        "per_environment": per_env, "directory_seconds": directory,
        "concurrent": {"records": collected, "seconds": round(elapsed, 1),
                       "records_per_s": round(collected / elapsed)},
        "sequential": {"environment": biggest["environment"], "days": args.sequential_days,
                       "records": seq_records, "pages": seq_pages, "seconds": round(seq_s, 2),
                       "records_per_s": round(seq_rate),
                       "extrapolated_seconds": round(extrapolated),
                       "speedup": round(speedup, 1)},
        "parse_store": {"records": parsed, "seconds": round(parse_s, 2),
                        "records_per_s": round(parse_rate)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")
    return 0 if total >= args.records else 1


if __name__ == "__main__":
    sys.exit(main())
