"""National clouds: which login, Graph and Power Platform hosts a profile talks to.

Tokens from one cloud are not accepted by another, so every host comes from this one table
(graph-api.md section 7). The Power Platform admin API's host and its token audience differ,
as Microsoft's own clients map them: Microsoft.PowerApps.Administration.PowerShell's
Add-PowerAppsAccount endpoints and Get-AudienceForHostName (copies in microsoft/coe-starter-kit
coe-cli/scripts/Microsoft.PowerApps.AuthModule.psm1 and Microsoft.PowerApps.RestClientModule.psm1)
and microsoft/terraform-provider-power-platform's constants (China). GCC keeps the worldwide
login and Graph but has its own government Power Platform. The profile's `authority_host`,
`graph_url` and `power_platform_url` override the hosts for anything else (a sovereign cloud we
do not list, a proxy, the simulator); the Power Platform audience stays the cloud's.
"""

from __future__ import annotations

from dataclasses import dataclass

from license_analyzer.config import Cloud, ProfileConfig, normalize_resource_url

GRAPH_VERSIONS = ("v1.0", "beta")


@dataclass(frozen=True)
class CloudHosts:
    authority_host: str
    graph_root: str
    power_platform_root: str
    power_platform_audience: str


CLOUDS: dict[Cloud, CloudHosts] = {
    "global": CloudHosts(
        authority_host="https://login.microsoftonline.com",
        graph_root="https://graph.microsoft.com",
        power_platform_root="https://api.bap.microsoft.com",
        power_platform_audience="https://service.powerapps.com",
    ),
    # GCC (moderate): worldwide login and Graph ("If you're working in a Microsoft 365 GCC
    # environment, continue using the worldwide endpoints": https://learn.microsoft.com/graph/deployments),
    # the government Power Platform
    "gcc": CloudHosts(
        authority_host="https://login.microsoftonline.com",
        graph_root="https://graph.microsoft.com",
        power_platform_root="https://gov.api.bap.microsoft.us",
        power_platform_audience="https://gov.service.powerapps.us",
    ),
    # GCC High (US Gov L4)
    "usgov": CloudHosts(
        authority_host="https://login.microsoftonline.us",
        graph_root="https://graph.microsoft.us",
        power_platform_root="https://high.api.bap.microsoft.us",
        power_platform_audience="https://high.service.powerapps.us",
    ),
    # DoD (US Gov L5): same login host as GCC High, its own Graph
    "usgov-dod": CloudHosts(
        authority_host="https://login.microsoftonline.us",
        graph_root="https://dod-graph.microsoft.us",
        power_platform_root="https://api.bap.appsplatform.us",
        power_platform_audience="https://service.apps.appsplatform.us",
    ),
    # operated by 21Vianet; login.chinacloudapi.cn is the deprecated login host
    "china": CloudHosts(
        authority_host="https://login.partner.microsoftonline.cn",
        graph_root="https://microsoftgraph.chinacloudapi.cn",
        power_platform_root="https://api.bap.partner.microsoftonline.cn",
        power_platform_audience="https://service.powerapps.cn",
    ),
}


@dataclass(frozen=True)
class Endpoints:
    """Where one profile's calls go, and the scopes its tokens are asked for."""

    authority_host: str
    authority: str  # {authority_host}/{tenant_id}
    graph_url: str  # with the version segment, e.g. https://graph.microsoft.com/v1.0
    graph_scope: str
    power_platform_url: str
    power_platform_scope: str


def resource_scope(url: str) -> str:
    """The app-only scope of a resource: its URL lowercased, no trailing slash, + /.default."""
    return f"{normalize_resource_url(url)}/.default"


def graph_root(graph_url: str) -> str:
    """The Graph URL without its version segment: what the token audience is."""
    url = graph_url.strip().rstrip("/")
    head, _, last = url.rpartition("/")
    return head if last.lower() in GRAPH_VERSIONS else url


def _with_version(graph_url: str) -> str:
    url = graph_url.strip().rstrip("/")
    return url if url.rpartition("/")[2].lower() in GRAPH_VERSIONS else f"{url}/v1.0"


def endpoints(profile: ProfileConfig) -> Endpoints:
    hosts = CLOUDS[profile.cloud]
    authority_host = (profile.authority_host or hosts.authority_host).strip().rstrip("/")
    graph_url = _with_version(profile.graph_url or hosts.graph_root)
    power_platform_url = (profile.power_platform_url or hosts.power_platform_root).strip()
    power_platform_url = power_platform_url.rstrip("/")
    return Endpoints(
        authority_host=authority_host,
        authority=f"{authority_host}/{profile.tenant_id}",
        graph_url=graph_url,
        graph_scope=resource_scope(graph_root(graph_url)),
        power_platform_url=power_platform_url,
        power_platform_scope=resource_scope(hosts.power_platform_audience),
    )
