"""Microsoft 365 usage reports: per-user last activity per workload, one day of evidence a pull.

Microsoft Graph's usage reports (permission Reports.Read.All) give, per user, the last day
they used each workload within a period (D7, D30, D90, D180), as of a "Report Refresh Date"
a few days behind today. The CSV ones answer `302 Found` with a Location to a preauthenticated
download that needs no Authorization header
(https://learn.microsoft.com/graph/api/reportroot-getoffice365activeuserdetail): it is fetched
with no token at all (the download is on reports.office.com, not Graph), and only from that
host or Graph's own. The file starts with a UTF-8 byte-order mark; a date never seen is empty.
getM365AppUserDetail is read as JSON (`$format=application/json`, paged by @odata.nextLink,
https://learn.microsoft.com/graph/api/reportroot-getm365appuserdetail) and the Copilot usage
report from beta, whose default is JSON
(https://learn.microsoft.com/graph/api/reportroot-getmicrosoft365copilotusageuserdetail).

Each pull writes, per workload source, the last-activity days that fall after the refresh date
of the previous pull: a person active every day shows up every day, so active days accumulate
one pull at a time (a refresh date that skips a day loses that day's count, not the last
activity). The first pull asks D180, so the last activity reaches half a year back at once.
`collect --full` reads them incrementally all the same: a new D180 window would replace the
days accumulated one pull at a time with one last day per person.

When the tenant conceals names in reports (admin center: "Display concealed user, group, and
site names in all reports"; Graph: admin/reportSettings displayConcealedNames), the user names
are 32-character hashes: they are never matched to users, nothing is written, and the stream
says how to turn the setting off.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import orjson
import polars as pl
from sqlmodel import col, select

from license_analyzer.errors import SourceError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.http.auth import origin_of
from license_analyzer.sources.http.clouds import graph_root
from license_analyzer.sources.http.errors import MissingPermission, check, transport_error
from license_analyzer.sources.state import cursor_of, extend_coverage, save_state
from license_analyzer.sources.windows import midnight
from license_analyzer.store.activity import write_activity
from license_analyzer.store.models import DirectoryUser

STREAM = "usage_reports"
# the workload sources (activity day rows) and what they mean
WORKLOAD_SOURCES = {
    "m365_exchange": "Exchange (mail and calendar)",
    "m365_teams": "Microsoft Teams",
    "m365_onedrive": "OneDrive",
    "m365_sharepoint": "SharePoint",
    "m365_viva_engage": "Viva Engage (Yammer)",
    "m365_office_apps": "Microsoft 365 Apps (Word, Excel, PowerPoint, Outlook, OneNote, Teams)",
    "m365_copilot": "Microsoft 365 Copilot",
}
PERIODS = (("D7", 7), ("D30", 30), ("D90", 90), ("D180", 180))
FIRST_PERIOD = "D180"
# the preauthenticated downloads are on this host (Microsoft's documented Location)
DOWNLOAD_HOSTS = ("reports.office.com",)
CONCEALED = re.compile(r"^[0-9A-Fa-f]{32}$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
CONCEALED_FIX = ("turn off \"Display concealed user, group, and site names in all reports\" in "
                 "the Microsoft 365 admin center (Settings > Org settings > Reports), or PATCH "
                 "admin/reportSettings with {\"displayConcealedNames\": false} "
                 "(ReportSettings.ReadWrite.All)")


@dataclass(frozen=True)
class Report:
    function: str
    what: str
    # (source, CSV column, JSON key) of each last-activity date the report gives
    dates: tuple[tuple[str, str, str], ...]
    beta: bool = False
    json: bool = False


REPORTS = (
    Report("getOffice365ActiveUserDetail", "the Microsoft 365 active users report", (
        ("m365_exchange", "Exchange Last Activity Date", "exchangeLastActivityDate"),
        ("m365_onedrive", "OneDrive Last Activity Date", "oneDriveLastActivityDate"),
        ("m365_sharepoint", "SharePoint Last Activity Date", "sharePointLastActivityDate"),
        ("m365_viva_engage", "Yammer Last Activity Date", "yammerLastActivityDate"),
        ("m365_teams", "Teams Last Activity Date", "teamsLastActivityDate"))),
    Report("getM365AppUserDetail", "the Microsoft 365 Apps usage report", (
        ("m365_office_apps", "Last Activity Date", "lastActivityDate"),), json=True),
    Report("getTeamsUserActivityUserDetail", "the Teams user activity report", (
        ("m365_teams", "Last Activity Date", "lastActivityDate"),)),
    Report("getEmailActivityUserDetail", "the email activity report", (
        ("m365_exchange", "Last Activity Date", "lastActivityDate"),)),
    Report("getOneDriveActivityUserDetail", "the OneDrive activity report", (
        ("m365_onedrive", "Last Activity Date", "lastActivityDate"),)),
    Report("getSharePointActivityUserDetail", "the SharePoint activity report", (
        ("m365_sharepoint", "Last Activity Date", "lastActivityDate"),)),
    Report("getMicrosoft365CopilotUsageUserDetail", "the Microsoft 365 Copilot usage report", (
        ("m365_copilot", "Last Activity Date", "lastActivityDate"),), beta=True, json=True),
)


@dataclass
class ReportRows:
    refresh: date | None
    rows: list[dict[str, Any]]  # CSV rows by column name, or JSON objects


def period_for(last_refresh: date | None, today: date) -> str:
    """The shortest period that reaches back past the last refresh date already read."""
    if last_refresh is None:
        return FIRST_PERIOD
    gap = (today - last_refresh).days + 1
    return next((name for name, days in PERIODS if days >= gap), FIRST_PERIOD)


def parse_csv(content: bytes) -> list[dict[str, str]]:
    """A report download: UTF-8 with (or without) a byte-order mark, a header line."""
    text = content.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]


def parse_date(value: object) -> date | None:
    """A report date ("2026-11-19", sometimes with a time); empty or null: never."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def is_concealed(names: Iterable[str]) -> bool:
    """Whether the report's user names are the hashes concealed reports show."""
    seen = [n for n in names if n]
    return bool(seen) and all(CONCEALED.match(n) and "@" not in n for n in seen)


def download_allowed(location: str, graph_url: str) -> bool:
    """Only https, and only to Microsoft's download host or Graph's own host."""
    url = httpx.URL(location)
    if url.scheme != "https":
        return False
    host = url.host.lower()
    if host in DOWNLOAD_HOSTS or any(host.endswith("." + h) for h in DOWNLOAD_HOSTS):
        return True
    return origin_of(location) == origin_of(graph_url)


def fetch(graph: httpx.Client, report: Report, period: str) -> ReportRows:
    """One report's rows, from the CSV download or the JSON pages."""
    base = (graph_root(str(graph.base_url)) + "/beta" if report.beta
            else str(graph.base_url).rstrip("/"))
    url = f"{base}/reports/{report.function}(period='{period}')"
    what = f"Reading {report.what}"
    if report.json:
        rows = list(_json_rows(graph, url, what))
        refresh = parse_date(rows[0].get("reportRefreshDate")) if rows else None
        return ReportRows(refresh, rows)
    try:
        first = graph.get(url)
    except httpx.TransportError as exc:
        raise transport_error(exc, what) from None
    if first.status_code not in (301, 302, 303, 307, 308):
        check(first, what)
        # an answer without the redirect: the CSV itself
        rows = parse_csv(first.content)
    else:
        location = first.headers.get("location") or ""
        if not download_allowed(location, str(graph.base_url)):
            there = httpx.URL(location).host if location else "nowhere"
            raise SourceError(f"{what}: Graph redirected the download to {there}, which is not "
                              "Microsoft's report download host; it is not followed.",
                              detail=f"Location {location[:300]}")
        try:
            # auth=None: the preauthenticated download takes no bearer token, and none is sent
            download = graph.get(location, auth=None)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from None
        check(download, what)
        rows = parse_csv(download.content)
    refresh = parse_date(rows[0].get("Report Refresh Date")) if rows else None
    return ReportRows(refresh, rows)


def _json_rows(graph: httpx.Client, url: str, what: str) -> Iterator[dict[str, Any]]:
    next_url: str | None = url
    params: dict[str, str] | None = {"$format": "application/json"}
    seen: set[str] = set()
    while next_url:
        try:
            response = graph.get(next_url, params=params)
        except httpx.TransportError as exc:
            raise transport_error(exc, what) from None
        check(response, what)
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise SourceError(f"{what}: the answer is not JSON; it is retried on the next run.",
                              detail=response.text[:300]) from None
        for item in body.get("value") or []:
            if isinstance(item, dict):
                yield item
        link = body.get("@odata.nextLink")
        if link and (link in seen or origin_of(link) != origin_of(response.url)):
            raise SourceError(f"{what}: the server sent a next-page link that is repeated or "
                              "points elsewhere; it is not followed.", detail=str(link)[:300])
        if link:
            seen.add(link)
        next_url, params = link, None


def _name(report: Report, row: dict[str, Any]) -> str:
    return str(row.get("userPrincipalName" if report.json else "User Principal Name") or "")


def last_dates(report: Report, rows: ReportRows, users: dict[str, str]
               ) -> dict[str, dict[str, date]]:
    """source -> user id -> last activity day, for rows whose user is known (by UPN, or by the
    Teams report's User Id)."""
    out: dict[str, dict[str, date]] = {source: {} for source, _, _ in report.dates}
    ids = set(users.values())
    for row in rows.rows:
        upn = _name(report, row).lower()
        user_id = users.get(upn)
        raw_id = str(row.get("User Id") or "").lower()
        if user_id is None and GUID.match(raw_id) and raw_id in ids:
            user_id = raw_id
        if user_id is None:
            continue
        for source, column, key in report.dates:
            day = parse_date(row.get(key if report.json else column))
            if day is not None and (user_id not in out[source] or day > out[source][user_id]):
                out[source][user_id] = day
    return out


def _users(ctx: Context) -> dict[str, str]:
    with ctx.store.session() as session:
        rows = session.exec(select(DirectoryUser.user_principal_name, DirectoryUser.id).where(
            DirectoryUser.profile == ctx.name, col(DirectoryUser.deleted_at).is_(None))).all()
    return {str(upn).lower(): str(uid).lower() for upn, uid in rows}


def collect_usage_reports(ctx: Context, ticker: Ticker) -> str | None:
    graph = ctx.clients.graph()
    today = ctx.now.astimezone(UTC).date()
    with ctx.store.session() as session:
        cursors = {s: cursor_of(session, ctx.name, STREAM, s) for s in WORKLOAD_SOURCES}
    known = [c.date() for c in cursors.values() if c is not None]
    period = period_for(min(known) if known else None, today)
    users = _users(ctx)
    found: dict[str, dict[str, date]] = {s: {} for s in WORKLOAD_SOURCES}
    refresh: dict[str, date] = {}
    skipped: list[str] = []
    for report in REPORTS:
        ticker.note(report.function)
        try:
            rows = fetch(graph, report, period)
        except MissingPermission as exc:
            if report.beta:  # Copilot only: the rest still tells workload use
                skipped.append(f"{report.what} ({exc.message})")
                continue
            raise Degraded(f"The Microsoft 365 usage reports cannot be read ({exc.message}); "
                           "Microsoft 365 products show no workload evidence (no data) until "
                           "Reports.Read.All is granted.", detail=exc.detail) from None
        except SourceError as exc:
            if report.beta:
                skipped.append(f"{report.what} ({exc.message})")
                continue
            raise
        ticker.page(len(rows.rows))
        if is_concealed(_name(report, r) for r in rows.rows):
            # recorded as degraded with this sentence by the stream's runner (collect.py)
            raise Degraded(f"The tenant conceals user names in Microsoft 365 reports, so "
                           f"{report.what} cannot be matched to users and Microsoft 365 workload"
                           f" evidence is missing; {CONCEALED_FIX}.")
        if rows.refresh is None:
            continue
        for source, days in last_dates(report, rows, users).items():
            refresh[source] = max(refresh.get(source, rows.refresh), rows.refresh)
            mine = found[source]
            for user_id, day in days.items():
                if user_id not in mine or day > mine[user_id]:
                    mine[user_id] = day
    reach = dict(PERIODS)[period]
    with ctx.store.session() as session:
        for source, day_of in found.items():
            end = refresh.get(source)
            if end is None:
                continue
            before = cursors[source]
            start = before.date() + timedelta(days=1) if before else end - timedelta(days=reach - 1)
            if start <= end:
                frame = _frame(ctx.name, source, day_of, start, end)
                write_activity(session, ctx.store, frame, profile=ctx.name, source=source,
                               environment="", window_start=start, window_end=end,
                               run_id=ctx.run_id)
                # counted days: from the first refresh date read on (see pipeline/evidence.py
                # for how far back the first pull's last activity reaches)
                extend_coverage(session, ctx.name, source, "",
                                midnight(before.date() + timedelta(days=1)) if before
                                else midnight(end), midnight(end + timedelta(days=1)))
            save_state(session, ctx.name, STREAM, source, cursor=midnight(end), status="ok",
                       message=f"report refresh date {end.isoformat()}", records=len(day_of))
        save_state(session, ctx.name, STREAM, "", status="ok", message=None)
        session.commit()
    if skipped:
        raise Degraded("Microsoft 365 Copilot use is not read: " + "; ".join(skipped))
    return None


def _frame(profile: str, source: str, day_of: dict[str, date], start: date, end: date
           ) -> pl.DataFrame:
    kept = [(uid, day) for uid, day in day_of.items() if start <= day <= end]
    return pl.DataFrame({
        "profile": [profile] * len(kept), "user_id": [u for u, _ in kept],
        "source": [source] * len(kept), "environment": [""] * len(kept),
        "day": [d for _, d in kept], "events": [1] * len(kept),
        "last_at": [datetime(d.year, d.month, d.day, 12, tzinfo=UTC) for _, d in kept],
    }, schema_overrides={"day": pl.Date, "last_at": pl.Datetime("us", "UTC"),
                         "events": pl.Int64})
