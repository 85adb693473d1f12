"""This run's proposals as one frame: every candidate column, computed in Polars.

What `_proposal` once built one Python dict at a time (seconds per 100,000 candidates), as
columns: the plan (`carry_out.plan_for`) runs once per distinct plan input (profile, rule,
SKU, price, paths, read-only evidence, ...; a few hundred at most), not once per row, and is
joined back; reasons and evidence are expressions (rules/columnar.py); the evidence is encoded
to JSON text here and the evidence hash is one sha256 per row of a JSON string Polars built,
byte for byte what `evidence.evidence_hash` hashes (tests/rules/test_proposals.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl
from polars._typing import PolarsDataType

from license_analyzer.config import Config
from license_analyzer.rules.carry_out import GroupInfo, plan_for
from license_analyzer.rules.columnar import evidence_expr, reason_expr
from license_analyzer.rules.evidence import reason_text
from license_analyzer.rules.inputs import TenantInputs
from license_analyzer.rules.loading import CompiledRule

# what plan_for reads from a row, beside the user (whose protection is a flag here)
_PLAN_INPUTS = ("profile", "rule", "sku_id", "sku_part_number", "unit_price_monthly",
                "via_direct", "via_groups", "_read_only", "strands_attach", "downgrade_target",
                "mail_only", "fo_excess", "fo_downgrade_target", "fo_target_price",
                "_protected_user", "_protected_member")
_PLAN_OUTPUTS: dict[str, PolarsDataType] = {
    "action": pl.String, "target_sku_part_number": pl.String, "target_sku_id": pl.String,
    "remove_groups": pl.List(pl.String), "remove_direct": pl.Boolean,
    "blocked_reason": pl.String, "monthly_saving": pl.Float64}
# the columns a Candidate row takes from a proposal
CANDIDATE_COLUMNS = (
    "profile", "user_id", "user_principal_name", "display_name", "search_key", "department",
    "sku_id", "sku_part_number", "product_name", "rule", "also_matching", "reason", "action",
    "target_sku_part_number", "assigned_via", "blocked_reason", "monthly_saving",
    "last_activity", "last_activity_source", "days_inactive", "evidence", "evidence_hash",
)


def _column(frame: pl.DataFrame, name: str, dtype: PolarsDataType) -> pl.Expr:
    return pl.col(name) if name in frame.schema else pl.lit(None, dtype=dtype)


def _protected(won: pl.DataFrame, inputs: TenantInputs, config: Config) -> pl.DataFrame:
    """`_protected_user` (the UPN or id is in [reclamation] protected_users) and
    `_protected_member` (a protected group the user is a member of, as collected)."""
    users = sorted({u.lower() for u in config.reclamation.protected_users})
    upn = pl.col("user_principal_name").cast(pl.String).fill_null("none").str.to_lowercase()
    won = won.with_columns(_protected_user=upn.is_in(users) | pl.col("user_id").is_in(users))
    wanted = sorted({g.strip().lower() for g in config.reclamation.protected_groups if g.strip()})
    members = (inputs.memberships.filter(
        pl.col("group_id").str.to_lowercase().is_in(wanted)
        | pl.col("group_name").str.to_lowercase().is_in(wanted))
        .with_columns(_protected_member=pl.when(pl.col("group_name").is_not_null()
                                                & (pl.col("group_name") != ""))
                      .then(pl.format("{} ({})", "group_name", "group_id"))
                      .otherwise(pl.col("group_id")))
        .group_by("profile", "user_id", maintain_order=True)
        .agg(pl.col("_protected_member").first()))
    return won.join(members, on=["profile", "user_id"], how="left", maintain_order="left")


def _plans(keys: pl.DataFrame, rules: Mapping[str, CompiledRule], config: Config,
           inputs: TenantInputs) -> pl.DataFrame:
    """plan_for once per distinct plan input."""
    groups: dict[str, dict[str, GroupInfo]] = {}
    for (profile, gid), group in inputs.groups.items():
        groups.setdefault(profile, {})[gid] = group
    skus: dict[str, dict[str, str]] = {}
    for (profile, part), sku_id in inputs.skus.items():
        skus.setdefault(profile, {})[part] = sku_id
    out: dict[str, list[Any]] = {name: [] for name in _PLAN_OUTPUTS}
    for key in keys.iter_rows(named=True):
        rule = rules[key["rule"]].rule
        row = {**key, "read_only": key["_read_only"], "user_id": "",
               "user_principal_name": ""}
        plan = plan_for(row, rule.action, rule.target, groups.get(key["profile"], {}),
                        skus.get(key["profile"], {}), inputs.part_names, config.prices,
                        config.reclamation, key["_protected_member"],
                        protected_user=key["_protected_user"])
        out["action"].append(plan.action)
        out["target_sku_part_number"].append(plan.target_sku_part_number)
        out["target_sku_id"].append(plan.target_sku_id)
        out["remove_groups"].append(plan.remove_groups)
        out["remove_direct"].append(plan.remove_direct)
        out["blocked_reason"].append(plan.blocked_reason)
        out["monthly_saving"].append(round(plan.monthly_saving, 2))
    return keys.hstack(pl.DataFrame(out, schema=_PLAN_OUTPUTS))


def _reasons(won: pl.DataFrame, rules: list[CompiledRule]) -> pl.Series:
    """rules/columnar.reason_expr where it can, reason_text per row where only it can."""
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    by_rule: dict[str, CompiledRule] = {}
    for compiled in rules:
        by_rule[compiled.id] = compiled
        expr = reason_expr(compiled.rule.reason, compiled.rule.description, won.schema)
        if expr is not None:
            reason = pl.when(pl.col("rule") == compiled.id).then(expr).otherwise(reason)
    reasons = won.select(reason.alias("reason")).to_series()
    missing = reasons.is_null()
    if not missing.any():
        return reasons
    values = reasons.to_list()
    for index in missing.arg_true().to_list():  # a template only reason_text formats
        row = won.row(index, named=True)
        rule = by_rule[row["rule"]].rule
        values[index] = reason_text(rule.reason, row, rule.description)
    return pl.Series("reason", values, dtype=pl.String)


def _json(*fields: pl.Expr) -> pl.Expr:
    return pl.struct(*fields).struct.json_encode()


def _sha16(texts: pl.Series) -> pl.Series:
    return pl.Series([hashlib.sha256(t.encode()).hexdigest()[:16] for t in texts.to_list()],
                     dtype=pl.String)


def proposal_frame(won: pl.DataFrame, rules: list[CompiledRule], config: Config,
                   inputs: TenantInputs, analysis_id: int, now: datetime,
                   run_id: int | None) -> pl.DataFrame:
    """One row per winning facts row: CANDIDATE_COLUMNS (evidence and also_matching as JSON
    text), the evidence without its analysis id (`_evidence_core`, what a change is judged
    on), `updated_at` and `last_run_id`."""
    by_id = {r.id: r for r in rules}
    won = won.with_columns(
        _read_only=_column(won, "read_only", pl.Boolean).eq(True).fill_null(False),
        **{name: _column(won, name, dtype) for name, dtype in (
            ("unit_price_monthly", pl.Float64), ("via_direct", pl.Boolean),
            ("via_groups", pl.List(pl.String)), ("strands_attach", pl.String),
            ("downgrade_target", pl.String), ("disabled_plans", pl.List(pl.String)),
            ("family", pl.String), ("assigned_via", pl.String),
            ("display_name", pl.String), ("department", pl.String),
            ("user_principal_name", pl.String), ("product_name", pl.String),
            ("also_matching", pl.List(pl.String)), ("last_activity_source", pl.String),
            ("days_since_activity", pl.Int64), ("mail_only", pl.Boolean),
            ("fo_excess", pl.String), ("fo_downgrade_target", pl.String),
            ("fo_target_price", pl.Float64), ("fo_driving_roles", pl.String),
            ("fo_required", pl.String))
           if name not in won.schema})
    won = _protected(won, inputs, config).with_columns(
        _plan_key=_json(*(pl.col(name) for name in _PLAN_INPUTS)))
    keys = won.select("_plan_key", *_PLAN_INPUTS).unique("_plan_key", maintain_order=True)
    plans = _plans(keys, by_id, config, inputs).select("_plan_key", *_PLAN_OUTPUTS)
    won = won.join(plans, on="_plan_key", how="left", maintain_order="left")
    reasons = _reasons(won, rules)
    upn = (pl.when(pl.col("user_principal_name").is_null()
                   | (pl.col("user_principal_name") == ""))
           .then(pl.col("user_id")).otherwise(pl.col("user_principal_name")))
    assigned_via = (pl.when(pl.col("assigned_via").is_null() | (pl.col("assigned_via") == ""))
                    .then(pl.when(pl.col("via_direct").fill_null(False)).then(pl.lit("direct"))
                          .otherwise(pl.lit("")))
                    .otherwise(pl.col("assigned_via")))
    part = pl.coalesce(pl.col("sku_part_number"), pl.col("sku_id"))
    last = pl.col("last_activity")
    frame = won.with_columns(reason=reasons, _evidence=evidence_expr(won.schema)).select(
        "profile", "user_id",
        upn.alias("user_principal_name"), "display_name",
        pl.concat_str([upn, pl.lit(" "), pl.col("display_name").fill_null("")])
        .str.to_lowercase().alias("search_key"),
        "department", "sku_id", part.alias("sku_part_number"),
        pl.coalesce(pl.col("product_name"), part).alias("product_name"),
        "rule", pl.col("also_matching").fill_null([]), "reason", "action",
        "target_sku_part_number", assigned_via.alias("assigned_via"), "blocked_reason",
        "monthly_saving",
        (last.dt.date() if isinstance(won.schema["last_activity"], pl.Datetime)
         else last.cast(pl.Date)).alias("last_activity"),
        "last_activity_source", pl.col("days_since_activity").alias("days_inactive"),
        "remove_direct", "remove_groups", "target_sku_id", "family",
        pl.col("disabled_plans").fill_null([]), "_evidence", "fo_excess", "fo_driving_roles",
        "fo_required",
    )
    field = pl.col("_evidence").struct.field
    extra = _json(pl.col("remove_direct"), pl.col("remove_groups"), pl.col("target_sku_id"),
                  pl.col("family"), pl.col("disabled_plans"))
    frame = frame.with_columns(
        # evidence_of drops last_activity_day when there is no last activity
        _evidence_core=pl.concat_str([
            pl.col("_evidence").struct.json_encode()
            .str.replace(',"last_activity_day":null}', "}", literal=True)
            .str.strip_suffix("}"),
            # an F&O compliance candidate shows the security roles that set the requirement
            pl.when(pl.col("fo_excess").is_not_null())
            .then(pl.concat_str([pl.lit(","), _json(pl.col("fo_driving_roles"),
                                                    pl.col("fo_required"))
                                 .str.strip_prefix("{").str.strip_suffix("}")]))
            .otherwise(pl.lit("")),
            pl.lit(","), extra.str.strip_prefix("{")]),
        _material=_json(field("account_enabled"), pl.col("action"), pl.col("assigned_via"),
                        field("covered_by"),
                        pl.coalesce(field("last_activity_day"), field("last_activity"))
                        .alias("last_activity"),
                        field("last_activity_source"), field("read_only"), pl.col("rule"),
                        pl.col("target_sku_part_number").alias("target")),
        also_matching=_json(pl.col("also_matching").alias("a")).str.slice(5)
        .str.strip_suffix("}"),
    )
    return frame.select(
        *(c for c in CANDIDATE_COLUMNS if c not in ("evidence", "evidence_hash")),
        evidence=pl.concat_str([pl.col("_evidence_core").str.strip_suffix("}"),
                                pl.lit(f',"analysis_id":{int(analysis_id)}}}')]),
        evidence_hash=_sha16(frame["_material"]),
        _evidence_core=pl.col("_evidence_core"),
        updated_at=pl.lit(now), last_run_id=pl.lit(run_id, dtype=pl.Int64),
    )
