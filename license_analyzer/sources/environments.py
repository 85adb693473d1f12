"""Which environments a profile collects: the configured ones, plus those the Power Platform
admin API lists when `discover_environments` is on."""

from __future__ import annotations

import logging
from typing import Any

from license_analyzer.config import normalize_resource_url
from license_analyzer.sources.context import Context, Ticker
from license_analyzer.sources.paginate import records
from license_analyzer.sources.streams import BAP_ENVIRONMENTS
from license_analyzer.sources.upsert import upsert
from license_analyzer.sources.values import text
from license_analyzer.store.models import Environment

log = logging.getLogger(__name__)


def configured(ctx: Context) -> None:
    ctx.dataverse_urls = [e.url for e in ctx.profile.dataverse]
    ctx.fno_urls = [e.url for e in ctx.profile.finance_operations]


def instance_url(item: dict[str, Any]) -> str | None:
    props = item.get("properties") or {}
    linked = props.get("linkedEnvironmentMetadata") or {}
    url = text(linked.get("instanceUrl")) if isinstance(linked, dict) else None
    return normalize_resource_url(url) if url else None


def discover(ctx: Context, ticker: Ticker) -> str | None:
    """Add the Dataverse environments the admin API lists (those with a Dataverse database)."""
    found: list[dict[str, Any]] = []
    for item in records(ctx.clients.power_platform(), BAP_ENVIRONMENTS, on_page=ticker.page):
        url = instance_url(item)
        if url is None or url in ctx.dataverse_urls:
            continue
        ctx.dataverse_urls.append(url)
        found.append({"profile": ctx.name, "url": url, "kind": "dataverse", "discovered": True,
                      "display_name": text((item.get("properties") or {}).get("displayName"))})
    with ctx.store.session() as session:
        upsert(session, Environment, found, update=["discovered", "display_name"])
    if found:
        log.info("%s: discovered %d more Dataverse environment(s)", ctx.name, len(found))
    return None
