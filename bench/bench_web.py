"""The review app's candidate list at scale: a filtered, sorted page, p95 under 300 ms.

    .venv/bin/python bench/bench_web.py                      # 200,000 users, 310,000 candidates
    .venv/bin/python bench/bench_web.py --users 20000 --keep /tmp/web-store   # build once, reuse
    .venv/bin/python bench/bench_web.py --url postgresql+psycopg://postgres@127.0.0.1/test

The store is built the way bench_propose.py builds it (facts for N users, `propose`, a
reviewer deciding 4%), with ten departments. Then a fixed mix of list requests, each one
filter or two, a sort and a page, goes through the whole web request the browser makes
(session, SQL, template) and, apart, through the SQL alone. Results go to stdout and
bench/results/web.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import bench_propose  # noqa: E402

from license_analyzer.rules.candidate_page import (  # noqa: E402
    CandidateQuery,
    candidate_page,
    filter_choices,
)
from license_analyzer.rules.propose import propose  # noqa: E402
from license_analyzer.store.db import Store, open_store  # noqa: E402
from tests.factories import AS_OF, CLIENT_ID, TENANT_ID, make_config  # noqa: E402

DEPARTMENTS = ("Sales", "Customer Service", "Finance", "Operations", "IT", "HR", "Marketing",
               "Legal", "Engineering", "Executive")
REQUESTS = 200


def build(store: Store, users: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    bench_propose.build_tenant(store)
    facts = bench_propose.build_facts(users, AS_OF, set(), set())
    number = pl.col("user_id").str.slice(0, 8).cast(pl.Int64)
    facts = facts.with_columns(department=number.mod(len(DEPARTMENTS)).replace_strict(
        dict(enumerate(DEPARTMENTS)), return_dtype=pl.String))
    analysis = bench_propose.register(store, facts, AS_OF)
    started = time.perf_counter()
    outcome = propose(make_config(store=store), store, analysis)
    results["propose_s"] = round(time.perf_counter() - started, 1)
    results["candidates"] = outcome.candidates
    results["decided"] = bench_propose.review(store, 0.04)
    return results


def settle(store: Store) -> None:
    """What the database does by itself minutes after the daily run: fresh statistics, and on
    PostgreSQL a vacuum that lets index-only scans skip the rows propose rewrote."""
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("ANALYZE" if store.is_sqlite else "VACUUM (ANALYZE) candidate"))


def queries(choices: dict[str, list[str]], count: int, seed: int = 7) -> list[CandidateQuery]:
    """What reviewers ask for: mostly open candidates, one or two filters, any sort, early
    pages more often than late ones."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        spec: dict[str, Any] = {"status": rng.choice(["proposed"] * 4 + ["approved"])}
        for field in rng.sample(["product", "rule", "department", "action", "min_saving",
                                 "text"], k=rng.choice([0, 1, 1, 2])):
            if field == "min_saving":
                spec[field] = rng.choice([10.0, 50.0, 100.0])
            elif field == "text":
                spec[field] = rng.choice(["user1234", "User 99", "4000-8000", "nobody"])
            else:
                spec[field] = rng.choice(choices[field])
        spec["sort"] = rng.choice(["saving", "saving", "idle", "user"])
        spec["descending"] = rng.random() < 0.7
        spec["page"] = rng.choice([1, 1, 1, 2, 3, 5, 10, 40])
        out.append(CandidateQuery(**spec))
    return out


def timings(label: str, calls: list[Callable[[], object]]) -> dict[str, float]:
    seconds = []
    for call in calls:
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    seconds.sort()
    result = {"requests": len(seconds),
              "p50_ms": round(statistics.median(seconds) * 1000, 1),
              "p95_ms": round(seconds[int(len(seconds) * 0.95) - 1] * 1000, 1),
              "max_ms": round(seconds[-1] * 1000, 1)}
    print(f"{label:<24} p50 {result['p50_ms']:>7.1f} ms  p95 {result['p95_ms']:>7.1f} ms"
          f"  max {result['max_ms']:>7.1f} ms", flush=True)
    return result


def run(users: int, url: str | None, keep: Path | None) -> dict[str, Any]:
    results: dict[str, Any] = {"users": users}
    with tempfile.TemporaryDirectory() as tmp:
        base = keep or Path(tmp)
        store = open_store(url or f"sqlite:///{base / 'store.db'}", base=base,
                           data_dir=base / "data")
        results["backend"] = store.engine.dialect.name
        with store.engine.connect() as conn:  # a kept store (or database) is built once
            built = conn.execute(text("SELECT count(*) FROM candidate")).scalar_one()
        if not built:
            results |= build(store, users)
        settle(store)
        choices = filter_choices(store)
        mix = queries(choices, REQUESTS)
        for query in mix[:10]:  # warm the caches the way a running server has them warm
            candidate_page(store, query)
        results["sql"] = timings("list page (SQL)", [
            lambda q=q: candidate_page(store, q) for q in mix])  # type: ignore[misc]
        web = web_client(store)
        for query in mix[:10]:
            web(query)
        results["web"] = timings("list page (HTTP)", [
            lambda q=q: web(q) for q in mix])  # type: ignore[misc]
        store.dispose()
    return results


def web_client(store: Store) -> Callable[[CandidateQuery], object]:
    """The whole request a browser makes for a list page, signed in as a reviewer: session
    lookup, the page's SQL and the template, through the app's ASGI stack (no sign-in: the
    session is made directly; sign-in is not what a list page costs)."""
    from starlette.testclient import TestClient

    from license_analyzer.config import WebConfig
    from license_analyzer.web.app import create_app

    web = WebConfig(base_url="http://testserver", tenant_id=TENANT_ID, client_id=CLIENT_ID,
                    client_secret="bench-secret", session_secret="b" * 40,
                    reviewers=["reviewers"])
    config = make_config(store=store).model_copy(update={"web": web})
    app = create_app(config, store, sign_in=None)  # type: ignore[arg-type]
    sessions = app.state.web.sessions
    session = sessions.signed_in(sessions.begin({}, "/"), "0" * 8, "bench@contoso.com",
                                 "Bench", ["viewer", "reviewer"])
    client = TestClient(app, base_url="http://testserver")
    client.cookies.set(app.state.web.cookie.name, session.token)

    def get(query: CandidateQuery) -> object:
        params = {"status": query.status, "sort": query.sort,
                  "dir": "desc" if query.descending else "asc", "page": query.page,
                  "q": query.text or "", "min_saving": query.min_saving or "",
                  **{k: getattr(query, k) or "" for k in ("product", "rule", "department",
                                                          "action")}}
        answer = client.get("/candidates", params=params)
        assert answer.status_code == 200, answer.text[:300]
        return answer

    return get


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--url", help="a database URL (default: a fresh SQLite file)")
    parser.add_argument("--keep", type=Path, help="build the SQLite store in this folder once"
                        " and reuse it on later runs (a --url database with candidates is"
                        " reused too)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "web.json")
    args = parser.parse_args(argv)
    results = run(args.users, args.url, args.keep)
    print(json.dumps(results, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if args.out.exists():
        previous = json.loads(args.out.read_text())
    previous[f"{results['backend']}-{args.users}"] = results
    args.out.write_text(json.dumps(previous, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
