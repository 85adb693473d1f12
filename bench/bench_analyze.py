"""Benchmark `analyze` at scale against DuckDB on the `export activity` Parquet file.

In one run: build a store of --users users whose activity (--events events, rolled up into day
rows written through store.activity.write_activity, one Parquet file per source and day) spans
--days days, then measure in child processes (for peak memory):

- the activity step of analyze (per-user last activity and 30/90-day active days, from every
  activity row) against DuckDB computing the same from the export file: like with like;
- the whole analyze (full), its peak RSS, and the daily re-analysis after one new day of data
  (incremental, from the saved rollup), whose facts must equal a full analysis of that day.

    .venv/bin/python bench/bench_analyze.py                       # 200,000 users, 50M events
    .venv/bin/python bench/bench_analyze.py --users 5000 --events 500000   # smoke run

Figures go to stdout and bench/results/analyze.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from license_analyzer.config import Config  # noqa: E402
from license_analyzer.store.db import Store, open_store  # noqa: E402

AS_OF = date(2026, 11, 21)
PROFILE = "bench"
ENVS = ["https://sales.crm.dynamics.com", "https://service.crm.dynamics.com"]
SKUS = {"SPE_E3": "05e9a617-0261-4cee-bb44-138d3ef5d965",
        "DYN365_ENTERPRISE_SALES": "1e1a282c-9c54-43a2-9310-98ef728faace",
        "DYN365_FINANCE": "55c9eb4e-c746-45b4-b255-9ab6b19d5c62"}


# Microsoft 365 E3 is judged by its workloads (the usage reports), not by Entra sign-ins: its
# evidence is one row (one event) per active user-day, as the reports give: Teams for most,
# Exchange alone for one user in twelve (a mail-only suite, as the simulator has about 8%)
SUITE_SOURCES = ("m365_teams", "m365_exchange")


def suite_masks(active: Any) -> list[tuple[str, Any]]:
    mail_only = np.arange(len(active)) % 12 == 0
    return [(SUITE_SOURCES[0], active & ~mail_only), (SUITE_SOURCES[1], active & mail_only)]


def config_for(db: Path, data: Path) -> Config:
    return Config.model_validate({
        "storage": {"url": f"sqlite:///{db}", "data_dir": str(data)},
        "prices": {"SPE_E3": 36.0, "DYN365_ENTERPRISE_SALES": 105.0, "DYN365_FINANCE": 210.0},
        "profiles": [{"name": PROFILE, "tenant_id": str(uuid.uuid4()),
                      "client_id": str(uuid.uuid4()), "client_secret": "bench",
                      "dataverse": ENVS}]})


def _insert(store: Store, model: Any, rows: list[dict[str, Any]]) -> None:
    table = model.__table__  # bulk Core inserts: the ORM would take minutes at this size
    with store.engine.begin() as conn:
        for start in range(0, len(rows), 50_000):
            conn.execute(table.insert(), rows[start:start + 50_000])


def build_store(db: Path, data: Path, users: int, events: int, days: int,
                seed: int) -> dict[str, Any]:
    """The directory, licenses and activity of a synthetic tenant; the as-of day is held back."""
    from license_analyzer.store.models import (
        AssignmentOrigin,
        Coverage,
        DataverseUser,
        DirectoryUser,
        Environment,
        LicenseAssignment,
        Profile,
        SkuState,
    )

    rng = np.random.default_rng(seed)
    store = open_store(f"sqlite:///{db}", base=db.parent, data_dir=data)
    now = datetime(AS_OF.year, AS_OF.month, AS_OF.day, 6, tzinfo=UTC)
    ids = [str(uuid.UUID(int=int(x))) for x in rng.integers(1, 2**63, size=users, dtype=np.int64)]
    ce = rng.random(users) < 0.25
    erp = rng.random(users) < 0.05
    env_of = rng.integers(0, len(ENVS), size=users)
    propensity = rng.beta(2, 3, size=users)  # how often each user is active
    propensity[rng.random(users) < 0.15] = 0.0  # never active
    depts = ["Sales", "Finance", "IT", "Operations", "HR", None]
    _insert(store, Profile, [{"name": PROFILE, "tenant_id": str(uuid.uuid4()),
                                        "has_p1": True, "created_at": now, "updated_at": now}])
    _insert(store, SkuState, [
        {"profile": PROFILE, "sku_id": sid, "sku_part_number": part, "applies_to": "User",
         "capability_status": "Enabled", "enabled": users, "warning": 0, "suspended": 0,
         "locked_out": 0, "consumed": 0, "service_plans": [], "subscription_ids": [],
         "updated_at": now} for part, sid in SKUS.items()])
    _insert(store, Environment, [
        {"profile": PROFILE, "url": url, "kind": "dataverse", "families": [],
         "discovered": False, "audit_enabled": True, "user_access_audit_enabled": True}
        for url in ENVS])
    _insert(store, DirectoryUser, [
        {"profile": PROFILE, "id": uid, "user_principal_name": f"u{i}@bench.example",
         "display_name": f"User {i}", "account_enabled": True, "user_type": "Member",
         "department": depts[i % len(depts)], "sign_in_activity_collected": True,
         "first_seen_at": now, "last_seen_at": now} for i, uid in enumerate(ids)])
    since = now - timedelta(days=400)
    assignments, origins, systemusers = [], [], []
    for i, uid in enumerate(ids):
        held = ["SPE_E3"] + (["DYN365_ENTERPRISE_SALES"] if ce[i] else []) + (
            ["DYN365_FINANCE"] if erp[i] else [])
        for part in held:
            assignments.append({"profile": PROFILE, "user_id": uid, "sku_id": SKUS[part],
                                "via": "direct", "disabled_plans": [], "state": "Active",
                                "graph_updated_at": since, "valid_from": since})
            origins.append({"profile": PROFILE, "user_id": uid, "sku_id": SKUS[part],
                            "assigned_since": since, "provenance": "licenseAssignmentStates"})
        if ce[i]:
            systemusers.append({"profile": PROFILE, "environment_url": ENVS[env_of[i]],
                                "systemuser_id": str(uuid.uuid4()), "entra_object_id": uid,
                                "access_mode": 0, "is_disabled": False,
                                "is_application_user": False, "is_integration_user": False,
                                "is_human": True, "updated_at": now})
    _insert(store, LicenseAssignment, assignments)
    _insert(store, AssignmentOrigin, origins)
    _insert(store, DataverseUser, systemusers)
    first = AS_OF - timedelta(days=days)
    coverage = [{"profile": PROFILE, "source": s, "environment": e,
                 "start": datetime(first.year, first.month, first.day, tzinfo=UTC), "end": now}
                for s, e in [*((s, "") for s in SUITE_SOURCES), ("signin_crm", ""),
                             ("signin_erp", "")]
                + [("dataverse_audit", url) for url in ENVS]]
    _insert(store, Coverage, coverage)

    # rows per day: entra for everyone active, CRM sign-ins and Dataverse for CE users, ERP
    # SUITE_SOURCES rows carry one event (a day seen); the other sources carry the rest
    suite_rows = float(propensity.sum()) * days
    other_rows = float((propensity * ce).sum() * 2 + (propensity * erp).sum()) * days
    mean_events = max((events - suite_rows) / max(other_rows, 1.0), 1.0)
    ids_arr = np.array(ids)
    total_rows = total_events = 0
    for offset in range(days, -1, -1):
        day = AS_OF - timedelta(days=offset)
        if day == AS_OF:
            break  # the new day, added later
        rows, ev = write_day(store, rng, day, ids_arr, propensity, ce, erp, env_of, mean_events)
        total_rows += rows
        total_events += ev
    store.dispose()
    return {"rows": total_rows, "events": total_events, "mean_events": mean_events,
            "ce": ce, "erp": erp, "env_of": env_of, "propensity": propensity, "ids": ids_arr}


def write_day(store: Store, rng: np.random.Generator, day: date, ids: Any, propensity: Any,
              ce: Any, erp: Any, env_of: Any, mean_events: float) -> tuple[int, int]:
    from license_analyzer.store.activity import write_activity

    active = rng.random(len(ids)) < propensity
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = events = 0
    with store.session() as session:
        groups: list[tuple[str, str, Any]] = [(s, "", m) for s, m in suite_masks(active)]
        groups += [("signin_crm", "", active & ce), ("signin_erp", "", active & erp)]
        groups += [("dataverse_audit", url, active & ce & (env_of == k))
                   for k, url in enumerate(ENVS)]
        for source, env, mask in groups:
            n = int(mask.sum())
            ev = np.ones(n, dtype=np.int64) if source in SUITE_SOURCES else \
                rng.geometric(1.0 / mean_events, size=n).astype(np.int64)
            seconds = rng.integers(0, 86_400, size=n)
            frame = pl.DataFrame({
                "profile": [PROFILE] * n, "user_id": ids[mask], "source": [source] * n,
                "environment": [env] * n, "day": [day] * n, "events": ev,
                "last_at": pl.Series([base] * n).dt.cast_time_unit("us")
                + pl.Series(seconds * 1_000_000).cast(pl.Duration("us"))})
            write_activity(session, store, frame, profile=PROFILE, source=source,
                           environment=env, window_start=day, window_end=day)
            rows += n
            events += int(ev.sum())
    return rows, events


def directory_day(store: Store, rng: np.random.Generator, day: date, ids: Any,
                  propensity: Any, licenses: int) -> tuple[int, int]:
    """What the collectors write to the directory tables on a day, through the same upsert:
    signInActivity for the day's active users and `licenses` new E3 assignments (the triggers
    log these users). Returns (sign-in updates, new licenses)."""
    from license_analyzer.sources.upsert import upsert
    from license_analyzer.store.models import AssignmentOrigin, DirectoryUser, LicenseAssignment

    active = ids[rng.random(len(ids)) < propensity]
    at = datetime(day.year, day.month, day.day, 9, tzinfo=UTC)
    with store.session() as session:
        upsert(session, DirectoryUser, [
            {"profile": PROFILE, "id": uid, "user_principal_name": "", "first_seen_at": at,
             "last_seen_at": at, "last_sign_in_at": at, "last_successful_sign_in_at": at}
            for uid in active], update=["last_sign_in_at", "last_successful_sign_in_at",
                                        "last_seen_at"])
        joiners = [str(uuid.UUID(int=int(x))) for x in rng.integers(1, 2**63, size=licenses)]
        for i, uid in enumerate(joiners):
            session.add(DirectoryUser(profile=PROFILE, id=uid, user_principal_name=f"new{i}@x",
                                      first_seen_at=at, last_seen_at=at))
            session.add(LicenseAssignment(profile=PROFILE, user_id=uid, sku_id=SKUS["SPE_E3"],
                                          via="direct", valid_from=at, graph_updated_at=at))
            session.add(AssignmentOrigin(profile=PROFILE, user_id=uid, sku_id=SKUS["SPE_E3"],
                                         assigned_since=at, provenance="first_seen"))
        session.commit()
    return len(active), licenses


def child(args: argparse.Namespace) -> None:
    """Run one measured step in this process and print its figures as JSON."""
    config = config_for(Path(args.db), Path(args.data))
    store = open_store(config.storage.url, base=Path(args.db).parent, data_dir=Path(args.data))
    as_of = date.fromisoformat(args.as_of)
    # imported before the clock starts: what is timed is the analysis, not loading Python code
    from license_analyzer.pipeline.analyze import analyze

    started = time.perf_counter()
    out: dict[str, Any] = {}
    if args.child in ("full", "incremental"):
        outcome = analyze(config, store, as_of, incremental=args.child == "incremental")
        out.update(analysis_id=outcome.analysis_id, facts_path=str(outcome.facts_path),
                   incremental=outcome.incremental, rollup_saved=outcome.rollup_saved,
                   users_recomputed=outcome.users_recomputed,
                   assignments=outcome.assignments, files_read=outcome.activity_files_read,
                   steps={k: round(v, 3) for k, v in outcome.timings.items()})
    elif args.child == "step":
        activity_step(config, store, as_of)
    elif args.child == "export":
        from license_analyzer.pipeline.export import export_activity

        out["rows"] = export_activity(config, store, Path(args.export))
    elif args.child == "duckdb":
        out["rows"] = duckdb_query(Path(args.export), as_of)
    elif args.child == "sort-export":
        sort_for_duckdb(Path(args.export))
    out["seconds"] = time.perf_counter() - started
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def activity_step(config: Config, store: Store, as_of: date) -> int:
    """The part of analyze that computes per (user, evidence class) last activity and active
    days in 30/60/90 days, from every activity row (no rollup): what DuckDB is compared with.
    Its rows name the user by analyze's 128-bit user key (evidence.USER_KEY), which the facts
    step joins to the license rows that carry the ids; DuckDB's name them by id."""
    from license_analyzer.pipeline.analyze import known_evidence_classes
    from license_analyzer.pipeline.evidence import class_activity
    from license_analyzer.pipeline.facts import WINDOWS
    from license_analyzer.pipeline.rollup import plan_state
    from license_analyzer.pipeline.tables import read_tables
    from license_analyzer.store.activity import registered_files

    tables = read_tables(store)
    files = registered_files(store)
    _, class_channel = known_evidence_classes(tables, files, [PROFILE])
    plan = plan_state(store, files, as_of, incremental=False)
    frame = class_activity(plan.state, class_channel, as_of, WINDOWS).collect(engine="streaming")
    return frame.height


def sorted_export(export: Path) -> Path:
    return export.with_suffix(".sorted.parquet")


def sort_for_duckdb(export: Path) -> None:
    """The export in (profile, user_id, product, source, day) order, DuckDB's best case: it
    answered the query in about half the time (13-15 s against 28 s at 200,000 users) from a
    sorted file than from the export as written, whose rows are in no particular order. Sorted
    by DuckDB itself, spilling to disk, outside the timed query."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{export.parent / 'duckdb-temp'}'")
    con.execute(f"""COPY (SELECT * FROM read_parquet('{export}')
                          ORDER BY profile, user_id, product, source, day)
                    TO '{sorted_export(export)}' (FORMAT parquet)""")


def duckdb_query(export: Path, as_of: date) -> int:
    import duckdb

    query = f"""
        SELECT profile, user_id, product, max(last_at) AS last_at,
               count(DISTINCT day) FILTER (WHERE day > DATE '{as_of}' - 30) AS active_days_30,
               count(DISTINCT day) FILTER (WHERE day > DATE '{as_of}' - 90) AS active_days_90
        FROM read_parquet('{export}') WHERE day <= DATE '{as_of}'
        GROUP BY profile, user_id, product"""
    con = duckdb.connect()
    rows = con.execute(f"SELECT count(*) FROM ({query})").fetchone()
    return int(rows[0]) if rows else 0


def run_child(args: argparse.Namespace, step: str, as_of: date, **extra: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", step, "--db", str(args.db), "--data",
           str(args.data), "--as-of", as_of.isoformat()]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# what an analysis changes in the work folder: restored before each measured run
MUTABLE = ["store.db", "store.db-wal", "store.db-shm", "data/cache", "data/rollups"]


def _copy(src: Path, dst: Path) -> None:
    for name in MUTABLE:
        if (dst / name).is_dir():
            shutil.rmtree(dst / name)
        else:
            (dst / name).unlink(missing_ok=True)
        if (src / name).is_dir():
            shutil.copytree(src / name, dst / name)
        elif (src / name).exists():
            (dst / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / name, dst / name)


def daily_and_full(args: argparse.Namespace, day: date
                   ) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """`args.reps` daily (incremental) and full analyses of `day`, taking turns, each from the
    store as the collectors left it; the run of median time of each kind (with every time
    beside it), and whether the last daily and full facts are the same.

    This machine is shared: one full analysis took 4.3 s, then 6.8 s, minutes apart, so single
    runs could put the ratio anywhere between 8% and 13%."""
    work = Path(args.db).parent
    saved = work / "saved"
    shutil.rmtree(saved, ignore_errors=True)
    saved.mkdir()
    _copy(work, saved)
    dailies, fulls = [], []
    for _ in range(args.reps):
        _copy(saved, work)
        dailies.append(run_child(args, "incremental", day))
        _copy(saved, work)
        fulls.append(run_child(args, "full", day))
    same = pl.read_parquet(dailies[-1]["facts_path"]).equals(
        pl.read_parquet(fulls[-1]["facts_path"]))
    shutil.rmtree(saved)

    def median(runs: list[dict[str, Any]]) -> dict[str, Any]:
        ranked = sorted(runs, key=lambda run: float(run["seconds"]))
        return {**ranked[len(ranked) // 2], "all_seconds": [run["seconds"] for run in runs]}

    return median(dailies), median(fulls), bool(same)


def a_week(args: argparse.Namespace, built: dict[str, Any], rng: np.random.Generator,
           after: date) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
    """Seven more days as a daily schedule sees them (a day of activity, sign-ins and 200 new
    licenses, then the daily analysis), so the one that re-saves the weekly rollup is among
    them; the last day's daily is the median of `args.reps`, against a full analysis."""
    runs = []
    for offset in range(1, 8):
        day = after + timedelta(days=offset)
        store = open_store(f"sqlite:///{args.db}", base=Path(args.db).parent,
                           data_dir=args.data)
        write_day(store, rng, day, built["ids"], built["propensity"], built["ce"],
                  built["erp"], built["env_of"], built["mean_events"])
        directory_day(store, rng, day, built["ids"], built["propensity"], licenses=200)
        store.dispose()
        if offset < 7:
            runs.append(run_child(args, "incremental", day))
    last, full, same = daily_and_full(args, day)
    return [*runs, last], full, same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--events", type=int, default=50_000_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: temp)")
    parser.add_argument("--reps", type=int, default=3,
                        help="daily and full analyses per measured day (medians are reported)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "analyze.json",
                        help="where the figures go (JSON)")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--data", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--export", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    work.mkdir(parents=True, exist_ok=True)
    args.db, args.data = work / "store.db", work / "data"
    export = work / "activity.parquet"
    t0 = time.perf_counter()
    built = build_store(args.db, args.data, args.users, args.events, args.days, args.seed)
    build_s = time.perf_counter() - t0
    print(f"store: {args.users} users, {built['rows']:,} day rows, {built['events']:,} events"
          f" over {args.days} days (built in {build_s:.0f}s)")
    yesterday = AS_OF - timedelta(days=1)
    full = run_child(args, "full", yesterday)
    print(f"analyze (full, as of {yesterday}): {full['seconds']:.2f}s,"
          f" peak RSS {full['max_rss_mb']:.0f} MB, {full['assignments']:,} licenses")
    # one new day of data arrives, then the daily re-analysis
    store = open_store(f"sqlite:///{args.db}", base=work, data_dir=args.data)
    rng = np.random.default_rng(args.seed + 1)
    new_rows, new_events = write_day(store, rng, AS_OF, built["ids"], built["propensity"],
                                     built["ce"], built["erp"], built["env_of"],
                                     built["mean_events"])
    store.dispose()
    daily, full_today, same = daily_and_full(args, AS_OF)
    print(f"daily re-analysis (+{new_rows:,} rows): {daily['seconds']:.2f}s incremental="
          f"{daily['incremental']} vs full {full_today['seconds']:.2f}s"
          f" = {daily['seconds'] / full_today['seconds']:.1%}; identical facts: {same}")
    # the next day as the collectors leave it: activity, signInActivity of everyone active that
    # day (about a third of the users) and some new licenses
    tomorrow = AS_OF + timedelta(days=1)
    store = open_store(f"sqlite:///{args.db}", base=work, data_dir=args.data)
    write_day(store, rng, tomorrow, built["ids"], built["propensity"], built["ce"], built["erp"],
              built["env_of"], built["mean_events"])
    signins, joiners = directory_day(store, rng, tomorrow, built["ids"], built["propensity"],
                                     licenses=200)
    store.dispose()
    busy, busy_full, busy_same = daily_and_full(args, tomorrow)
    print(f"daily re-analysis with {signins:,} sign-in updates and {joiners} new licenses:"
          f" {busy['seconds']:.2f}s vs full {busy_full['seconds']:.2f}s"
          f" = {busy['seconds'] / busy_full['seconds']:.1%}; identical facts: {busy_same}")
    step = run_child(args, "step", tomorrow)
    exported = run_child(args, "export", tomorrow, export=str(export))
    run_child(args, "sort-export", tomorrow, export=str(export))
    duck = run_child(args, "duckdb", tomorrow, export=str(sorted_export(export)))
    print(f"activity step of analyze: {step['seconds']:.2f}s (peak {step['max_rss_mb']:.0f} MB)"
          f" vs DuckDB on the export ({exported['rows']:,} rows): {duck['seconds']:.2f}s"
          f" (peak {duck['max_rss_mb']:.0f} MB) = {step['seconds'] / duck['seconds']:.2f}x")
    print(f"export activity: {exported['seconds']:.2f}s (peak {exported['max_rss_mb']:.0f} MB)")
    week, week_full, week_same = a_week(args, built, rng, tomorrow)
    week_s = [run["seconds"] for run in week]
    print(f"a week of such days: daily {min(week_s):.2f}-{max(week_s):.2f}s, mean"
          f" {sum(week_s) / len(week_s):.2f}s vs full {week_full['seconds']:.2f}s on the last ="
          f" {sum(week_s) / len(week_s) / week_full['seconds']:.1%} (worst"
          f" {max(week_s) / week_full['seconds']:.1%}); identical facts: {week_same}")
    results = {
        "users": args.users, "days": args.days, "activity_rows": built["rows"] + new_rows,
        "events": built["events"] + new_events, "storage": "SQLite for the directory tables"
        " (read as one JSON array per column; per-user derived rows cached as Parquet and"
        " re-read only for the users a trigger-written change log names), activity day rows"
        " in Parquet files, one per (source, environment, day), registered in ActivityFile;"
        " rollup state and facts as Parquet",
        # one group_by and sort of every exported row, before it streamed (pipeline/export.py)
        "export_before_streaming": {"seconds": 61.5, "max_rss_mb": 17515},
        "before_issue_6": {"analyze_full_seconds": 87, "peak_rss_mb": 2594,
                           "daily_vs_full": 0.50, "step_vs_duckdb_smoke": 1.23},
        # every directory table read and every license joined anew each day
        "before_user_cache": {"daily_vs_full": 0.51, "daily_steps": {
            "tables": 1.65, "rollup": 0.29, "facts": 1.78, "positions": 0.05, "write": 0.28}},
        # per-block rollup rows, a second assignments pass for positions, coverage per user
        "before_one_row_per_channel": {"analyze_daily_seconds": 5.85, "daily_vs_full": 0.63,
                                       "daily_steps": {"tables": 1.64, "rollup": 0.61,
                                                       "facts": 2.665, "positions": 0.329}},
        "build_seconds": build_s, "analyze_full": full, "analyze_full_today": full_today,
        "analyze_daily_incremental": daily,
        "daily_with_directory_changes": {"signin_updates": signins, "new_licenses": joiners,
                                         "incremental": busy, "full": busy_full,
                                         "ratio": busy["seconds"] / busy_full["seconds"],
                                         "identical_facts": busy_same},
        "week_of_busy_days": {"daily_seconds": week_s, "rollups_saved": sum(
            1 for run in week if run["rollup_saved"]), "full": week_full,
            "mean_ratio": sum(week_s) / len(week_s) / week_full["seconds"],
            "worst_ratio": max(week_s) / week_full["seconds"], "identical_facts": week_same},
        "daily_vs_full": daily["seconds"] / full_today["seconds"],
        "incremental_equals_full": same, "activity_step": step,
        "duckdb_on_export": duck, "step_vs_duckdb": step["seconds"] / duck["seconds"],
        "export": exported, "peak_rss_mb_analyze": max(full["max_rss_mb"],
                                                       full_today["max_rss_mb"]),
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"results: {out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
