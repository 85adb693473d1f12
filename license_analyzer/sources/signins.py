"""The Entra sign-in log for the Dynamics CRM and ERP resources: one slow serial stream.

The log allows about 5 requests per 10 s per app per tenant, so every request waits for a
token of a client-side bucket. It is read incrementally in windows of whole days by
createdDateTime (a week at most per query), filtered on resourceId (the resource signed in
to; appId is only the client app), keeping only successful sign-ins, rolled up per (user,
day). Without Entra ID P1 the log cannot be read: the stream is degraded, never failed.
"""

from __future__ import annotations

from datetime import timedelta

from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.http.errors import NoPremiumLicense
from license_analyzer.sources.incremental import plan_start, record_plan_gap
from license_analyzer.sources.pacing import TokenBucket
from license_analyzer.sources.paginate import Record, pages
from license_analyzer.sources.rollup import signin_day_rows
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import CRM_RESOURCE, ERP_RESOURCE, SIGNINS
from license_analyzer.sources.values import moment
from license_analyzer.sources.windows import WindowCommitter, day_windows, odata_time

RESOURCES = {"signin_crm": CRM_RESOURCE, "signin_erp": ERP_RESOURCE}
RETENTION = timedelta(days=30)
# several days per query: the log allows so few requests that small windows would cost minutes
WINDOW_DAYS = 7  # P1/P2; Free keeps 7 days but cannot read the log at all

NO_P1 = ("The tenant has no Microsoft Entra ID P1 or P2 license, so the sign-in log cannot be "
         "read; Dynamics sign-in evidence is missing until a P1 license is assigned.")


def signin_bucket(ctx: Context) -> TokenBucket:
    rate = ctx.tuning.signin_requests_per_10s or ctx.profile.signin_requests_per_10s
    return TokenBucket(rate, 10.0 * ctx.tuning.time_scale)


def collect_signins(ctx: Context, ticker: Ticker, source: str, bucket: TokenBucket) -> str | None:
    if ctx.has_p1 is False:
        raise NoPremiumLicense(NO_P1)
    resource = RESOURCES[source]
    with ctx.store.session() as session:
        plan = plan_start(ctx, session, stream=SIGNINS.name, partition=source,
                          retention=RETENTION)
        record_plan_gap(ctx, session, plan, source=source, environment="",
                        keeps="sign-in logs keep 30 days")
    windows = day_windows(plan.start, ctx.now, days=WINDOW_DAYS)
    committer = WindowCommitter(ctx.store, windows, profile=ctx.name, stream=SIGNINS.name,
                                partition=source, source=source, environment="",
                                run_id=ctx.run_id, flush_every_s=ctx.tuning.flush_every_s)
    graph = ctx.clients.graph()
    try:
        for index, window in enumerate(windows):
            ticker.note(f"{window.day}..{window.last_day}")
            query = SIGNINS.query(filter=(
                f"resourceId eq '{resource}' and status/errorCode eq 0"
                f" and createdDateTime ge {odata_time(window.start)}"
                f" and createdDateTime le {odata_time(window.end)}"))
            rows: list[Record] = []
            for page in pages(graph, SIGNINS, query, on_page=ticker.page,
                              before_request=bucket.acquire):
                # `le` includes the next midnight: keep the window half-open
                rows.extend(r for r in page
                            if (at := moment(r.get("createdDateTime"))) is not None
                            and window.start <= at < window.end)
            committer.finished(index, signin_day_rows(rows, profile=ctx.name, source=source))
    finally:
        committer.flush()
    with ctx.store.session() as session:
        save_state(session, ctx.name, SIGNINS.name, source, cursor=ctx.now if windows else None,
                   status="ok")
    return None

