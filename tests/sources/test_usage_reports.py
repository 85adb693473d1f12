"""Parsing the Microsoft 365 usage reports: CSV with a byte-order mark and empty dates, the
302 to a token-free download, the JSON variants, concealed names, the period asked."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import httpx
import orjson
import pytest

from license_analyzer.errors import SourceError
from license_analyzer.sources.usage_reports import (
    REPORTS,
    ReportRows,
    download_allowed,
    fetch,
    is_concealed,
    last_dates,
    parse_csv,
    parse_date,
    period_for,
)

GRAPH = "https://graph.microsoft.com/v1.0"
BOM = b"\xef\xbb\xbf"
ACTIVE = REPORTS[0]
APPS = next(r for r in REPORTS if r.function == "getM365AppUserDetail")
TEAMS = next(r for r in REPORTS if r.function == "getTeamsUserActivityUserDetail")
COPILOT = next(r for r in REPORTS if r.function == "getMicrosoft365CopilotUsageUserDetail")
# Microsoft's header line (https://learn.microsoft.com/graph/api/reportroot-getoffice365activeuserdetail)
ACTIVE_HEADER = (
    "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,"
    "Has Exchange License,Has OneDrive License,Has SharePoint License,"
    "Has Skype For Business License,Has Yammer License,Has Teams License,"
    "Exchange Last Activity Date,OneDrive Last Activity Date,SharePoint Last Activity Date,"
    "Skype For Business Last Activity Date,Yammer Last Activity Date,Teams Last Activity Date,"
    "Exchange License Assign Date,OneDrive License Assign Date,SharePoint License Assign Date,"
    "Skype For Business License Assign Date,Yammer License Assign Date,"
    "Teams License Assign Date,Assigned Products")
ADELE = "00000000-0000-0000-0000-0000000000a1"
ALEX = "00000000-0000-0000-0000-0000000000a2"
USERS = {"adele@contoso.com": ADELE, "alex@contoso.com": ALEX}


def active_csv(*rows: str) -> bytes:
    return BOM + "\r\n".join((ACTIVE_HEADER, *rows)).encode() + b"\r\n"


ADELE_ROW = ("2026-11-19,Adele@contoso.com,Adele Vance,False,,True,True,True,False,True,True,"
             "2026-11-19,,2026-11-02,,,2026-11-18,2025-01-01,2025-01-01,2025-01-01,,2025-01-01,"
             "2025-01-01,MICROSOFT 365 E3")
ALEX_ROW = ("2026-11-19,alex@contoso.com,Alex Wilber,False,,True,True,True,False,True,True,"
            ",,,,,,2025-01-01,2025-01-01,2025-01-01,,2025-01-01,2025-01-01,MICROSOFT 365 E3")


def test_the_byte_order_mark_does_not_stick_to_the_first_column() -> None:
    rows = parse_csv(active_csv(ADELE_ROW))
    assert list(rows[0])[0] == "Report Refresh Date"
    assert rows[0]["Report Refresh Date"] == "2026-11-19"
    assert parse_csv(active_csv(ADELE_ROW)[len(BOM):]) == rows  # and without one, the same


def test_every_documented_column_is_read_and_empty_dates_mean_never() -> None:
    rows = ReportRows(date(2026, 11, 19), parse_csv(active_csv(ADELE_ROW, ALEX_ROW)))
    assert set(rows.rows[0]) == set(ACTIVE_HEADER.split(","))
    found = last_dates(ACTIVE, rows, USERS)
    assert found["m365_exchange"] == {ADELE: date(2026, 11, 19)}
    assert found["m365_sharepoint"] == {ADELE: date(2026, 11, 2)}
    assert found["m365_teams"] == {ADELE: date(2026, 11, 18)}
    assert found["m365_onedrive"] == {} and found["m365_viva_engage"] == {}
    assert ALEX not in found["m365_exchange"]  # a row of empty dates: never used
    assert parse_date("") is None and parse_date(None) is None
    assert parse_date("2026-11-19T00:00:00") == date(2026, 11, 19)


def test_an_unknown_user_is_never_joined() -> None:
    rows = ReportRows(date(2026, 11, 19), parse_csv(active_csv(
        ADELE_ROW.replace("Adele@contoso.com", "someone.else@contoso.com"))))
    assert last_dates(ACTIVE, rows, USERS)["m365_exchange"] == {}


def test_the_teams_report_joins_by_user_id_when_the_name_is_not_known() -> None:
    header = "Report Refresh Date,User Id,User Principal Name,Last Activity Date,Report Period"
    body = BOM + f"{header}\r\n2026-11-19,{ALEX},renamed@contoso.com,2026-11-17,7\r\n".encode()
    found = last_dates(TEAMS, ReportRows(date(2026, 11, 19), parse_csv(body)), USERS)
    assert found["m365_teams"] == {ALEX: date(2026, 11, 17)}


def test_json_rows_use_microsoft_property_names() -> None:
    apps = ReportRows(date(2026, 11, 19), [
        {"reportRefreshDate": "2026-11-19", "userPrincipalName": "adele@contoso.com",
         "lastActivationDate": "2026-05-22", "lastActivityDate": "2026-11-18",
         "details": [{"reportPeriod": 7, "windows": True}]},
        {"reportRefreshDate": "2026-11-19", "userPrincipalName": "alex@contoso.com",
         "lastActivityDate": None}])
    assert last_dates(APPS, apps, USERS)["m365_office_apps"] == {ADELE: date(2026, 11, 18)}
    copilot = ReportRows(date(2026, 11, 18), [
        {"reportRefreshDate": "2026-11-18", "userPrincipalName": "alex@contoso.com",
         "lastActivityDate": "2026-06-12", "copilotChatLastActivityDate": "2026-01-10"}])
    assert last_dates(COPILOT, copilot, USERS)["m365_copilot"] == {ALEX: date(2026, 6, 12)}


def test_concealed_names_are_recognised_and_real_ones_are_not() -> None:
    # the Copilot report's documented example of a concealed name
    assert is_concealed(["DC8C64D6EC3A3AA17481D7E5EB5B68A6", "C65E8D8AFA0DAB9639EDFAAEA94AFE66"])
    assert not is_concealed(["adele@contoso.com"])
    assert not is_concealed(["DC8C64D6EC3A3AA17481D7E5EB5B68A6", "adele@contoso.com"])
    assert not is_concealed([])


def test_the_period_reaches_back_past_the_last_refresh_date() -> None:
    today = date(2026, 11, 21)
    assert period_for(None, today) == "D180"  # the first pull: half a year of last activity
    assert period_for(date(2026, 11, 19), today) == "D7"
    assert period_for(date(2026, 11, 1), today) == "D30"
    assert period_for(date(2026, 6, 1), today) == "D180"


def test_downloads_go_only_to_microsofts_download_host_or_graphs_own() -> None:
    assert download_allowed("https://reports.office.com/data/download/JDFKdf2", GRAPH)
    assert download_allowed("https://graph.microsoft.com/data/x", GRAPH)
    assert not download_allowed("http://reports.office.com/data/download/x", GRAPH)
    assert not download_allowed("https://reports.office.com.evil.example/x", GRAPH)
    assert not download_allowed("https://evil.example/data/download/x", GRAPH)


class Bearer(httpx.Auth):
    def auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = "Bearer graph-token"
        yield request


def _client(handler: httpx.MockTransport) -> httpx.Client:
    return httpx.Client(base_url=GRAPH, auth=Bearer(), transport=handler)


def test_the_redirect_is_followed_without_the_token() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "graph.microsoft.com":
            assert request.url.path == "/v1.0/reports/getOffice365ActiveUserDetail(period='D7')"
            return httpx.Response(302, headers={
                "Location": "https://reports.office.com/data/download/JDFKdf2_eJXKS034dbc7e0t"})
        return httpx.Response(200, content=active_csv(ADELE_ROW))

    with _client(httpx.MockTransport(answer)) as graph:
        rows = fetch(graph, ACTIVE, "D7")
    assert rows.refresh == date(2026, 11, 19) and len(rows.rows) == 1
    assert seen[0].headers["Authorization"] == "Bearer graph-token"
    assert seen[1].url.host == "reports.office.com"
    assert "Authorization" not in seen[1].headers  # preauthenticated: no token goes there


def test_a_redirect_elsewhere_is_refused_before_any_request() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://evil.example/steal"})

    with _client(httpx.MockTransport(answer)) as graph, pytest.raises(SourceError) as err:
        fetch(graph, ACTIVE, "D7")
    assert "evil.example" in err.value.message and "not followed" in err.value.message
    assert len(seen) == 1


def test_the_json_variant_follows_next_links() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "$skiptoken" not in str(request.url):
            assert request.url.params["$format"] == "application/json"
            return httpx.Response(200, content=orjson.dumps({
                "@odata.nextLink": f"{GRAPH}/reports/getM365AppUserDetail(period='D7')"
                                   "?$format=application/json&$skiptoken=AAAAA",
                "value": [{"reportRefreshDate": "2026-11-19",
                           "userPrincipalName": "adele@contoso.com",
                           "lastActivityDate": "2026-11-19"}]}))
        return httpx.Response(200, content=orjson.dumps({"value": [
            {"reportRefreshDate": "2026-11-19", "userPrincipalName": "alex@contoso.com",
             "lastActivityDate": "2026-11-10"}]}))

    with _client(httpx.MockTransport(answer)) as graph:
        rows = fetch(graph, APPS, "D7")
    assert rows.refresh == date(2026, 11, 19)
    assert last_dates(APPS, rows, USERS)["m365_office_apps"] == {
        ADELE: date(2026, 11, 19), ALEX: date(2026, 11, 10)}


def test_the_copilot_report_is_read_from_beta() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.url.path.startswith("/beta/reports/getMicrosoft365CopilotUsageUserDetail")
        return httpx.Response(200, content=orjson.dumps({"value": []}))

    with _client(httpx.MockTransport(answer)) as graph:
        assert fetch(graph, COPILOT, "D180").rows == []


# each CSV report's header line as Microsoft documents it, and the source its date feeds
DOCUMENTED = {
    "getTeamsUserActivityUserDetail": (
        "Report Refresh Date,Tenant Display Name,Shared Channel Tenant Display Names,User Id,"
        "User Principal Name,Last Activity Date,Is Deleted,Deleted Date,Assigned Products,"
        "Team Chat Message Count,Private Chat Message Count,Call Count,Meeting Count,"
        "Post Messages,Reply Messages,Urgent Messages,Meetings Organized Count,"
        "Meetings Attended Count,Ad Hoc Meetings Organized Count,Ad Hoc Meetings Attended Count,"
        "Scheduled One-time Meetings Organized Count,Scheduled One-time Meetings Attended Count,"
        "Scheduled Recurring Meetings Organized Count,Scheduled Recurring Meetings Attended Count,"
        "Audio Duration,Video Duration,Screen Share Duration,Audio Duration In Seconds,"
        "Video Duration In Seconds,Screen Share Duration In Seconds,Has Other Action,"
        "Is Licensed,Report Period", "m365_teams"),
    "getEmailActivityUserDetail": (
        "Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,"
        "Last Activity Date,Send Count,Receive Count,Read Count,Meeting Created Count,"
        "Meeting Interacted Count,Assigned Products,Report Period", "m365_exchange"),
    "getOneDriveActivityUserDetail": (
        "Report Refresh Date,User Principal Name,Is Deleted,Deleted Date,Last Activity Date,"
        "Viewed Or Edited File Count,Synced File Count,Shared Internally File Count,"
        "Shared Externally File Count,Assigned Products,Report Period", "m365_onedrive"),
    "getSharePointActivityUserDetail": (
        "Report Refresh Date,User Principal Name,Is Deleted,Deleted Date,Last Activity Date,"
        "Viewed Or Edited File Count,Synced File Count,Shared Internally File Count,"
        "Shared Externally File Count,Visited Page Count,Assigned Products,Report Period",
        "m365_sharepoint"),
    "getM365AppUserDetail": (
        "Report Refresh Date,User Principal Name,Last Activation Date,Last Activity Date,"
        "Report Period,Windows,Mac,Mobile,Web,Outlook,Word,Excel,PowerPoint,OneNote,Teams",
        "m365_office_apps"),
}


@pytest.mark.parametrize("function", sorted(DOCUMENTED))
def test_each_csv_report_gives_its_workload_day(function: str) -> None:
    header, source = DOCUMENTED[function]
    columns = header.split(",")

    def line(upn: str, last: str) -> str:
        values = {"Report Refresh Date": "2026-11-19", "User Principal Name": upn,
                  "Last Activity Date": last, "User Id": ""}
        return ",".join(values.get(c, "0") for c in columns)

    body = BOM + "\r\n".join((header, line("adele@contoso.com", "2026-11-12"),
                              line("alex@contoso.com", ""))).encode() + b"\r\n"
    report = next(r for r in REPORTS if r.function == function)
    csv_report = replace(report, json=False)  # getM365AppUserDetail is read as JSON; its CSV too
    rows = ReportRows(date(2026, 11, 19), parse_csv(body))
    assert last_dates(csv_report, rows, USERS) == {source: {ADELE: date(2026, 11, 12)}}
