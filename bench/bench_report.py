"""Report generation at scale: time and file sizes of `write_report` for a synthetic tenant.

    .venv/bin/python bench/bench_report.py                 # 2,000 and 200,000 users
    .venv/bin/python bench/bench_report.py --users 20000

The store is built directly through bulk inserts (positions with 90 days of history,
departments, subscriptions, candidates for about a third of the users, facts Parquet), so the
numbers measure the report alone. Results go to stdout and bench/results/report.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import random
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from license_analyzer.config import Config  # noqa: E402
from license_analyzer.report.build import write_report  # noqa: E402
from license_analyzer.store.db import Store, open_store  # noqa: E402
from license_analyzer.store.models import (  # noqa: E402
    Analysis,
    Candidate,
    DepartmentPositionDaily,
    PositionDaily,
    Profile,
    RuleResult,
    StreamState,
    Subscription,
)

AS_OF = date(2026, 11, 21)
PROFILE = "contoso"
HISTORY_DAYS = 90
SKUS = [(f"SKU_{i:02d}", f"Product {i:02d}", p) for i, p in enumerate(
    [105.0, 57.0, 36.0, 20.0, 8.0, 12.5, 95.0, 180.0, 40.0, 65.0, 22.0, 10.0, 4.0, 2.5, 30.0,
     50.0, 75.0, 15.0, 6.0, 0.0])]
RULES = ["inactive", "never_used", "disabled_account", "overlap", "downgrade", "low_usage"]
STATUSES = ["proposed"] * 7 + ["approved", "rejected", "snoozed", "applied"]
BATCH = 20_000


def _now() -> datetime:
    return datetime(2026, 11, 21, 6, tzinfo=UTC)


def _bulk(store: Store, model: Any, rows: list[dict[str, Any]]) -> None:
    with store.engine.begin() as conn:
        for start in range(0, len(rows), BATCH):
            conn.execute(insert(model), rows[start:start + BATCH])


def build_store(store: Store, users: int, seed: int = 7,
                candidates: int | None = None) -> dict[str, int]:
    rng = random.Random(seed)
    now = _now()
    departments = [f"Department {i:03d}" for i in range(max(5, min(300, users // 500)))]
    _bulk(store, Profile, [dict(name=PROFILE, tenant_id="11111111-2222-3333-4444-555555555555",
                                has_p1=True, created_at=now, updated_at=now)])
    positions = []
    for index, (part, name, price) in enumerate(SKUS):
        base = max(10, int(users * (0.9 if index < 2 else rng.uniform(0.01, 0.3))))
        for offset in range(HISTORY_DAYS):
            day = AS_OF - timedelta(days=offset)
            assigned = int(base * (1 - offset * 0.001))
            active = int(assigned * (0.55 + 0.002 * offset))
            inactive = (assigned - active) // 2
            never = (assigned - active) - inactive
            purchased = int(base * 1.08)
            positions.append(dict(
                profile=PROFILE, sku_id=f"00000000-0000-0000-0000-{index:012d}", day=day,
                sku_part_number=part, product_name=name, purchased=purchased, warning=0,
                assigned=assigned, active=active, inactive=inactive, never_used=never,
                in_grace=0, no_data=0, low_usage=active // 10, over_assigned=0,
                unassigned=purchased - assigned, unit_price_monthly=price,
                monthly_cost=purchased * price,
                monthly_waste=(inactive + never + purchased - assigned) * price,
                reducible_at_renewal=inactive + never + purchased - assigned,
                next_renewal=AS_OF + timedelta(days=30 + index * 7), waste_counts=price > 0))
    _bulk(store, PositionDaily, positions)
    _bulk(store, Subscription, [
        dict(profile=PROFILE, id=f"sub-{i}", sku_id=f"00000000-0000-0000-0000-{i:012d}",
             sku_part_number=part, status="Enabled", total_licenses=int(users * 0.3),
             is_trial=False, next_lifecycle_at=now + timedelta(days=10 + i * 9), updated_at=now)
        for i, (part, _, _) in enumerate(SKUS)])
    _bulk(store, DepartmentPositionDaily, [
        dict(profile=PROFILE, department=d, day=AS_OF, assigned=users // len(departments),
             unused=rng.randint(0, users // len(departments)),
             monthly_cost=rng.uniform(1_000, 90_000), monthly_waste=rng.uniform(0, 30_000))
        for d in departments])

    count = candidates if candidates is not None else users // 3
    candidates = []
    for i in range(count):
        sku = i % len(SKUS)
        part, name, price = SKUS[sku]
        days = rng.choice([None, rng.randint(60, 400)])
        candidates.append(dict(
            id=f"c-{i:08x}", profile=PROFILE, user_id=f"user-{i:07d}",
            user_principal_name=f"user{i:07d}@contoso.example", display_name=f"User {i:07d}",
            department=rng.choice(departments), sku_id=f"00000000-0000-0000-0000-{sku:012d}",
            sku_part_number=part, product_name=name, rule=RULES[i % len(RULES)],
            also_matching=[], reason=f"No activity for {days or 'ever'} days",
            action="remove", target_sku_part_number=None, assigned_via="direct",
            blocked_reason=None, monthly_saving=price,
            last_activity=AS_OF - timedelta(days=days) if days else None,
            last_activity_source="entra_signin" if days else None, days_inactive=days,
            evidence={"last_activity": None if days is None else days, "coverage_days": 180,
                      "environments": ["https://org1.crm.dynamics.com"]},
            evidence_hash=f"{i:016x}", status=rng.choice(STATUSES), proposed_at=now,
            updated_at=now))
    _bulk(store, Candidate, candidates)

    facts_rel = "facts/analysis-1.parquet"
    n_facts = int(users * 1.5)
    days_since = [None if rng.random() < 0.08 else rng.randint(0, 500) for _ in range(n_facts)]
    frame = pl.DataFrame({
        "profile": [PROFILE] * n_facts,
        "user_id": [f"user-{i % users:07d}" for i in range(n_facts)],
        "product_name": [SKUS[i % len(SKUS)][1] for i in range(n_facts)],
        "is_free": [SKUS[i % len(SKUS)][2] == 0 for i in range(n_facts)],
        "is_capacity": [False] * n_facts,
        "last_activity": [now - timedelta(days=d) if d is not None else None for d in days_since],
        "days_since_activity": days_since,
    })
    path = store.data_dir / facts_rel
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)
    _bulk(store, Analysis, [dict(id=1, run_id=None, as_of=AS_OF, created_at=now,
                                 facts_path=facts_rel, users=users, assignments=n_facts)])
    _bulk(store, RuleResult, [dict(analysis_id=1, rule=r, description=f"rule {r}", matched=0,
                                   candidates=count // len(RULES), monthly_saving=0.0)
                              for r in RULES])
    _bulk(store, StreamState, [dict(profile=PROFILE, stream=s, partition="", cursor=None,
                                    status="ok", message=None, records_total=users,
                                    updated_at=now)
                               for s in ("users", "subscribedSkus", "signins_crm")])
    return {"candidates": count, "positions": len(positions), "facts": n_facts,
            "departments": len(departments)}


def bench(users: int, profile_to: Path | None = None,
          candidates: int | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp)
        store = open_store(f"sqlite:///{folder / 'store.db'}", base=folder,
                           data_dir=folder / "data")
        try:
            started = time.perf_counter()
            shape = build_store(store, users, candidates=candidates)
            built = time.perf_counter() - started
            profiler = cProfile.Profile() if profile_to else None
            started = time.perf_counter()
            if profiler:
                profiler.enable()
            index = write_report(Config(), store, folder / "out", AS_OF)
            seconds = time.perf_counter() - started
            if profiler and profile_to:
                profiler.disable()
                profiler.dump_stats(profile_to)
            sizes = {p.name: p.stat().st_size for p in index.parent.iterdir()}
        finally:
            store.dispose()
    return {"users": users, **shape, "build_store_s": round(built, 2),
            "write_report_s": round(seconds, 2), "bytes": sizes,
            "index_html_mb": round(sizes["index.html"] / 1e6, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, action="append",
                        help="tenant size; repeat for several (default: 2000 and 200000)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of write_report here")
    parser.add_argument("--candidates", type=int, help="candidates (default: a third of the users;"
                        " propose's own tenant has 310,000 at 200,000 users)")
    args = parser.parse_args(argv)
    results = [bench(n, args.profile, args.candidates) for n in (args.users or [2_000, 200_000])]
    for result in results:
        print(json.dumps(result))
    out = ROOT / "bench" / "results" / "report.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
