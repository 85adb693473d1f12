"""Microsoft 365 usage reports (Graph `reports/...` functions) and `admin/reportSettings`.

As Microsoft documents them (https://learn.microsoft.com/graph/api/reportroot-getoffice365activeuserdetail
and the pages of each function below):
- `GET /reports/<function>(period='D7'|'D30'|'D90'|'D180')` or `(date=YYYY-MM-DD)` (the last 30
  days only), permission Reports.Read.All;
- the CSV answer is `302 Found` with a `Location` to a preauthenticated download, valid a few
  minutes, that takes no Authorization header (Microsoft's host is reports.office.com; here
  the download lives at this server's `/reports/data/download/<token>`); the file starts with
  a UTF-8 byte-order mark and has Microsoft's column headers; a date never seen is empty;
- `$format=application/json` gives JSON where Microsoft documents it (getM365AppUserDetail,
  pages of 200 with `@odata.nextLink`; the beta Copilot usage report, whose default is JSON);
- every row carries the "Report Refresh Date", about two days behind today (the Microsoft Q&A
  "Office 365 usage reports in Microsoft Graph over specific period" shows a 48-hour lag) and
  up to three for Copilot ("up to a maximum of 72 hours latency",
  https://learn.microsoft.com/microsoft-365/admin/activity-reports/microsoft-365-copilot-usage);
- with `displayConcealedNames` on (https://learn.microsoft.com/graph/api/resources/adminreportsettings)
  user names come as 32-character hexadecimal hashes, as in the Copilot report's documented
  example ("DC8C64D6EC3A3AA17481D7E5EB5B68A6").
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import orjson

from . import catalog as c
from .wire import Request, Response

if TYPE_CHECKING:
    from .cloud import Cloud
    from .graph import GraphContext
    from .tenant import User
    from .workloads import Workloads

READ_REPORTS = ("Reports.Read.All",)
READ_SETTINGS = ("ReportSettings.Read.All", "ReportSettings.ReadWrite.All")
WRITE_SETTINGS = ("ReportSettings.ReadWrite.All",)
# the delegated roles that may read usage reports (https://learn.microsoft.com/graph/reportroot-authorization)
REPORT_ROLES = ("Global Administrator", "Global Reader", "Reports Reader", "Exchange Administrator",
                "SharePoint Administrator", "Teams Administrator", "Usage Summary Reports Reader")
PERIODS = {"D7": 7, "D30": 30, "D90": 90, "D180": 180}
REFRESH_LAG_DAYS = 2
COPILOT_LAG_DAYS = 3
DOWNLOAD_SECONDS = 300.0  # "only valid for a short period of time (a few minutes)"
JSON_PAGE = 200  # getM365AppUserDetail: "The default page size for this request is 200 items."
EPOCH = date(1970, 1, 1)

ACTIVE_USER_COLUMNS = (
    "Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
    "Has Exchange License", "Has OneDrive License", "Has SharePoint License",
    "Has Skype For Business License", "Has Yammer License", "Has Teams License",
    "Exchange Last Activity Date", "OneDrive Last Activity Date", "SharePoint Last Activity Date",
    "Skype For Business Last Activity Date", "Yammer Last Activity Date",
    "Teams Last Activity Date", "Exchange License Assign Date", "OneDrive License Assign Date",
    "SharePoint License Assign Date", "Skype For Business License Assign Date",
    "Yammer License Assign Date", "Teams License Assign Date", "Assigned Products")
APPS = ("Outlook", "Word", "Excel", "PowerPoint", "OneNote", "Teams")
PLATFORMS = ("Windows", "Mac", "Mobile", "Web")
APP_USER_COLUMNS = (
    "Report Refresh Date", "User Principal Name", "Last Activation Date", "Last Activity Date",
    "Report Period", *PLATFORMS, *APPS, *(f"{a} ({p})" for p in PLATFORMS for a in APPS))
TEAMS_COLUMNS = (
    "Report Refresh Date", "Tenant Display Name", "Shared Channel Tenant Display Names",
    "User Id", "User Principal Name", "Last Activity Date", "Is Deleted", "Deleted Date",
    "Assigned Products", "Team Chat Message Count", "Private Chat Message Count", "Call Count",
    "Meeting Count", "Post Messages", "Reply Messages", "Urgent Messages",
    "Meetings Organized Count", "Meetings Attended Count", "Ad Hoc Meetings Organized Count",
    "Ad Hoc Meetings Attended Count", "Scheduled One-time Meetings Organized Count",
    "Scheduled One-time Meetings Attended Count", "Scheduled Recurring Meetings Organized Count",
    "Scheduled Recurring Meetings Attended Count", "Audio Duration", "Video Duration",
    "Screen Share Duration", "Audio Duration In Seconds", "Video Duration In Seconds",
    "Screen Share Duration In Seconds", "Has Other Action", "Is Licensed", "Report Period")
EMAIL_COLUMNS = (
    "Report Refresh Date", "User Principal Name", "Display Name", "Is Deleted", "Deleted Date",
    "Last Activity Date", "Send Count", "Receive Count", "Read Count", "Meeting Created Count",
    "Meeting Interacted Count", "Assigned Products", "Report Period")
ONEDRIVE_COLUMNS = (
    "Report Refresh Date", "User Principal Name", "Is Deleted", "Deleted Date",
    "Last Activity Date", "Viewed Or Edited File Count", "Synced File Count",
    "Shared Internally File Count", "Shared Externally File Count", "Assigned Products",
    "Report Period")
SHAREPOINT_COLUMNS = (
    "Report Refresh Date", "User Principal Name", "Is Deleted", "Deleted Date",
    "Last Activity Date", "Viewed Or Edited File Count", "Synced File Count",
    "Shared Internally File Count", "Shared Externally File Count", "Visited Page Count",
    "Assigned Products", "Report Period")
COPILOT_APP_COLUMNS = (
    ("teams", "Microsoft Teams Copilot Last Activity Date",
     "microsoftTeamsCopilotLastActivityDate"),
    ("word", "Word Copilot Last Activity Date", "wordCopilotLastActivityDate"),
    ("excel", "Excel Copilot Last Activity Date", "excelCopilotLastActivityDate"),
    ("powerpoint", "PowerPoint Copilot Last Activity Date", "powerPointCopilotLastActivityDate"),
    ("outlook", "Outlook Copilot Last Activity Date", "outlookCopilotLastActivityDate"),
    ("onenote", "OneNote Copilot Last Activity Date", "oneNoteCopilotLastActivityDate"),
    ("loop", "Loop Copilot Last Activity Date", "loopCopilotLastActivityDate"),
    ("chat", "Copilot Chat Last Activity Date", "copilotChatLastActivityDate"),
)
COPILOT_COLUMNS = ("Report Refresh Date", "Report Period", "User Principal Name", "Display Name",
                   "Last Activity Date", *(col for _, col, _ in COPILOT_APP_COLUMNS))
SUITE_IDS = (c.SPE_E3.sku_id, c.SPE_E5.sku_id, c.ENTERPRISEPACK.sku_id)


class Window:
    """The days a report aggregates, and how it says so."""

    def __init__(self, refresh: date, first: date, period: int) -> None:
        self.refresh = refresh
        self.first = first
        self.period = period

    @property
    def first_day(self) -> int:
        return (self.first - EPOCH).days

    @property
    def last_day(self) -> int:
        return (self.refresh - EPOCH).days


def _day(n: int) -> str:
    return (EPOCH + timedelta(days=int(n))).isoformat() if n >= 0 else ""


def conceal(value: str) -> str:
    """How a concealed report shows a name: a 32-character hexadecimal hash."""
    return hashlib.md5(value.lower().encode(), usedforsecurity=False).hexdigest().upper()


def _products(user: User) -> str:
    names = [s.product_name.upper() for s in (c.SPE_E3, c.SPE_E5, c.ENTERPRISEPACK,
                                              c.MICROSOFT_365_COPILOT) if s.sku_id in user.direct]
    return "+".join(names)


def _window(ctx: GraphContext, args: str, lag: int, allow_all: bool) -> Window | Response:
    refresh = (ctx.cloud.tenant.now - timedelta(days=lag)).date()
    m = re.fullmatch(r"\s*period\s*=\s*'([^']*)'\s*", args)
    if m:
        name = m.group(1).upper()
        days = PERIODS.get(name) or (365 if allow_all and name == "ALL" else 0)
        if not days:
            return ctx.error(400, "BadRequest", f"Invalid period value '{m.group(1)}'; use one of"
                             " D7, D30, D90, D180.")
        return Window(refresh, refresh - timedelta(days=days - 1), days)
    m = re.fullmatch(r"\s*date\s*=\s*'?(\d{4}-\d{2}-\d{2})'?\s*", args)
    if m:
        wanted = date.fromisoformat(m.group(1))
        if not refresh - timedelta(days=29) <= wanted <= refresh:
            return ctx.error(400, "BadRequest", "Invalid date value: the report is available only"
                             " for the past 30 days.")
        return Window(wanted, wanted, 1)
    return ctx.error(400, "BadRequest", "Provide period or date in the request URL.")


def _suite_users(ctx: GraphContext) -> list[User]:
    tenant = ctx.cloud.tenant
    from .generate import effective_sku_ids

    return [u for u in tenant.users if any(s in SUITE_IDS for s in effective_sku_ids(tenant, u))]


def _assign_date(user: User) -> str:
    dates = [user.direct_dates[s][:10] for s in SUITE_IDS if s in user.direct_dates]
    return min(dates) if dates else ""


def _last(ctx: GraphContext, users: list[User], workload: str, w: Window) -> list[int]:
    work: Workloads | None = ctx.cloud.tenant.workloads
    if work is None or not users:
        return [-1] * len(users)
    from .workloads import last_use

    idx = np.array([u.idx for u in users], dtype=np.int64)
    return [int(v) for v in last_use(work, idx, workload, w.first_day, w.last_day)]


def _name(ctx: GraphContext, value: str) -> str:
    return conceal(value) if ctx.cloud.tenant.display_concealed_names else value


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def active_user_detail(ctx: GraphContext, w: Window) -> list[dict[str, str]]:
    users = _suite_users(ctx)
    last = {k: _last(ctx, users, k, w) for k in ("exchange", "onedrive", "sharepoint", "yammer",
                                                 "teams")}
    rows = []
    for i, u in enumerate(users):
        assigned = _assign_date(u)
        row = {"Report Refresh Date": w.refresh.isoformat(),
               "User Principal Name": _name(ctx, u.upn),
               "Display Name": _name(ctx, u.display_name), "Is Deleted": "False",
               "Deleted Date": "", "Has Skype For Business License": "False",
               "Skype For Business Last Activity Date": "",
               "Skype For Business License Assign Date": "", "Assigned Products": _products(u)}
        for key, label in (("exchange", "Exchange"), ("onedrive", "OneDrive"),
                           ("sharepoint", "SharePoint"), ("yammer", "Yammer"),
                           ("teams", "Teams")):
            row[f"Has {label} License"] = "True"
            row[f"{label} Last Activity Date"] = _day(last[key][i])
            row[f"{label} License Assign Date"] = assigned
        rows.append(row)
    return rows


def _app_flags(used: bool, seed: int) -> dict[str, bool]:
    flags = {p: used and (p == "Windows" or (seed + k) % 3 == 0) for k, p in enumerate(PLATFORMS)}
    flags |= {a: used and (a in ("Outlook", "Teams") or (seed + k) % 2 == 0)
              for k, a in enumerate(APPS)}
    for p in PLATFORMS:
        for a in APPS:
            flags[f"{a} ({p})"] = flags[p] and flags[a]
    return flags


def app_user_detail(ctx: GraphContext, w: Window) -> list[dict[str, Any]]:
    users = _suite_users(ctx)
    last = _last(ctx, users, "office_apps", w)
    rows: list[dict[str, Any]] = []
    for i, u in enumerate(users):
        flags = _app_flags(last[i] >= 0, u.idx)
        row: dict[str, Any] = {"Report Refresh Date": w.refresh.isoformat(),
                               "User Principal Name": _name(ctx, u.upn),
                               "Last Activation Date": _assign_date(u),
                               "Last Activity Date": _day(last[i]), "Report Period": w.period}
        row |= {k: _yes(v) for k, v in flags.items()}
        rows.append(row)
    return rows


def _json_app_row(row: dict[str, Any]) -> dict[str, Any]:
    def key(name: str) -> str:
        m = re.fullmatch(r"(\w+) \((\w+)\)", name)
        word = f"{m.group(1)}{m.group(2)}" if m else name
        return word[:1].lower() + word[1:]

    details: dict[str, Any] = {"reportPeriod": row["Report Period"]}
    for name in (*PLATFORMS, *APPS, *(f"{a} ({p})" for p in PLATFORMS for a in APPS)):
        details[key(name)] = row[name] == "Yes"
    return {"reportRefreshDate": row["Report Refresh Date"],
            "userPrincipalName": row["User Principal Name"],
            "lastActivationDate": row["Last Activation Date"] or None,
            "lastActivityDate": row["Last Activity Date"] or None, "details": [details]}


def _counted(last: int, seed: int, spread: int) -> str:
    return str(0 if last < 0 else 1 + seed % spread)


def teams_detail(ctx: GraphContext, w: Window) -> list[dict[str, str]]:
    users = _suite_users(ctx)
    last = _last(ctx, users, "teams", w)
    rows = []
    for i, u in enumerate(users):
        used = last[i]
        row = {k: "0" for k in TEAMS_COLUMNS}
        row |= {"Report Refresh Date": w.refresh.isoformat(),
                "Tenant Display Name": ctx.cloud.tenant.display_name,
                "Shared Channel Tenant Display Names": "",
                "User Id": _name(ctx, u.id), "User Principal Name": _name(ctx, u.upn),
                "Last Activity Date": _day(used), "Is Deleted": "False", "Deleted Date": "",
                "Assigned Products": _products(u),
                "Team Chat Message Count": _counted(used, u.idx, 40),
                "Private Chat Message Count": _counted(used, u.idx * 7, 90),
                "Meeting Count": _counted(used, u.idx * 3, 12),
                "Audio Duration": "PT0S", "Video Duration": "PT0S",
                "Screen Share Duration": "PT0S", "Has Other Action": _yes(used >= 0),
                "Is Licensed": "Yes", "Report Period": str(w.period)}
        rows.append(row)
    return rows


def email_detail(ctx: GraphContext, w: Window) -> list[dict[str, str]]:
    users = _suite_users(ctx)
    last = _last(ctx, users, "exchange", w)
    return [{"Report Refresh Date": w.refresh.isoformat(),
             "User Principal Name": _name(ctx, u.upn),
             "Display Name": _name(ctx, u.display_name), "Is Deleted": "False",
             "Deleted Date": "", "Last Activity Date": _day(last[i]),
             "Send Count": _counted(last[i], u.idx, 60),
             "Receive Count": _counted(last[i], u.idx * 5, 300),
             "Read Count": _counted(last[i], u.idx * 3, 250),
             "Meeting Created Count": _counted(last[i], u.idx, 6),
             "Meeting Interacted Count": _counted(last[i], u.idx * 2, 20),
             "Assigned Products": _products(u), "Report Period": str(w.period)}
            for i, u in enumerate(users)]


def _files_detail(ctx: GraphContext, w: Window, workload: str) -> list[dict[str, str]]:
    users = _suite_users(ctx)
    last = _last(ctx, users, workload, w)
    rows = []
    for i, u in enumerate(users):
        row = {"Report Refresh Date": w.refresh.isoformat(),
               "User Principal Name": _name(ctx, u.upn), "Is Deleted": "False",
               "Deleted Date": "", "Last Activity Date": _day(last[i]),
               "Viewed Or Edited File Count": _counted(last[i], u.idx, 80),
               "Synced File Count": _counted(last[i], u.idx * 3, 40),
               "Shared Internally File Count": _counted(last[i], u.idx, 5),
               "Shared Externally File Count": "0", "Assigned Products": _products(u),
               "Report Period": str(w.period)}
        if workload == "sharepoint":
            row["Visited Page Count"] = _counted(last[i], u.idx * 7, 30)
        rows.append(row)
    return rows


def onedrive_detail(ctx: GraphContext, w: Window) -> list[dict[str, str]]:
    return _files_detail(ctx, w, "onedrive")


def sharepoint_detail(ctx: GraphContext, w: Window) -> list[dict[str, str]]:
    return _files_detail(ctx, w, "sharepoint")


def copilot_detail(ctx: GraphContext, w: Window) -> list[dict[str, Any]]:
    """Only people with a Microsoft 365 Copilot licence ("This API only returns usage data for
    users who have a Microsoft 365 Copilot license")."""
    users = [u for u in ctx.cloud.tenant.users if c.MICROSOFT_365_COPILOT.sku_id in u.direct]
    last = {app: _last(ctx, users, f"copilot_{app}", w) for app, _, _ in COPILOT_APP_COLUMNS}
    rows = []
    for i, u in enumerate(users):
        row: dict[str, Any] = {"Report Refresh Date": w.refresh.isoformat(),
                               "Report Period": w.period,
                               "User Principal Name": _name(ctx, u.upn),
                               "Display Name": _name(ctx, u.display_name)}
        latest = max(last[app][i] for app, _, _ in COPILOT_APP_COLUMNS)
        row["Last Activity Date"] = _day(latest)
        for app, col, _ in COPILOT_APP_COLUMNS:
            row[col] = _day(last[app][i])
        rows.append(row)
    return rows


def _json_copilot_row(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"reportRefreshDate": row["Report Refresh Date"],
                           "userPrincipalName": row["User Principal Name"],
                           "displayName": row["Display Name"],
                           "lastActivityDate": row["Last Activity Date"] or None}
    for _, col, key in COPILOT_APP_COLUMNS:
        out[key] = row[col] or None
    out["copilotActivityUserDetailsByPeriod"] = [{"reportPeriod": row["Report Period"]}]
    return out


Builder = Callable[["GraphContext", Window], list[dict[str, Any]]]
# function name (lowercase) -> (columns, rows, JSON row or None where JSON is not documented,
# beta only, default JSON)
REPORTS: dict[str, tuple[tuple[str, ...], Builder, Callable[[dict[str, Any]], dict[str, Any]]
                         | None, bool, bool]] = {
    "getoffice365activeuserdetail": (ACTIVE_USER_COLUMNS, active_user_detail, None, False, False),
    "getm365appuserdetail": (APP_USER_COLUMNS, app_user_detail, _json_app_row, False, False),
    "getteamsuseractivityuserdetail": (TEAMS_COLUMNS, teams_detail, None, False, False),
    "getemailactivityuserdetail": (EMAIL_COLUMNS, email_detail, None, False, False),
    "getonedriveactivityuserdetail": (ONEDRIVE_COLUMNS, onedrive_detail, None, False, False),
    "getsharepointactivityuserdetail": (SHAREPOINT_COLUMNS, sharepoint_detail, None, False,
                                        False),
    # https://learn.microsoft.com/graph/api/reportroot-getmicrosoft365copilotusageuserdetail
    # (beta; "The default output type is application/json")
    "getmicrosoft365copilotusageuserdetail": (COPILOT_COLUMNS, copilot_detail,
                                              _json_copilot_row, True, True),
}


def csv_bytes(columns: tuple[str, ...], rows: list[dict[str, Any]]) -> bytes:
    """Microsoft's download: UTF-8 with a byte-order mark, one header line, CRLF."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(col, "") for col in columns])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def report(ctx: GraphContext, segment: str) -> Response:
    m = re.fullmatch(r"(\w+)\((.*)\)", segment)
    spec = REPORTS.get(m.group(1).lower()) if m else None
    if m is None or spec is None:
        return ctx.error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    columns, build, as_json, beta_only, json_default = spec
    if beta_only and ctx.version != "beta":
        return ctx.error(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
    denied = ctx.require(*READ_REPORTS, roles=REPORT_ROLES)
    if denied:
        return denied
    lag = COPILOT_LAG_DAYS if beta_only else REFRESH_LAG_DAYS
    window = _window(ctx, m.group(2), lag, allow_all=beta_only)
    if isinstance(window, Response):
        return window
    fmt = (ctx.req.query.get("$format") or "").lower()
    wants_json = fmt == "application/json" or (json_default and fmt != "text/csv")
    rows = build(ctx, window)
    if wants_json and as_json is not None:
        return _json_page(ctx, [as_json(r) for r in rows])
    body = csv_bytes(columns, rows)
    token = secrets.token_urlsafe(24)
    cloud = ctx.cloud
    with cloud.cache_lock:
        downloads = cloud.cache.setdefault("report_downloads", {})
        now = time.monotonic()
        for old in [k for k, (until, _) in downloads.items() if until < now]:
            del downloads[old]
        downloads[token] = (now + cloud.opts.scaled(DOWNLOAD_SECONDS), body)
    location = f"{cloud.base_url}/reports/data/download/{quote(token)}"
    return Response(302, b"", [("Content-Type", "text/plain"), ("Location", location)])


def _json_page(ctx: GraphContext, items: list[dict[str, Any]]) -> Response:
    skip = ctx.req.query.get("$skiptoken") or "0"
    start = int(skip) if skip.isdigit() else 0
    page = items[start:start + JSON_PAGE]
    body: dict[str, Any] = {"value": page}
    if start + JSON_PAGE < len(items):
        query = {k: v for k, v in ctx.req.query.items() if k != "$skiptoken"}
        query["$skiptoken"] = str(start + JSON_PAGE)
        rest = "&".join(f"{k}={quote(v, safe='/=()')}" for k, v in query.items())
        body["@odata.nextLink"] = f"{ctx.cloud.base_url}{ctx.req.path}?{rest}"
    return Response(200, orjson.dumps(body), [("Content-Type", "application/json")])


def download(cloud: Cloud, req: Request) -> Response:
    """The preauthenticated download: no Authorization header needed, gone after minutes."""
    token = req.path.rsplit("/", 1)[-1]
    with cloud.cache_lock:
        found = cloud.cache.get("report_downloads", {}).get(token)
    if found is None or found[0] < time.monotonic():
        return Response(404, b"The download link has expired or does not exist.",
                        [("Content-Type", "text/plain")])
    return Response(200, found[1], [("Content-Type", "application/octet-stream")])


def route(cloud: Cloud, req: Request) -> Response:
    """`/reports/...` outside Graph: the report downloads."""
    if req.method == "GET" and req.path.startswith("/reports/data/download/"):
        return download(cloud, req)
    return Response(404, b"Not found", [("Content-Type", "text/plain")])


def report_settings(ctx: GraphContext) -> Response:
    """GET / PATCH admin/reportSettings
    (https://learn.microsoft.com/graph/api/adminreportsettings-update: PATCH answers 204)."""
    tenant = ctx.cloud.tenant
    if ctx.req.method == "PATCH":
        denied = ctx.require(*WRITE_SETTINGS, roles=("Global Administrator",))
        if denied:
            return denied
        try:
            body = orjson.loads(ctx.req.body or b"{}")
        except orjson.JSONDecodeError:
            return ctx.error(400, "BadRequest", "Invalid JSON body.")
        value = body.get("displayConcealedNames") if isinstance(body, dict) else None
        if not isinstance(value, bool):
            return ctx.error(400, "BadRequest", "displayConcealedNames must be true or false.")
        with tenant.lock:
            tenant.display_concealed_names = value
            tenant.version += 1
        return Response(204, b"", [])
    denied = ctx.require(*READ_SETTINGS, roles=("Global Administrator", "Global Reader",
                                                "Reports Reader"))
    if denied:
        return denied
    return ctx.ok({"@odata.context": ctx.context("admin/reportSettings/$entity"),
                   "id": "", "displayConcealedNames": tenant.display_concealed_names})
