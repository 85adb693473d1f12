"""A third-party client asks Entra ID for Microsoft's resources by their well-known names: a
plain msal + httpx client gets a Graph token for https://graph.microsoft.com/.default (and by
Graph's application id) from the simulated Entra ID and pages users with it."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from license_analyzer.simulator import Simulator
from tests.simulator.simclient import Api, msal_app

GRAPH_APP = "00000003-0000-0000-c000-000000000000"
CRM_APP = "00000007-0000-0000-c000-000000000000"
ERP_APP = "00000015-0000-0000-c000-000000000000"


@pytest.mark.parametrize("scope", ["https://graph.microsoft.com/.default",
                                   f"{GRAPH_APP}/.default"])
def test_a_plain_msal_and_httpx_client_pages_users(shared_sim: Simulator, scope: str) -> None:
    info = shared_sim.info
    app, transport = msal_app(info, info["client_secret"])
    try:
        result = app.acquire_token_for_client(scopes=[scope])
    finally:
        transport.close()
    assert "access_token" in result, result.get("error_description")
    headers = {"Authorization": f"Bearer {result['access_token']}"}
    users: list[dict[str, Any]] = []
    with httpx.Client(verify=ssl.create_default_context(cafile=info["ca_bundle"]),
                      headers=headers, timeout=30) as http:
        url: str | None = f"{info['graph_url']}/users?$select=id,displayName&$top=100"
        pages = 0
        while url:
            page = http.get(url)
            assert page.status_code == 200, page.text
            users += page.json()["value"]
            url = page.json().get("@odata.nextLink")
            pages += 1
    assert pages > 1 and len(users) == len(shared_sim.tenant.users)


@pytest.mark.parametrize("resource", [CRM_APP, ERP_APP, "https://graph.microsoft.com/"])
def test_dynamics_crm_and_erp_are_known_by_application_id(api: Api, resource: str) -> None:
    r = api.token_response(resource.rstrip("/"))
    assert r.status_code == 200, r.text
    assert r.json()["token_type"] == "Bearer"


def test_an_unknown_resource_is_still_refused(api: Api) -> None:
    r = api.token_response("https://unknown.example.com")
    assert r.status_code == 400 and r.json()["error_codes"] == [500011]
