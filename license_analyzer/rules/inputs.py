"""What the rules read from the store beside the facts: plans, groups, memberships, SKUs."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
from sqlmodel import col, select

from license_analyzer.errors import ConfigError
from license_analyzer.rules.carry_out import GroupInfo
from license_analyzer.store.db import Store
from license_analyzer.store.models import Analysis, DirectoryGroup, GroupMember, SkuState


@dataclass
class TenantInputs:
    plans: pl.DataFrame  # profile, sku_id, plan_id, plan_name
    memberships: pl.DataFrame  # profile, user_id, group_id, group_name
    groups: dict[tuple[str, str], GroupInfo]  # (profile, group id)
    skus: dict[tuple[str, str], str]  # (profile, skuPartNumber) -> skuId
    part_names: dict[str, str]  # skuId -> skuPartNumber
    # per (profile, user, SKU) the F&O compliance columns (rules/derive_fo.py); None: none
    fo_compliance: pl.DataFrame | None = field(default=None)


def read_inputs(store: Store, profiles: list[str]) -> TenantInputs:
    with store.session() as session:
        sku_rows = list(session.exec(select(SkuState).where(col(SkuState.profile).in_(profiles))))
        group_rows = list(session.exec(
            select(DirectoryGroup).where(col(DirectoryGroup.profile).in_(profiles))))
        member_rows = list(session.exec(
            select(GroupMember).where(col(GroupMember.profile).in_(profiles))))
    plans = pl.DataFrame(
        [{"profile": s.profile, "sku_id": s.sku_id.lower(),
          "plan_id": str(p.get("id", "")).lower(), "plan_name": str(p.get("name", ""))}
         for s in sku_rows for p in (s.service_plans or [])],
        schema={"profile": pl.String, "sku_id": pl.String, "plan_id": pl.String,
                "plan_name": pl.String},
    )
    groups = {
        (g.profile, g.id.lower()): GroupInfo(
            id=g.id.lower(), display_name=g.display_name,
            dynamic="DynamicMembership" in (g.group_types or []) or bool(g.membership_rule),
            synced=g.on_premises_sync_enabled, mail_enabled=g.mail_enabled,
            licenses=tuple(str(a.get("skuId", "")).lower() for a in (g.assigned_licenses or [])),
        )
        for g in group_rows
    }
    memberships = pl.DataFrame(
        [{"profile": m.profile, "user_id": m.user_id.lower(), "group_id": m.group_id.lower(),
          "group_name": groups[(m.profile, m.group_id.lower())].display_name
          if (m.profile, m.group_id.lower()) in groups else None}
         for m in member_rows],
        schema={"profile": pl.String, "user_id": pl.String, "group_id": pl.String,
                "group_name": pl.String},
    )
    return TenantInputs(
        plans=plans, memberships=memberships, groups=groups,
        skus={(s.profile, s.sku_part_number): s.sku_id.lower() for s in sku_rows},
        part_names={s.sku_id.lower(): s.sku_part_number for s in sku_rows},
    )


def read_facts(store: Store, analysis_id: int) -> tuple[Analysis, pl.LazyFrame]:
    """The analysis row and its facts (the Parquet file analyze registered)."""
    with store.session() as session:
        analysis = session.get(Analysis, analysis_id)
    if analysis is None:
        raise ConfigError(f"There is no analysis {analysis_id} in the store; run analyze first.")
    path = store.data_dir / analysis.facts_path
    if not path.exists():
        raise ConfigError(f"The facts of analysis {analysis_id} are missing ({path}); run analyze"
                          " again.")
    return analysis, pl.scan_parquet(path)


def latest_analysis_id(store: Store) -> int | None:
    with store.session() as session:
        return session.exec(select(Analysis.id).order_by(col(Analysis.id).desc()).limit(1)).first()
