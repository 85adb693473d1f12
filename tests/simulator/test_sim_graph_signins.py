"""Graph sign-in log: interactive only, newest first, 30-day retention, its own low limit."""

from __future__ import annotations

from datetime import timedelta

from license_analyzer.simulator import Simulator, SimulatorOptions
from tests.simulator.simclient import Api

CRM = "00000007-0000-0000-c000-000000000000"
ERP = "00000015-0000-0000-c000-000000000000"


def test_crm_signins_newest_first_to_the_end(api: Api, shared_sim: Simulator) -> None:
    q = f"/auditLogs/signIns?$filter=resourceId eq '{CRM}'&$top=200"
    rows = api.follow(api.graph(q), api.graph)
    assert len(rows) == shared_sim.truth.signins(CRM)
    stamps = [r["createdDateTime"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)
    assert all(r["isInteractive"] and r["resourceId"] == CRM for r in rows)
    oldest = (shared_sim.tenant.now - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert stamps[-1] >= oldest


def test_filters_on_time_user_and_app(api: Api, shared_sim: Simulator) -> None:
    q = (
        f"/auditLogs/signIns?$filter=resourceId eq '{ERP}' and createdDateTime ge "
        "2026-11-14T00:00:00Z and createdDateTime le 2026-11-20T00:00:00Z"
    )
    rows = api.follow(api.graph(q), api.graph)
    start = shared_sim.tenant.now.replace(year=2026, month=11, day=14, hour=0)
    end = start + timedelta(days=6, seconds=1)
    assert len(rows) == shared_sim.truth.signins(ERP, start, end) > 0
    uid = rows[0]["userId"]
    mine = api.graph(f"/auditLogs/signIns?$filter=userId eq '{uid}'").json()["value"]
    assert mine and all(r["userId"] == uid for r in mine)
    app = rows[0]["appId"]
    assert all(
        r["appId"] == app
        for r in api.graph(f"/auditLogs/signIns?$filter=appId eq '{app}'&$top=20").json()["value"]
    )


def test_default_page_is_1000_and_failures_show(api: Api) -> None:
    body = api.graph("/auditLogs/signIns").json()
    assert len(body["value"]) == 1000 and "@odata.nextLink" in body
    failed = api.graph("/auditLogs/signIns?$filter=status/errorCode eq 50126").json()["value"]
    assert failed and all(r["status"]["errorCode"] == 50126 for r in failed)


def test_signin_log_allows_five_requests_per_ten_seconds() -> None:
    with Simulator(SimulatorOptions(users=40, time_scale=0.2)) as sim:
        a = Api(sim)
        codes = [a.graph("/auditLogs/signIns?$top=1").status_code for _ in range(6)]
        assert codes[:5] == [200] * 5 and codes[5] == 429
        r = a.graph("/auditLogs/signIns?$top=1")
        assert float(r.headers["Retry-After"]) <= 2.0
        assert r.json()["error"]["code"] == "TooManyRequests"
        assert a.graph("/users?$top=1").status_code == 200
        a.http.close()
