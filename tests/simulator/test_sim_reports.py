"""The simulated Microsoft 365 usage reports, as Microsoft documents them."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx

from license_analyzer.simulator import Simulator
from license_analyzer.simulator.graph_reports import (
    ACTIVE_USER_COLUMNS,
    APP_USER_COLUMNS,
    COPILOT_COLUMNS,
    EMAIL_COLUMNS,
    ONEDRIVE_COLUMNS,
    SHAREPOINT_COLUMNS,
    TEAMS_COLUMNS,
    conceal,
)
from license_analyzer.sources.usage_reports import parse_csv
from tests.simulator.simclient import Api

BOM = b"\xef\xbb\xbf"
CSV_REPORTS = {
    "getOffice365ActiveUserDetail": ACTIVE_USER_COLUMNS,
    "getM365AppUserDetail": APP_USER_COLUMNS,
    "getTeamsUserActivityUserDetail": TEAMS_COLUMNS,
    "getEmailActivityUserDetail": EMAIL_COLUMNS,
    "getOneDriveActivityUserDetail": ONEDRIVE_COLUMNS,
    "getSharePointActivityUserDetail": SHAREPOINT_COLUMNS,
}


def _download(api: Api, function: str, period: str = "D7") -> tuple[httpx.Response, bytes]:
    first = api.graph(f"/reports/{function}(period='{period}')")
    assert first.status_code == 302, first.text
    location = first.headers["location"]
    body = api.http.get(location)  # no Authorization header: preauthenticated
    assert body.status_code == 200
    return first, body.content


def _beta(api: Api, path: str, **kw: object) -> httpx.Response:
    url = api.info["graph_url"].rsplit("/", 1)[0] + "/beta" + path
    return api.http.get(url, headers={"Authorization": f"Bearer {api.token(api.graph_resource)}"})


def test_each_csv_report_redirects_to_a_download_with_microsofts_headers(api: Api) -> None:
    # headers from each report's page, e.g.
    # https://learn.microsoft.com/graph/api/reportroot-getteamsuseractivityuserdetail
    for function, columns in CSV_REPORTS.items():
        _, content = _download(api, function)
        assert content.startswith(BOM)
        header = content[len(BOM):].split(b"\r\n", 1)[0].decode()
        assert header == ",".join(columns), function
    assert ACTIVE_USER_COLUMNS[:3] == ("Report Refresh Date", "User Principal Name",
                                       "Display Name")
    assert COPILOT_COLUMNS[-1] == "Copilot Chat Last Activity Date"


def test_the_refresh_date_lags_and_dates_stay_in_the_period(api: Api, shared_sim: Simulator
                                                            ) -> None:
    now = shared_sim.tenant.now
    _, content = _download(api, "getOffice365ActiveUserDetail", "D30")
    rows = parse_csv(content)
    refresh = (now - timedelta(days=2)).date().isoformat()
    assert rows and {r["Report Refresh Date"] for r in rows} == {refresh}
    first = (now - timedelta(days=31)).date().isoformat()
    dates = [r["Exchange Last Activity Date"] for r in rows]
    assert "" in dates  # someone never read mail in the period: an empty date
    assert all(first <= d <= refresh for d in dates if d)
    copilot = _beta(api, "/reports/getMicrosoft365CopilotUsageUserDetail(period='D7')")
    assert copilot.status_code == 200  # JSON by default, no redirect
    assert {r["reportRefreshDate"] for r in copilot.json()["value"]} == {
        (now - timedelta(days=3)).date().isoformat()}


def test_the_download_needs_no_token_and_expires(own: Api, sim: Simulator) -> None:
    first = own.graph("/reports/getEmailActivityUserDetail(period='D7')")
    location = first.headers["location"]
    assert own.http.get(location).status_code == 200
    with sim.cloud.cache_lock:
        downloads = sim.cloud.cache["report_downloads"]
        token = location.rsplit("/", 1)[-1]
        downloads[token] = (time.monotonic() - 1, downloads[token][1])
    assert own.http.get(location).status_code == 404


def test_json_where_microsoft_documents_it(api: Api) -> None:
    page = api.graph("/reports/getM365AppUserDetail(period='D7')?$format=application/json")
    assert page.status_code == 200
    body = page.json()
    assert len(body["value"]) == 200 and "@odata.nextLink" in body
    row = body["value"][0]
    assert set(row) == {"reportRefreshDate", "userPrincipalName", "lastActivationDate",
                        "lastActivityDate", "details"}
    assert {"outlookWindows", "powerPointMac", "teamsWeb", "reportPeriod"} <= set(
        row["details"][0])
    rest = api.graph(body["@odata.nextLink"])
    assert rest.status_code == 200 and rest.json()["value"]


def test_periods_and_dates_are_checked(api: Api) -> None:
    assert api.graph("/reports/getOffice365ActiveUserDetail(period='D8')").status_code == 400
    assert api.graph("/reports/getOffice365ActiveUserDetail(date=2020-01-01)"
                     ).status_code == 400
    # the Copilot report is beta only
    assert api.graph("/reports/getMicrosoft365CopilotUsageUserDetail(period='D7')"
                     ).status_code == 400


def test_concealed_names_are_hashes_until_the_setting_is_turned_off(own: Api, sim: Simulator
                                                                    ) -> None:
    sim.tenant.app.roles.add("ReportSettings.ReadWrite.All")
    own._tokens.clear()
    assert own.graph("/admin/reportSettings").json()["displayConcealedNames"] is False
    assert own.graph("/admin/reportSettings", method="PATCH",
                     json={"displayConcealedNames": True}).status_code == 204
    assert own.graph("/admin/reportSettings").json()["displayConcealedNames"] is True
    _, content = _download(own, "getOffice365ActiveUserDetail")
    names = [r["User Principal Name"] for r in parse_csv(content)]
    upns = {u.upn for u in sim.tenant.users}
    assert names and not upns.intersection(names)
    assert all(len(n) == 32 and n == n.upper() for n in names)
    assert conceal(sim.tenant.users[0].upn) in names
    own.graph("/admin/reportSettings", method="PATCH", json={"displayConcealedNames": False})
    _, content = _download(own, "getOffice365ActiveUserDetail")
    assert upns.issuperset(r["User Principal Name"] for r in parse_csv(content))


def test_reports_need_reports_read_all(own: Api, sim: Simulator) -> None:
    sim.tenant.app.roles.discard("Reports.Read.All")
    own._tokens.clear()
    refused = own.graph("/reports/getOffice365ActiveUserDetail(period='D7')")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "Authorization_RequestDenied"


def test_copilot_licences_have_use_some_idle_some_never(shared_sim: Simulator) -> None:
    work = shared_sim.tenant.workloads
    kinds = set(work.copilot_kind.values())
    assert kinds == {"regular", "idle", "never"}
    assert {"signin_only", "mail_only", "regular"} <= set(work.kind)
