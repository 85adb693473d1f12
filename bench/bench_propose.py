"""The rules stage at scale: `propose` (first run and a daily re-run), the candidates export and
`candidates list` for a synthetic tenant.

    .venv/bin/python bench/bench_propose.py                    # 20,000 users
    .venv/bin/python bench/bench_propose.py --users 200000
    .venv/bin/python bench/bench_propose.py --users 50000 --profile propose.prof
    .venv/bin/python bench/bench_propose.py --url postgresql+psycopg://postgres@127.0.0.1/test

Each user holds two licenses (facts rows built from the rules tests' `fact()` builder, then
replicated columnar), with a mix of idle, never used, active, group-inherited and overlapping
ones, so about three rows in four become candidates. Between the runs a reviewer decides on a
few percent of them; the re-run is the next day, with a few users back at work and a few whose
evidence changed. Results go to stdout and bench/results/propose.json.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from sqlalchemy import update
from sqlmodel import col, select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from license_analyzer.rules.exports import candidate_export_rows  # noqa: E402
from license_analyzer.rules.propose import ProposeOutcome, propose  # noqa: E402
from license_analyzer.rules.review import list_candidates  # noqa: E402
from license_analyzer.store.db import Store, open_store  # noqa: E402
from license_analyzer.store.models import Candidate, DirectoryGroup, GroupMember  # noqa: E402
from tests.factories import AS_OF, PROFILE, make_config, object_id, utc  # noqa: E402
from tests.rules.builders import add_skus, fact, facts_frame, write_facts  # noqa: E402

T = TypeVar("T")
GROUP = object_id("group:bench-sales")
# (first SKU, its days idle, second SKU, its days idle, extra columns): one user kind each.
# None days: never used. Weights are the number of users of each kind in a cycle of 20.
KINDS: list[tuple[int, str, int | None, str, int | None, dict[str, Any]]] = [
    (6, "SPE_E3", 90, "DYN365_ENTERPRISE_SALES", 120, {}),  # both idle
    (4, "SPE_E3", 3, "DYN365_ENTERPRISE_SALES", 75, {}),  # busy in Office, idle in Sales
    (3, "SPE_E3", None, "DYN365_TEAM_MEMBERS", None, {}),  # never used either
    (3, "SPE_E5", 2, "ENTERPRISEPACK", 2, {}),  # overlap: E5 covers Office 365 E3
    (2, "SPE_E3", 1, "DYN365_ENTERPRISE_SALES", 4, {}),  # active: nothing to propose
    (2, "SPE_E3", 80, "DYN365_ENTERPRISE_CUSTOMER_SERVICE", 95,
     {"via_groups": [GROUP]}),  # inherited through a group
]


def timed(label: str, results: dict[str, Any], fn: Callable[[], T]) -> T:
    start = time.perf_counter()
    value = fn()
    results[label] = round(time.perf_counter() - start, 2)
    print(f"{label:<28} {results[label]:>8.2f} s", flush=True)
    return value


def _templates(as_of: date) -> pl.DataFrame:
    """One facts row per (kind, slot) from the tests' builder, keyed by `kind` and `slot`."""
    rows = []
    for kind, (_, first, first_days, second, second_days, extra) in enumerate(KINDS):
        for slot, (part, days) in enumerate(((first, first_days), (second, second_days))):
            values = dict(extra) if slot == 1 else {}
            # activity days are fixed; only as_of (and the day counts) move between runs
            rows.append({**fact("template", part, days=days, **values), "as_of": as_of,
                         "kind": kind, "slot": slot})
    frame = facts_frame(rows)
    return frame.with_columns(kind=pl.Series([r["kind"] for r in rows]),
                              slot=pl.Series([r["slot"] for r in rows]))


def _users(n: int) -> pl.DataFrame:
    cycle = [kind for kind, (weight, *_) in enumerate(KINDS) for _ in range(weight)]
    index = pl.int_range(0, n, eager=True)
    return pl.DataFrame({"n": index}).with_columns(
        kind=pl.col("n").mod(len(cycle)).replace_strict(dict(enumerate(cycle)),
                                                        return_dtype=pl.Int64),
        user_id=pl.format("{}-0000-4000-8000-000000000000",
                          pl.col("n").cast(pl.String).str.zfill(8)),
        user_principal_name=pl.format("user{}@contoso.com", pl.col("n")),
        display_name=pl.format("User {}", pl.col("n")),
    )


def build_facts(n: int, as_of: date, back: set[int], changed: set[int]) -> pl.DataFrame:
    """Facts for `n` users as of `as_of`; users in `back` were active yesterday, users in
    `changed` show an older sign-in that surfaced late (their evidence changed)."""
    days_shift = (as_of - AS_OF).days
    facts = (
        _users(n).join(_templates(as_of), on="kind", suffix="_template")
        .with_columns(pl.col("days_since_activity") + days_shift)
        .with_columns(
            _back=pl.col("n").is_in(list(back)), _changed=pl.col("n").is_in(list(changed)))
        .with_columns(
            last_activity=pl.when(pl.col("_back"))
            .then(pl.lit(utc(as_of.year, as_of.month, as_of.day)) - timedelta(hours=12))
            .when(pl.col("_changed"))
            .then(pl.col("last_activity") + timedelta(days=7))
            .otherwise(pl.col("last_activity")),
            bucket=pl.when(pl.col("_back")).then(pl.lit("active")).otherwise(pl.col("bucket")),
            read_only=pl.when(pl.col("_back")).then(False).otherwise(pl.col("read_only")),
            active_days_30=pl.when(pl.col("_back")).then(20).otherwise(pl.col("active_days_30")),
            active_days_60=pl.when(pl.col("_back")).then(20).otherwise(pl.col("active_days_60")),
            days_since_activity=pl.when(pl.col("_back")).then(0)
            .when(pl.col("_changed")).then(pl.col("days_since_activity") - 7)
            .otherwise(pl.col("days_since_activity")),
        )
        .with_columns(last_attempt_at=pl.col("last_activity"),
                      last_activity_source=pl.when(pl.col("last_activity").is_not_null())
                      .then(pl.lit("entra_signin")))
    )
    schema = facts_frame([]).schema
    return facts.select(*schema).cast(dict(schema)).sort("user_id", "sku_id")


def build_tenant(store: Store) -> None:
    with store.session() as s:
        add_skus(s)
        s.add(DirectoryGroup(profile=PROFILE, id=GROUP, display_name="Bench sales",
                             assigned_licenses=[{"skuId": "x"}], updated_at=utc(2026, 1, 1)))
        s.add(GroupMember(profile=PROFILE, group_id=GROUP, user_id=object_id("nobody")))


def register(store: Store, facts: pl.DataFrame, as_of: date) -> int:
    """An analysis whose facts Parquet is `facts` (write_facts with an empty frame, replaced)."""
    analysis_id = write_facts(store, [], as_of=as_of)
    facts.write_parquet(store.data_dir / f"facts/analysis-{analysis_id}.parquet")
    return analysis_id


def review(store: Store, share: float) -> dict[str, int]:
    """A reviewer decides on `share` of the proposed candidates (a third each: approve, reject,
    snooze), the way `candidates approve|reject|snooze` leaves them."""
    with store.session() as s:
        ids = list(s.exec(select(Candidate.id).where(Candidate.status == "proposed")
                          .order_by(col(Candidate.id))))
        step = max(1, int(1 / share))
        picked = ids[::step]
        counts = {}
        for offset, status in enumerate(("approved", "rejected", "snoozed")):
            chosen = picked[offset::3]
            counts[status] = len(chosen)
            s.execute(update(Candidate).where(col(Candidate.id).in_(chosen)).values(
                status=status, decided_evidence_hash=Candidate.evidence_hash,
                snoozed_until=AS_OF + timedelta(days=30) if status == "snoozed" else None))
    return counts


def summary(outcome: ProposeOutcome) -> dict[str, Any]:
    return {"candidates": outcome.candidates, "new": outcome.new, "reopened": outcome.reopened,
            "cancelled": outcome.cancelled, "blocked": outcome.blocked,
            "by_status": outcome.by_status}


def run(users: int, url: str | None, profile_to: Path | None) -> dict[str, Any]:
    results: dict[str, Any] = {"users": users}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        store = open_store(url or f"sqlite:///{base / 'store.db'}", base=base,
                           data_dir=base / "data")
        results["backend"] = store.engine.dialect.name
        build_tenant(store)
        config = make_config(store=store)
        day1 = AS_OF
        facts = timed("build facts", results, lambda: build_facts(users, day1, set(), set()))
        results["facts_rows"] = facts.height
        first = register(store, facts, day1)
        profiler = cProfile.Profile() if profile_to else None
        if profiler:
            profiler.enable()
        outcome = timed("propose (first run)", results, lambda: propose(config, store, first))
        results["first"] = summary(outcome)
        results["decided"] = review(store, 0.04)
        # next day: 1% of users back at work, 0.5% with changed evidence
        day2 = day1 + timedelta(days=1)
        back = set(range(7, users, 100))
        changed = set(range(3, users, 200))
        second = register(store, build_facts(users, day2, back, changed), day2)
        outcome = timed("propose (daily re-run)", results, lambda: propose(config, store, second))
        results["rerun"] = summary(outcome)
        third = register(store, build_facts(users, day2, back, changed), day2)
        timed("propose (unchanged re-run)", results, lambda: propose(config, store, third))
        rows = timed("candidate_export_rows", results, lambda: candidate_export_rows(store))
        results["export_rows"] = len(rows)
        listed = timed("list_candidates", results, lambda: list_candidates(store))
        results["listed"] = len(listed)
        if profiler and profile_to:
            profiler.disable()
            profiler.dump_stats(profile_to)
        store.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of the runs here")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "propose.json")
    args = parser.parse_args(argv)
    results = run(args.users, args.url, args.profile)
    print(json.dumps(results, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
    previous[str(args.users)] = results
    args.out.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
