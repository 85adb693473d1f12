"""The Entra sign-in log for the Dynamics CRM and ERP resources: one slow serial stream.

The log allows about 5 requests per 10 s per app per tenant, so every request waits for a
token of a client-side bucket. It is read incrementally in windows of whole days by
createdDateTime (a week at most per query), filtered on resourceId (the resource signed in
to; appId is only the client app), keeping only successful sign-ins, rolled up per (user,
day). Without Entra ID P1 the log cannot be read: the stream is degraded, never failed.

v1.0 lists interactive sign-ins only; token refreshes of a browser session, Entra-joined PCs,
the Outlook and Excel add-ins and mobile apps sign in non-interactively, and only beta lists
those, when the filter names signInEventTypes
(https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta). So the log is
read from beta with both kinds, each kept as its own source (`signin_crm` and
`signin_crm_noninteractive`, ...). Where beta is refused (a cloud or proxy without it), the
stream reads v1.0 and is degraded: the non-interactive sources get no coverage, so nobody is
called idle for lack of them.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import polars as pl

from license_analyzer.errors import SourceError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.http.clouds import graph_root
from license_analyzer.sources.http.errors import MissingPermission, NoPremiumLicense
from license_analyzer.sources.http.retry import ThrottledTooLong
from license_analyzer.sources.incremental import plan_start, record_plan_gap
from license_analyzer.sources.pacing import TokenBucket
from license_analyzer.sources.paginate import Record, pages
from license_analyzer.sources.rollup import signin_day_rows
from license_analyzer.sources.state import save_state
from license_analyzer.sources.streams import ALL_USER_SIGNINS, CRM_RESOURCE, ERP_RESOURCE, SIGNINS
from license_analyzer.sources.values import moment
from license_analyzer.sources.windows import Window, WindowCommitter, day_windows, odata_time

RESOURCES = {"signin_crm": CRM_RESOURCE, "signin_erp": ERP_RESOURCE}
RESOURCE_NAMES = {"signin_crm": "Dynamics CRM", "signin_erp": "Dynamics ERP"}
RETENTION = timedelta(days=30)
# several days per query: the log allows so few requests that small windows would cost minutes
WINDOW_DAYS = 7  # P1/P2; Free keeps 7 days but cannot read the log at all

NO_P1 = ("The tenant has no Microsoft Entra ID P1 or P2 license, so the sign-in log cannot be "
         "read; Dynamics sign-in evidence is missing until a P1 license is assigned.")


def non_interactive(source: str) -> str:
    """The source of a resource's non-interactive sign-ins."""
    return f"{source}_noninteractive"


def signin_bucket(ctx: Context) -> TokenBucket:
    rate = ctx.tuning.signin_requests_per_10s or ctx.profile.signin_requests_per_10s
    return TokenBucket(rate, 10.0 * ctx.tuning.time_scale)


def is_interactive(record: Record) -> bool:
    """Beta says it in signInEventTypes (and isInteractive); v1.0 lists interactive ones only."""
    kinds = record.get("signInEventTypes")
    if isinstance(kinds, list) and any(str(k).lower() == "noninteractiveuser" for k in kinds):
        return False
    return record.get("isInteractive") is not False


def day_rows_by_kind(records: list[Record], *, profile: str, source: str) -> pl.DataFrame:
    """Day rows of the interactive sign-ins under `source`, the others under its
    non-interactive source."""
    interactive = [r for r in records if is_interactive(r)]
    others = [r for r in records if not is_interactive(r)]
    return pl.concat([signin_day_rows(interactive, profile=profile, source=source),
                      signin_day_rows(others, profile=profile, source=non_interactive(source))])


def _read_window(graph: httpx.Client, window: Window, resource: str, *, beta: str | None,
                 bucket: TokenBucket, ticker: Ticker) -> list[Record]:
    """The window's successful sign-ins to `resource`: from the beta URL with both kinds, or
    from v1.0 (interactive only) when `beta` is None."""
    flt = (f"resourceId eq '{resource}' and status/errorCode eq 0"
           f" and createdDateTime ge {odata_time(window.start)}"
           f" and createdDateTime le {odata_time(window.end)}")
    query = SIGNINS.query(filter=f"{flt} and {ALL_USER_SIGNINS}" if beta else flt)
    rows: list[Record] = []
    for page in pages(graph, SIGNINS, query, path=beta, on_page=ticker.page,
                      before_request=bucket.acquire):
        # `le` includes the next midnight: keep the window half-open
        rows.extend(r for r in page
                    if (at := moment(r.get("createdDateTime"))) is not None
                    and window.start <= at < window.end)
    return rows


def collect_signins(ctx: Context, ticker: Ticker, source: str, bucket: TokenBucket) -> str | None:
    if ctx.has_p1 is False:
        raise NoPremiumLicense(NO_P1)
    resource = RESOURCES[source]
    with ctx.store.session() as session:
        plan = plan_start(ctx, session, stream=SIGNINS.name, partition=source,
                          retention=RETENTION)
        for kind in (source, non_interactive(source)):
            record_plan_gap(ctx, session, plan, source=kind, environment="",
                            keeps="sign-in logs keep 30 days")
    windows = day_windows(plan.start, ctx.now, days=WINDOW_DAYS)
    graph = ctx.clients.graph()
    beta: str | None = f"{graph_root(str(graph.base_url))}/beta{SIGNINS.path}"
    refused: SourceError | MissingPermission | None = None
    committer: WindowCommitter | None = None
    try:
        for index, window in enumerate(windows):
            ticker.note(f"{window.day}..{window.last_day}")
            if committer is None:  # the first request says whether beta answers
                try:
                    rows = _read_window(graph, window, resource, beta=beta, bucket=bucket,
                                        ticker=ticker)
                except (NoPremiumLicense, ThrottledTooLong):
                    raise
                except (SourceError, MissingPermission) as exc:
                    refused, beta = exc, None
                    rows = _read_window(graph, window, resource, beta=None, bucket=bucket,
                                        ticker=ticker)
                committer = WindowCommitter(
                    ctx.store, windows, profile=ctx.name, stream=SIGNINS.name, partition=source,
                    source=source, also=() if refused else (non_interactive(source),),
                    environment="", run_id=ctx.run_id, flush_every_s=ctx.tuning.flush_every_s)
            else:
                rows = _read_window(graph, window, resource, beta=beta, bucket=bucket,
                                    ticker=ticker)
            found = day_rows_by_kind(rows, profile=ctx.name, source=source)
            committer.finished(index, found if beta else _interactive_only(found, source))
    finally:
        if committer is not None:
            committer.flush()
    with ctx.store.session() as session:
        save_state(session, ctx.name, SIGNINS.name, source, cursor=ctx.now if windows else None,
                   status="ok")
    if refused is not None:
        raise Degraded(
            f"The beta sign-in log was refused ({refused.message.rstrip('.')}), so "
            f"non-interactive sign-ins to {RESOURCE_NAMES[source]} (apps, add-ins, token "
            "refreshes) are not read and cannot show anyone active; interactive ones are.",
            detail=refused.detail)
    return None


def _interactive_only(rows: pl.DataFrame, source: str) -> pl.DataFrame:
    # v1.0 lists interactive sign-ins only; anything else is not this file's to keep
    return rows.filter(pl.col("source") == source)

