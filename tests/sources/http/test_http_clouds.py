from __future__ import annotations

import pytest

from license_analyzer.sources.http.clouds import CLOUDS, endpoints, graph_root, resource_scope
from tests.sources.http.http_fakes import CLIENT, TENANT, profile


@pytest.mark.parametrize(
    ("cloud", "login", "graph", "bap", "audience"),
    [
        ("global", "https://login.microsoftonline.com", "https://graph.microsoft.com",
         "https://api.bap.microsoft.com", "https://service.powerapps.com"),
        # GCC: worldwide login and Graph, the government Power Platform
        ("gcc", "https://login.microsoftonline.com", "https://graph.microsoft.com",
         "https://gov.api.bap.microsoft.us", "https://gov.service.powerapps.us"),
        ("usgov", "https://login.microsoftonline.us", "https://graph.microsoft.us",
         "https://high.api.bap.microsoft.us", "https://high.service.powerapps.us"),
        ("usgov-dod", "https://login.microsoftonline.us", "https://dod-graph.microsoft.us",
         "https://api.bap.appsplatform.us", "https://service.apps.appsplatform.us"),
        ("china", "https://login.partner.microsoftonline.cn",
         "https://microsoftgraph.chinacloudapi.cn", "https://api.bap.partner.microsoftonline.cn",
         "https://service.powerapps.cn"),
    ],
)
def test_national_cloud_hosts(cloud: str, login: str, graph: str, bap: str,
                              audience: str) -> None:
    """The Power Platform admin API is reached at its host with a token for the Power Apps
    service audience of the same cloud, as Microsoft's own clients ask for it."""
    ep = endpoints(profile(cloud=cloud, authority_host=None, graph_url=None))
    assert ep.authority_host == login
    assert ep.authority == f"{login}/{TENANT}"
    assert ep.graph_url == f"{graph}/v1.0"
    assert ep.graph_scope == f"{graph}/.default"
    assert ep.power_platform_url == bap
    assert ep.power_platform_scope == f"{audience}/.default"


def test_every_cloud_of_the_config_is_in_the_table() -> None:
    assert set(CLOUDS) == {"global", "gcc", "usgov", "usgov-dod", "china"}


def test_overrides_win_over_the_table() -> None:
    ep = endpoints(profile(cloud="usgov", authority_host="https://127.0.0.1:8443/",
                           graph_url="https://127.0.0.1:8443/graph/v1.0/",
                           power_platform_url="https://127.0.0.1:8443/bap/"))
    assert ep.authority == f"https://127.0.0.1:8443/{TENANT}"
    assert ep.graph_url == "https://127.0.0.1:8443/graph/v1.0"
    assert ep.graph_scope == "https://127.0.0.1:8443/graph/.default"
    assert ep.power_platform_url == "https://127.0.0.1:8443/bap"
    # a host moves with the override, the audience is the cloud's
    assert ep.power_platform_scope == "https://high.service.powerapps.us/.default"
    assert CLIENT  # the profile is otherwise untouched


def test_graph_url_without_version_gets_v1() -> None:
    assert endpoints(profile(graph_url="https://graph.example")).graph_url == (
        "https://graph.example/v1.0")
    assert endpoints(profile(graph_url="https://graph.example/beta")).graph_url == (
        "https://graph.example/beta")
    assert graph_root("https://graph.microsoft.com/v1.0/") == "https://graph.microsoft.com"


def test_resource_scope_normalizes_case_and_trailing_slash() -> None:
    assert resource_scope("https://Contoso.Operations.Dynamics.com/") == (
        "https://contoso.operations.dynamics.com/.default")
    assert resource_scope("https://127.0.0.1:9/orgs/Sales") == "https://127.0.0.1:9/orgs/sales/.default"
