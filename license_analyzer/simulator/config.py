"""Writes a ready-to-run license-analyzer config pointing at a running simulator."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

# List prices per user per month (USD), by skuPartNumber; plausible, not quotes.
PRICES = {
    "DYN365_ENTERPRISE_SALES": 105.0,
    "D365_SALES_PRO": 65.0,
    "DYN365_SALES_PREMIUM": 150.0,
    "DYN365_ENTERPRISE_CUSTOMER_SERVICE": 105.0,
    "DYN365_TEAM_MEMBERS": 8.0,
    "DYN365_FINANCE": 210.0,
    "DYN365_SCM": 210.0,
    "POWERAPPS_PER_USER": 20.0,
    "SPE_E3": 36.0,
    "SPE_E5": 57.0,
    "ENTERPRISEPACK": 23.0,
    "AAD_PREMIUM": 6.0,
    "CDS_DB_CAPACITY": 40.0,
    "FLOW_FREE": 0.0,
    "D365_SALES_ENT_ATTACH": 20.0,
    "Microsoft_365_Copilot": 30.0,
    "EXCHANGESTANDARD": 4.0,
}


def _s(value: str) -> str:
    return json.dumps(value)


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_s(v) for v in values) + "]"


def write_config_file(info: dict[str, Any], path: Path, web_base_url: str | None = None,
                      route_to_manager: bool = False) -> None:
    """A config for the simulated tenant; its [web] serves the review app at `web_base_url`
    (default http://127.0.0.1:8080), signed in through the simulated Entra ID."""
    groups = info.get("web_groups") or {}
    web = [
        "[web]",
        f"base_url = {_s(web_base_url or 'http://127.0.0.1:8080')}",
        f"authority_host = {_s(info['authority_host'])}",
        f"ca_bundle = {_s(info['ca_bundle'])}",
        f"tenant_id = {_s(info['tenant_id'])}",
        f"client_id = {_s(info['web_client_id'])}",
        f"client_secret = {_s(info['web_client_secret'])}",
        # a throwaway: this config is for a simulated tenant
        f"session_secret = {_s(secrets.token_urlsafe(32))}",
        f"viewers = {_list([groups['viewers']])}" if groups else "viewers = []",
        f"reviewers = {_list([groups['reviewers']])}" if groups else "reviewers = []",
        f"admins = {_list([groups['admins']])}" if groups else "admins = []",
        f"route_to_manager = {'true' if route_to_manager else 'false'}",
        "",
    ]
    lines = [
        "# Written by `license-analyzer simulate`; points at the simulated Microsoft cloud.",
        "[storage]",
        'url = "sqlite:///license-analyzer.db"',
        "",
        "[prices]",
        *(f"{k} = {v}" for k, v in PRICES.items()),
        "",
        *web,
        "[[profiles]]",
        'name = "simulated"',
        'cloud = "global"',
        f"tenant_id = {_s(info['tenant_id'])}",
        f"client_id = {_s(info['client_id'])}",
        f"client_secret = {_s(info['client_secret'])}",
        f"authority_host = {_s(info['authority_host'])}",
        f"graph_url = {_s(info['graph_url'])}",
        f"ca_bundle = {_s(info['ca_bundle'])}",
        f"dataverse = {_list(info['dataverse'])}",
        f"finance_operations = {_list(info['finance_operations'])}",
    ]
    if info.get("power_platform_url"):
        lines.append(f"power_platform_url = {_s(info['power_platform_url'])}")
    lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
