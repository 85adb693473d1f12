"""A small, fully known store for the report tests: positions with history, departments,
subscriptions, candidates, applied changes, rule results, facts and source health."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl

from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    Analysis,
    AppliedChange,
    Candidate,
    Coverage,
    CoverageGap,
    DepartmentPositionDaily,
    Environment,
    PositionDaily,
    Profile,
    RuleResult,
    Run,
    StreamState,
    Subscription,
)

AS_OF = date(2026, 11, 21)
PROFILE = "contoso"
SALES = "DYN365_ENTERPRISE_SALES"
E5 = "SPE_E5"
POWER_BI = "POWER_BI_STANDARD"
SKU_IDS = {SALES: "1e1a282c-9c54-43a2-9310-98ef728faace",
           E5: "06ebc4ee-1bb5-47dd-8120-11324bc54e06",
           POWER_BI: "a403ebcc-fae0-4ca2-8c8c-7a907fd6c235"}
NAMES = {SALES: "Dynamics 365 Sales Enterprise", E5: "Microsoft 365 E5",
         POWER_BI: "Power BI (free)"}
PRICES = {SALES: 105.0, E5: 57.0, POWER_BI: 0.0}
HISTORY_DAYS = 10


def at(day: date, hour: int = 6) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass(frozen=True)
class Expected:
    """The figures the page must show, computed here independently of the report code."""

    monthly_spend: float
    monthly_waste: float
    potential_saving: float
    renewal_saving: float
    realised_saving: float
    assigned: int
    unused: int
    open_candidates: int
    candidates: int


def _position(sku: str, day: date, offset: int) -> PositionDaily:
    """Day `offset` days before AS_OF; assignment grows and activity falls over the history."""
    price = PRICES[sku]
    if sku == SALES:
        purchased, assigned, active = 20, 18 - offset // 3, 8 + offset // 2
    elif sku == E5:
        purchased, assigned, active = 50, 52, 40
    else:
        purchased, assigned, active = 1_000_000, 30, 12
    rest = assigned - active
    inactive, never_used, in_grace, no_data = rest // 2, rest - rest // 2 - 1, 1, 0
    if sku == E5:
        inactive, never_used, in_grace, no_data = 6, 2, 1, rest - 9
    waste_counts = sku != POWER_BI
    unassigned = max(purchased - assigned, 0)
    return PositionDaily(
        profile=PROFILE, sku_id=SKU_IDS[sku], day=day, sku_part_number=sku,
        product_name=NAMES[sku], purchased=purchased, assigned=assigned, active=active,
        inactive=inactive, never_used=never_used, in_grace=in_grace, no_data=no_data,
        low_usage=1 if sku == SALES else 0, over_assigned=max(assigned - purchased, 0),
        unassigned=unassigned, unit_price_monthly=price,
        monthly_cost=purchased * price if waste_counts else 0.0,
        monthly_waste=(inactive + never_used + unassigned) * price if waste_counts else 0.0,
        reducible_at_renewal=inactive + never_used + unassigned if sku == SALES else 3,
        next_renewal=AS_OF + timedelta(days=30), waste_counts=waste_counts,
    )


def build_report_store(store: Store, names: Sequence[str] = ("Alice Adams", "Bob Brown"),
                       departments: Sequence[str] = ("Sales", "Finance"),
                       note: str = "ok", has_p1: bool | None = False) -> Expected:
    now = at(AS_OF)
    facts_rel = "facts/analysis-1.parquet"
    with store.session() as s:
        s.add(Profile(name=PROFILE, tenant_id="11111111-2222-3333-4444-555555555555",
                      has_p1=has_p1, created_at=now, updated_at=now))
        for offset in range(HISTORY_DAYS):
            day = AS_OF - timedelta(days=offset)
            for sku in (SALES, E5, POWER_BI):
                s.add(_position(sku, day, offset))
        for i, dept in enumerate([*departments, ""]):
            s.add(DepartmentPositionDaily(profile=PROFILE, department=dept, day=AS_OF,
                                          assigned=10 + i, unused=3 + i,
                                          monthly_cost=1000.0 - 100 * i,
                                          monthly_waste=300.0 - 50 * i))
        s.add(Subscription(profile=PROFILE, id="sub-sales", sku_id=SKU_IDS[SALES],
                           sku_part_number=SALES, status="Enabled", total_licenses=20,
                           next_lifecycle_at=at(AS_OF + timedelta(days=30)), updated_at=now))
        s.add(Subscription(profile=PROFILE, id="sub-e5-a", sku_id=SKU_IDS[E5],
                           sku_part_number=E5, status="Enabled", total_licenses=2,
                           next_lifecycle_at=at(AS_OF + timedelta(days=60)), updated_at=now))
        s.add(Subscription(profile=PROFILE, id="sub-e5-b", sku_id=SKU_IDS[E5],
                           sku_part_number=E5, status="Enabled", total_licenses=48,
                           next_lifecycle_at=at(AS_OF + timedelta(days=200)), updated_at=now))
        statuses = ["proposed", "approved", "rejected", "proposed", "snoozed", "applied"]
        savings = [105.0, 57.0, 105.0, 57.0, 105.0, 57.0]
        for i, (status, saving) in enumerate(zip(statuses, savings, strict=True)):
            name = names[i % len(names)]
            sku = SALES if saving == 105.0 else E5
            s.add(Candidate(
                id=f"c-{i:08x}", profile=PROFILE, user_id=f"user-{i}",
                user_principal_name=f"user{i}@contoso.com", display_name=name,
                department=departments[i % len(departments)], sku_id=SKU_IDS[sku],
                sku_part_number=sku, product_name=NAMES[sku],
                rule="inactive" if i % 2 == 0 else "never_used",
                reason=f"No activity for {60 + i} days; {note}", action="remove",
                assigned_via="direct", monthly_saving=saving,
                last_activity=AS_OF - timedelta(days=60 + i) if i % 2 == 0 else None,
                last_activity_source="dataverse_audit" if i % 2 == 0 else None,
                days_inactive=60 + i if i % 2 == 0 else None,
                evidence={"note": note, "environments": [name]}, evidence_hash=f"h{i}",
                status=status, proposed_at=now, updated_at=now))
        s.add(AppliedChange(candidate_id="c-00000005", profile=PROFILE, user_id="user-5",
                            sku_id=SKU_IDS[E5], action="remove", status="confirmed",
                            applied_at=now, monthly_saving=57.0))
        s.add(AppliedChange(candidate_id="c-00000099", profile=PROFILE, user_id="user-9",
                            sku_id=SKU_IDS[E5], action="remove", status="restored",
                            applied_at=now, monthly_saving=57.0))
        s.add(Analysis(id=1, run_id=1, as_of=AS_OF, created_at=now, facts_path=facts_rel,
                       users=4, assignments=5))
        s.add(RuleResult(analysis_id=1, rule="inactive", description="No activity for 60 days",
                         matched=4, candidates=3, monthly_saving=210.0))
        s.add(RuleResult(analysis_id=1, rule="never_used", description="Never used",
                         matched=3, candidates=3, monthly_saving=114.0))
        s.add(Environment(profile=PROFILE, url="https://sales.crm.dynamics.com",
                          kind="dataverse", audit_enabled=True,
                          user_access_audit_enabled=False))
        s.add(StreamState(profile=PROFILE, stream="users", status="ok", records_total=57,
                          updated_at=now))
        s.add(StreamState(profile=PROFILE, stream="dataverse_audit",
                          partition="https://sales.crm.dynamics.com", status="failed",
                          message=f"403 Forbidden {note}", updated_at=now - timedelta(days=1)))
        s.add(Coverage(profile=PROFILE, source="entra_signin", start=at(AS_OF - timedelta(30)),
                       end=now))
        s.add(CoverageGap(profile=PROFILE, source="signin_crm",
                          start=at(AS_OF - timedelta(20)), end=at(AS_OF - timedelta(18)),
                          reason=f"collector down for two days {note}", recorded_at=now))
        s.add(Run(id=1, command="run", started_at=now, finished_at=now, status="partial",
                  as_of=AS_OF, error="a source failed"))
    _write_facts(store, facts_rel)

    today = [_position(sku, AS_OF, 0) for sku in (SALES, E5, POWER_BI)]
    counted = [p for p in today if p.waste_counts]
    sales = today[0]
    return Expected(
        monthly_spend=sum(p.monthly_cost for p in today),
        monthly_waste=sum(p.monthly_waste for p in counted),
        potential_saving=105.0 + 57.0 + 57.0,  # proposed and approved
        # Sales renews in 30 days: all reducible seats (<= 20); E5's 3 seats go 2 to the
        # subscription renewing in 60 days, the rest to the one beyond the window
        renewal_saving=min(sales.reducible_at_renewal, 20) * 105.0 + 2 * 57.0,
        realised_saving=57.0,
        assigned=sum(p.assigned for p in counted),
        unused=sum(p.inactive + p.never_used for p in counted),
        open_candidates=3,
        candidates=6,
    )


def _write_facts(store: Store, rel: str) -> None:
    """Facts rows: one per (user, SKU), with last activity in every bucket."""
    last = [AS_OF - timedelta(days=d) if d is not None else None
            for d in (1, 29, 30, 45, 61, 95, 400, None, None)]
    frame = pl.DataFrame({
        "profile": [PROFILE] * len(last),
        "user_id": [f"user-{i}" for i in range(len(last))],
        "product_name": [NAMES[SALES]] * 5 + [NAMES[E5]] * 3 + [NAMES[POWER_BI]],
        "sku_part_number": [SALES] * 5 + [E5] * 3 + [POWER_BI],
        "is_free": [False] * 8 + [True],
        "is_capacity": [False] * len(last),
        "last_activity": [at(d) if d else None for d in last],
        "days_since_activity": [(AS_OF - d).days if d else None for d in last],
    }, schema_overrides={"last_activity": pl.Datetime("us", "UTC")})
    path = store.data_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path)


# bucket counts the facts above give: 0-30 {1, 29}, 30-60 {30, 45}, 60-90 {61}, 90+ {95, 400},
# never {None} (the free Power BI row is left out)
EXPECTED_BUCKETS = {"0-30 days": 2, "30-60 days": 2, "60-90 days": 1, "90+ days": 2, "never": 1}
