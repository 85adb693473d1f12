"""The report's "Finance & Operations license compliance" section: totals per status and
product, the users most at risk, the roles driving most cost, the what-if per role, and where
the admin center's export disagrees."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from license_analyzer.config import Config
from license_analyzer.pipeline.fo_compliance import STATUSES, compute, status_totals
from license_analyzer.store.compliance_imports import USER_LICENSE_CONSUMPTION
from license_analyzer.store.db import Store

AT_RISK_ROWS = 25


@dataclass(frozen=True)
class ComplianceSection:
    totals: dict[str, int]
    products: list[dict[str, Any]]  # per required base license: users per status, delta
    at_risk: list[dict[str, Any]]  # under-licensed and unmatched, dearest first
    over: list[dict[str, Any]]  # over-licensed, biggest saving first
    roles: list[dict[str, Any]]  # roles driving most cost
    what_if: list[dict[str, Any]]
    disagreements: list[dict[str, Any]]
    cost_to_comply: float
    over_saving: float
    admin_center_file: str | None = None
    admin_center_refreshed: datetime | None = None
    statuses: tuple[str, ...] = field(default=STATUSES)


def compliance_section(config: Config, store: Store) -> ComplianceSection | None:
    """None when no profile names a Finance & Operations environment and nothing was
    imported: the page leaves the section out."""
    result = compute(config, store)
    configured = any(p.finance_operations for p in config.profiles)
    if not configured and not result.rows:
        return None
    computed = [r for r in result.rows if r["source"] != "admin_center"]
    products: dict[str, dict[str, Any]] = {}
    roles: dict[str, dict[str, Any]] = {}
    for r in computed:
        key = r["required"][0] if r["required"] else "(none required)"
        entry = products.setdefault(key, {"license": key, "users": 0, "monthly_delta": 0.0,
                                          **dict.fromkeys(STATUSES, 0)})
        entry["users"] += 1
        entry[r["status"]] += 1
        entry["monthly_delta"] = round(entry["monthly_delta"] + r["monthly_delta"], 2)
        if r["status"] == "exempt":
            continue
        for role in r["driving_roles"]:
            line = roles.setdefault(role, {"role": role, "users": 0, "under_licensed": 0,
                                           "over_licensed": 0, "monthly_delta": 0.0})
            line["users"] += 1
            if r["status"] in ("under_licensed", "over_licensed"):
                line[r["status"]] += 1
                line["monthly_delta"] = round(line["monthly_delta"] + r["monthly_delta"], 2)
    at_risk = sorted((r for r in computed if r["status"] in ("under_licensed", "unmatched")
                      and r["required"]), key=lambda r: (-r["monthly_delta"],
                                                         r["user_principal_name"] or ""))
    over = sorted((r for r in computed if r["status"] == "over_licensed"),
                  key=lambda r: (r["monthly_delta"], r["user_principal_name"] or ""))
    imported = result.imported.get(USER_LICENSE_CONSUMPTION)
    return ComplianceSection(
        totals=status_totals(result.rows),
        products=sorted(products.values(), key=lambda p: (-p["users"], p["license"])),
        at_risk=at_risk[:AT_RISK_ROWS],
        over=over[:AT_RISK_ROWS],
        roles=sorted(roles.values(), key=lambda x: (-abs(x["monthly_delta"]), -x["users"],
                                                   x["role"]))[:15],
        what_if=[w for w in result.role_what_if if w["licenses_saved"]][:15],
        disagreements=[r for r in result.rows if r["source"] == "admin_center"],
        cost_to_comply=round(sum(r["monthly_delta"] for r in computed
                                 if r["status"] == "under_licensed"), 2),
        over_saving=round(-sum(r["monthly_delta"] for r in computed
                               if r["status"] == "over_licensed"), 2),
        admin_center_file=imported["file_name"] if imported else None,
        admin_center_refreshed=imported["refreshed_on"] if imported else None,
    )
