"""Dataverse user-access audit (action 64/65, operation 4) per environment, rolled up at
ingestion to (Entra user, day) rows.

The time range is split into whole-day windows fetched concurrently (a thread pool, 5,000
records a page) under an AIMD limit that halves when Dataverse answers 429. Finished windows
are committed strictly in order (windows.WindowCommitter), so the cursor never skips one.
The first collection reaches back to activity_since or the audit retention, whichever is
shorter; time lost to an outage longer than the retention is recorded as a gap.
"""

from __future__ import annotations

import logging
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor, as_completed
from datetime import timedelta

import httpx
import polars as pl

from license_analyzer.errors import SourceError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.dataverse import human_map
from license_analyzer.sources.incremental import plan_start, record_plan_gap
from license_analyzer.sources.pacing import AdaptiveLimit, ExecutionBudget
from license_analyzer.sources.paginate import pages
from license_analyzer.sources.rollup import audit_day_rows
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import AUDITS
from license_analyzer.sources.windows import Window, WindowCommitter, day_windows, odata_time
from license_analyzer.store.models import Environment

log = logging.getLogger(__name__)

SOURCE = "dataverse_audit"
# Dataverse service protection: 1,200 s of execution per 300 s per user and web server; keep a
# margin for the requests of other streams and for clock differences
EXECUTION_WINDOW_S = 300.0
EXECUTION_RESERVE_S = 120.0
EXECUTION_BUDGET_S = 1200.0 - EXECUTION_RESERVE_S


def _retention(env: Environment | None) -> timedelta | None:
    days = env.audit_retention_days if env is not None else None
    return timedelta(days=days) if days is not None and days > 0 else None


def fetch_window(client: httpx.Client, window: Window, humans: pl.DataFrame, *, profile: str,
                 url: str, ticker: Ticker, budget: ExecutionBudget | None = None
                 ) -> pl.DataFrame:
    query = AUDITS.query(filter=f"createdon ge {odata_time(window.start)} and "
                                f"createdon lt {odata_time(window.end)}")
    tokens: list[int] = []
    # only the requests themselves count against the service's execution time, not the
    # client's parsing between them
    got = list(pages(client, AUDITS, query, what=f"Reading the user-access audit of {url}",
                     on_page=ticker.page,
                     before_request=(lambda: tokens.append(budget.start())) if budget else None,
                     after_request=(lambda response: budget.finish(tokens.pop(), response))
                     if budget else None))
    return audit_day_rows(got, humans, profile=profile, environment=url)


def collect_audits(ctx: Context, ticker: Ticker, url: str) -> str | None:
    with ctx.store.session() as session:
        env = session.get(Environment, (ctx.name, url))
        retention = _retention(env)
        plan = plan_start(ctx, session, stream=SOURCE, partition=url, retention=retention)
        days = env.audit_retention_days if env else None
        record_plan_gap(ctx, session, plan, source=SOURCE, environment=url,
                        keeps=f"{url} keeps audit records {days} days")
    logging_on = env is not None and bool(env.audit_enabled and env.user_access_audit_enabled)
    humans = human_map(ctx, url)
    if humans.height == 0 and env is None:
        raise SourceError(f"The users of {url} are not known, so its audit cannot be tied to "
                          "people; it is collected on the next run.")
    windows = day_windows(plan.start, ctx.now)
    committer = WindowCommitter(ctx.store, windows, profile=ctx.name, stream=SOURCE,
                                partition=url, source=SOURCE, environment=url,
                                run_id=ctx.run_id, flush_every_s=ctx.tuning.flush_every_s,
                                cover=logging_on)
    client = ctx.clients.dataverse(url)
    path = httpx.URL(str(client.base_url).rstrip("/") + AUDITS.path).path
    stats = ctx.clients.stats

    def throttled() -> int:
        entry = stats.by_path.get(path)
        return entry.throttled if entry is not None else 0

    limit = AdaptiveLimit(ctx.profile.audit_concurrency, throttled)
    scale = ctx.tuning.time_scale
    budget = ExecutionBudget(EXECUTION_BUDGET_S * scale, EXECUTION_WINDOW_S * scale,
                             reserve_s=EXECUTION_RESERVE_S * scale, report_scale=scale)

    def run(window: Window) -> pl.DataFrame:
        limit.acquire()
        try:
            return fetch_window(client, window, humans, profile=ctx.name, url=url,
                                ticker=ticker, budget=budget)
        finally:
            limit.release()

    first_error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=limit.maximum,
                            thread_name_prefix="audit") as pool:
        futures: dict[Future[pl.DataFrame], int] = {
            pool.submit(run, w): i for i, w in enumerate(windows)}
        try:
            for future in as_completed(futures):
                try:
                    rows = future.result()
                except CancelledError:
                    continue
                except Exception as exc:  # stop starting windows; keep the finished ones
                    if first_error is None:
                        first_error = exc
                        for other in futures:
                            other.cancel()
                    continue
                committer.finished(futures[future], rows)
                ticker.note(f"limit {limit.limit}")
        finally:
            for other in futures:
                other.cancel()
            committer.flush()
    if first_error is not None:
        raise first_error
    if limit.lowest < limit.maximum or budget.waited_s > 0:
        log.info("%s %s: audit concurrency went down to %d on throttling; %.0f s spent waiting "
                 "for the execution-time budget", ctx.name, url, limit.lowest, budget.waited_s)
    if not logging_on:
        message = (f"User-access auditing is off in {url}, so access there leaves no evidence; "
                   "turn on auditing and 'Log access' in the environment's audit settings.")
        raise Degraded(message)
    with ctx.store.session() as session:
        save_state(session, ctx.name, SOURCE, url, status="ok")
    return None
