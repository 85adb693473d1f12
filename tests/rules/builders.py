"""Hand-made facts for the rules tests: one dict per (user, SKU) with the documented columns,
written as an analysis (Parquet + Analysis row) the way analyze does."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from sqlmodel import Session

from license_analyzer.rules.schema import FACTS_SCHEMA
from license_analyzer.store.db import Store
from license_analyzer.store.models import Analysis, SkuState
from tests.factories import AS_OF, PROFILE, add_sku, object_id, utc

FAMILIES = {
    "DYN365_ENTERPRISE_SALES": "sales", "D365_SALES_PRO": "sales",
    "D365_CUSTOMER_SERVICE_ENT_ATTACH": "customer_service",
    "DYN365_ENTERPRISE_CUSTOMER_SERVICE": "customer_service",
    "DYN365_TEAM_MEMBERS": "team_members", "DYN365_FINANCE": "finance",
}
# A few plans per SKU: enough for the capability checks (names as in Microsoft's catalog).
PLANS = {
    "SPE_E5": ["EXCHANGE_S_ENTERPRISE", "TEAMS1", "SHAREPOINTENTERPRISE", "OFFICESUBSCRIPTION",
               "MCOEV"],
    "SPE_E3": ["EXCHANGE_S_ENTERPRISE", "TEAMS1", "SHAREPOINTENTERPRISE", "OFFICESUBSCRIPTION"],
    "ENTERPRISEPACK": ["EXCHANGE_S_ENTERPRISE", "TEAMS1", "SHAREPOINTENTERPRISE",
                       "OFFICESUBSCRIPTION"],
    "DYN365_ENTERPRISE_SALES": ["DYN365_ENTERPRISE_SALES", "SHAREPOINTENTERPRISE"],
    "DYN365_ENTERPRISE_CUSTOMER_SERVICE": ["DYN365_ENTERPRISE_CUSTOMER_SERVICE"],
    "D365_CUSTOMER_SERVICE_ENT_ATTACH": ["D365_CUSTOMER_SERVICE_ENT_ATTACH",
                                         "EXCHANGE_S_FOUNDATION"],
    "DYN365_TEAM_MEMBERS": ["DYN365_TEAM_MEMBERS", "EXCHANGE_S_FOUNDATION", "TEAMS1",
                            "SHAREPOINTENTERPRISE"],
    "DYN365_FINANCE": ["DYN365_FINANCE"],
    "POWERAPPS_VIRAL": ["POWERAPPS_VIRAL"],
}


def sku(part: str) -> str:
    return object_id(f"sku:{part}")


def plan_id(name: str) -> str:
    return object_id(f"plan:{name}")


def add_skus(session: Session, parts: Iterable[str] = PLANS, profile: str = PROFILE
             ) -> list[SkuState]:
    return [add_sku(session, part, profile=profile, sku_id=sku(part), consumed=1,
                    service_plans=[{"id": plan_id(n), "name": n, "applies_to": "User",
                                    "status": "Success"} for n in PLANS.get(part, [part])])
            for part in parts]


def fact(user: str, part: str, **values: Any) -> dict[str, Any]:
    """One facts row for user `user` holding `part`: an inactive direct assignment by default."""
    as_of: date = values.get("as_of", AS_OF)
    days = values.pop("days", 90)
    last = (datetime(as_of.year, as_of.month, as_of.day, 12, tzinfo=utc(2000, 1, 1).tzinfo)
            - timedelta(days=days)) if days is not None else None
    row: dict[str, Any] = {
        "profile": PROFILE, "user_id": object_id(user),
        "user_principal_name": f"{user}@contoso.com", "display_name": user.title(),
        "department": "Sales", "company_name": "Contoso", "account_enabled": True,
        "user_type": "Member", "created_at": utc(2024, 1, 1), "sku_id": sku(part),
        "sku_part_number": part, "product_name": part.replace("_", " ").title(),
        "family": FAMILIES.get(part, "other"), "applies_to": "User", "is_free": False,
        "is_capacity": False, "is_attach": part.endswith("_ATTACH"),
        "assigned_since": utc(2025, 1, 1), "assigned_since_source": "licenseAssignmentStates",
        "assigned_via": "direct", "via_direct": True, "via_groups": [], "disabled_plans": [],
        "last_activity": last, "last_activity_source": "entra_signin" if last else None,
        "days_since_activity": days, "active_days_30": 0, "active_days_60": 0,
        "active_days_90": 1 if last else 0, "coverage_start": date(2025, 6, 1),
        "coverage_days": 170, "sufficient_history": True,
        "last_attempt_at": last, "bucket": "inactive" if last else "never_used",
        "low_usage": False, "read_only": None, "dataverse_environments": [],
        "fo_enabled": False, "unit_price_monthly": 50.0, "as_of": as_of,
    }
    if "bucket" not in values and days is not None and days < 60:
        row["bucket"] = "active"
        row["active_days_60"] = 20
    via_groups: Sequence[str] = values.get("via_groups", [])
    if via_groups and "via_direct" not in values:
        values["via_direct"] = False
    if "assigned_via" not in values:
        paths = (["direct"] if values.get("via_direct", True) else []) + [
            f"group:{g}" for g in via_groups]
        values["assigned_via"] = ",".join(paths)
    row.update(values)
    return row


def facts_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=FACTS_SCHEMA)


def write_facts(store: Store, rows: Sequence[dict[str, Any]], as_of: date = AS_OF) -> int:
    """Register `rows` as a new analysis; returns its id."""
    with store.session() as session:
        analysis = Analysis(as_of=as_of, created_at=utc(2026, 11, 21), facts_path="pending",
                            users=len({r["user_id"] for r in rows}), assignments=len(rows))
        session.add(analysis)
        session.flush()
        assert analysis.id is not None
        analysis.facts_path = f"facts/analysis-{analysis.id}.parquet"
        analysis_id = analysis.id
    path = store.data_dir / f"facts/analysis-{analysis_id}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    facts_frame([{**r, "as_of": as_of} for r in rows]).write_parquet(path)
    return analysis_id
