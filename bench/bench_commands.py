"""The daily job as a user runs it: whole `license-analyzer` processes, timed from outside.

In one run, on a store built like bench_analyze.py's (--users users, --events events over
--days days, the as-of day held back):

- start-up: `--help`, and `usage` on an empty store (created and migrated first, so what is
  timed is opening a current store, not creating it);
- `analyze` (analysis and propose, one process) on a first run, then on the next day after a
  day of new activity (daily), each with its peak RSS;
- DuckDB beside it: the per-user last activity and 30/90-day active-day counts from the
  `export activity` file of the same store (sorted by user, DuckDB's best case), in its own
  process, timed the same way; the ratio analyze / DuckDB is what the issue's target names;
- `report` on that store: its time and the size of index.html.

    .venv/bin/python bench/bench_commands.py                           # 200,000 users, 50M events
    .venv/bin/python bench/bench_commands.py --users 20000 --events 5000000

Timings are medians of --reps runs (the machine is shared: single runs move by tens of percent).
Figures go to stdout and bench/results/commands-<users>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import bench_analyze as built_like  # noqa: E402

from license_analyzer.store.db import open_store  # noqa: E402

CLI = [sys.executable, "-m", "license_analyzer"]
TIME = "/usr/bin/time"


def write_config(folder: Path, db: Path, data: Path) -> Path:
    tenant = "0b6c1a52-5f3e-4a8e-9a55-4d3f0c1b2a77"
    envs = ", ".join(f'"{url}"' for url in built_like.ENVS)
    path = folder / "license-analyzer.toml"
    path.write_text(f"""
[storage]
url = "sqlite:///{db}"
data_dir = "{data}"

[prices]
SPE_E3 = 36.0
DYN365_ENTERPRISE_SALES = 105.0
DYN365_FINANCE = 210.0

[[profiles]]
name = "{built_like.PROFILE}"
tenant_id = "{tenant}"
client_id = "{tenant}"
client_secret = "bench"
dataverse = [{envs}]
""", encoding="utf-8")
    return path


def timed(cmd: list[str], cwd: Path) -> dict[str, Any]:
    """One whole process: wall seconds and peak RSS (GNU time's %M), the output kept."""
    out = cwd / "time.txt"
    started = time.perf_counter()
    done = subprocess.run([TIME, "-f", "%M", "-o", str(out), *cmd], cwd=cwd,
                          capture_output=True, text=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd[2:])} failed ({done.returncode}): {done.stderr[-2000:]}")
    rss_kb = int(out.read_text().split()[-1])
    return {"seconds": round(seconds, 3), "max_rss_mb": round(rss_kb / 1024, 1),
            "stdout": done.stdout.strip()[-300:]}


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ranked = sorted(runs, key=lambda r: float(r["seconds"]))
    return {**ranked[len(ranked) // 2], "all_seconds": [r["seconds"] for r in runs],
            "median_seconds": statistics.median(r["seconds"] for r in runs)}


MUTABLE = ["store.db", "store.db-wal", "store.db-shm", "data"]


def snapshot(work: Path, to: Path) -> None:
    shutil.rmtree(to, ignore_errors=True)
    to.mkdir()
    for name in MUTABLE:
        src = work / name
        if src.is_dir():
            shutil.copytree(src, to / name)
        elif src.exists():
            shutil.copy2(src, to / name)


def restore(saved: Path, work: Path) -> None:
    for name in MUTABLE:
        dst = work / name
        if dst.is_dir():
            shutil.rmtree(dst)
        else:
            dst.unlink(missing_ok=True)
        if (saved / name).is_dir():
            shutil.copytree(saved / name, dst)
        elif (saved / name).exists():
            shutil.copy2(saved / name, dst)


def startup(work: Path, reps: int) -> dict[str, Any]:
    empty = work / "empty"
    empty.mkdir()
    config = write_config(empty, empty / "store.db", empty / "data")
    timed([*CLI, "--config", str(config), "usage"], empty)  # creates and migrates the store
    return {"help": median_of([timed([*CLI, "--help"], empty) for _ in range(reps)]),
            "usage_empty_store": median_of([timed([*CLI, "--config", str(config), "usage"],
                                                  empty) for _ in range(reps)])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or HERE / "results" / f"commands-{args.users}.json"
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-commands-"))
    work.mkdir(parents=True, exist_ok=True)
    db, data = work / "store.db", work / "data"
    results: dict[str, Any] = {"users": args.users, "reps": args.reps}

    results["startup"] = startup(work, args.reps)
    print(f"start-up: --help {results['startup']['help']['median_seconds']:.2f}s, usage on an"
          f" empty store {results['startup']['usage_empty_store']['median_seconds']:.2f}s",
          flush=True)

    t0 = time.perf_counter()
    built = built_like.build_store(db, data, args.users, args.events, args.days, args.seed)
    results["store"] = {"activity_rows": built["rows"], "events": built["events"],
                        "build_seconds": round(time.perf_counter() - t0, 1)}
    print(f"store: {args.users:,} users, {built['rows']:,} day rows, {built['events']:,}"
          f" events", flush=True)
    config = write_config(work, db, data)
    yesterday = built_like.AS_OF - timedelta(days=1)
    analyze = [*CLI, "--config", str(config), "analyze", "--as-of"]

    saved = work / "saved"
    snapshot(work, saved)
    firsts = []
    for _ in range(args.reps):
        restore(saved, work)
        firsts.append(timed([*analyze, yesterday.isoformat()], work))
    results["analyze_first"] = median_of(firsts)
    print(f"analyze, first run: {results['analyze_first']['median_seconds']:.2f}s, peak"
          f" {max(r['max_rss_mb'] for r in firsts):.0f} MB", flush=True)

    # the next day: one day of new activity, then the daily analyze (store as after the first)
    store = open_store(f"sqlite:///{db}", base=work, data_dir=data)
    built_like.write_day(store, np.random.default_rng(args.seed + 1), built_like.AS_OF,
                         built["ids"], built["propensity"], built["ce"], built["erp"],
                         built["env_of"], built["mean_events"])
    store.dispose()
    snapshot(work, saved)
    dailies = []
    for _ in range(args.reps):
        restore(saved, work)
        dailies.append(timed([*analyze, built_like.AS_OF.isoformat()], work))
    results["analyze_daily"] = median_of(dailies)
    print(f"analyze, daily: {results['analyze_daily']['median_seconds']:.2f}s, peak"
          f" {max(r['max_rss_mb'] for r in dailies):.0f} MB", flush=True)

    export = work / "activity.parquet"
    timed([*CLI, "--config", str(config), "export", "activity", "--format", "parquet",
           "--out", str(export)], work)
    built_like.sort_for_duckdb(export)
    sorted_file = built_like.sorted_export(export)
    duck = [sys.executable, str(HERE / "bench_analyze.py"), "--child", "duckdb", "--db",
            str(db), "--data", str(data), "--as-of", built_like.AS_OF.isoformat(),
            "--export", str(sorted_file)]
    # side by side: DuckDB and the daily analyze take turns, so both see the same machine
    pairs = []
    for _ in range(args.reps):
        restore(saved, work)
        pairs.append((timed([*analyze, built_like.AS_OF.isoformat()], work), timed(duck, work)))
    ratios = [a["seconds"] / d["seconds"] for a, d in pairs]
    # DuckDB's query alone, as its process measured it after loading (the stricter ratio)
    queries = [json.loads(d["stdout"].splitlines()[-1])["seconds"] for _, d in pairs]
    strict = [a["seconds"] / q for (a, _), q in zip(pairs, queries, strict=True)]
    results["analyze_vs_duckdb"] = {
        "analyze_seconds": [a["seconds"] for a, _ in pairs],
        "duckdb_seconds": [d["seconds"] for _, d in pairs],
        "duckdb_max_rss_mb": max(d["max_rss_mb"] for _, d in pairs),
        "ratios": [round(r, 2) for r in ratios], "median_ratio": statistics.median(ratios),
        "duckdb_query_seconds": queries, "ratios_vs_query_alone": [round(r, 2) for r in strict],
        "median_ratio_vs_query_alone": statistics.median(strict),
        "first_run_ratio": results["analyze_first"]["median_seconds"]
        / statistics.median(d["seconds"] for _, d in pairs)}
    print(f"analyze (daily, whole process) / DuckDB on the export (whole process): median"
          f" {statistics.median(ratios):.2f}x; / DuckDB's query alone: median"
          f" {statistics.median(strict):.2f}x", flush=True)

    restore(saved, work)
    timed([*analyze, built_like.AS_OF.isoformat()], work)
    reports = [timed([*CLI, "--config", str(config), "report", "--out", str(work / "reports"),
                      "--as-of", built_like.AS_OF.isoformat()], work)
               for _ in range(args.reps)]
    results["report"] = median_of(reports)
    index = Path(reports[-1]["stdout"].splitlines()[-1])
    results["report"]["index_html_mb"] = round(index.stat().st_size / 1e6, 2)
    results["report"]["files_mb"] = {p.name: round(p.stat().st_size / 1e6, 2)
                                     for p in index.parent.iterdir()}
    print(f"report: {results['report']['median_seconds']:.2f}s, index.html"
          f" {results['report']['index_html_mb']} MB", flush=True)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
