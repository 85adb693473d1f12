"""Columns the rules need beyond the facts, each a pure LazyFrame -> LazyFrame step.

    threshold_key    the [analysis.products] key whose thresholds apply to the row ("*": none)
    in_grace_period  assigned less than grace_days ago
    excluded_reason  why [exclusions] keeps the row out of every proposal (null: not excluded)
    covered_by       skuPartNumber of another license the user holds whose use rights include
                     this one, with every capability this one provides still switched on there
    overlap_reason   why (the overlap table's wording)
    downgrade_target skuPartNumber a read-only user of this SKU can move to
    strands_attach   attach SKUs that would lose their qualifying base if this row went
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import polars as pl

from license_analyzer.config import AnalysisConfig, ExclusionsConfig
from license_analyzer.rules.tables import ATTACH_BASES

USER = ["profile", "user_id"]
ROW = ["profile", "user_id", "sku_id"]

DERIVED_SCHEMA: dict[str, pl.DataType] = {
    "threshold_key": pl.String(),
    "in_grace_period": pl.Boolean(),
    "excluded_reason": pl.String(),
    "covered_by": pl.String(),
    "overlap_reason": pl.String(),
    "downgrade_target": pl.String(),
    "strands_attach": pl.String(),
}


def add_threshold_key(lf: pl.LazyFrame, keys: Iterable[str]) -> pl.LazyFrame:
    """A skuPartNumber key beats a family key; rows in neither get "*"."""
    keys = list(keys)
    return lf.with_columns(
        threshold_key=pl.when(pl.col("sku_part_number").is_in(keys))
        .then(pl.col("sku_part_number"))
        .when(pl.col("family").is_in(keys))
        .then(pl.col("family"))
        .otherwise(pl.lit("*"))
    )


def add_grace(lf: pl.LazyFrame, analysis: AnalysisConfig) -> pl.LazyFrame:
    """Needs threshold_key. Grace counts whole UTC days from the assignment date to as_of."""
    grace: pl.Expr = pl.lit(analysis.grace_days)
    for key, thresholds in analysis.products.items():
        if thresholds.grace_days is not None:
            grace = pl.when(pl.col("threshold_key") == key).then(
                pl.lit(thresholds.grace_days)).otherwise(grace)
    assigned_day = pl.col("assigned_since").dt.date()
    days_held = (pl.col("as_of") - assigned_day).dt.total_days()
    return lf.with_columns(in_grace_period=(days_held < grace).fill_null(False))


def _glob(pattern: str) -> str:
    return "(?i)^" + ".*".join(".".join(re.escape(p) for p in part.split("?"))
                               for part in pattern.split("*")) + "$"


_SERVICE = r"(?i)^(svc|srv|service|sa|noreply|no-reply|system|app)[-_.]"
_BREAKGLASS = r"(?i)(break[-_.]?glass|emergency[-_.]?access)"


def add_exclusions(lf: pl.LazyFrame, exclusions: ExclusionsConfig,
                   memberships: pl.LazyFrame) -> pl.LazyFrame:
    """`memberships`: (profile, user_id, group_id, group_name), one row per group a user is in."""
    users = [u.lower() for u in exclusions.users]
    upn = pl.col("user_principal_name").str.to_lowercase()
    reasons: list[pl.Expr] = [
        pl.when(upn.is_in(users) | pl.col("user_id").is_in(users))
        .then(pl.lit("excluded user ([exclusions] users)")),
    ]
    reasons += [pl.when(upn.str.contains(_glob(p))).then(pl.lit(f"UPN matches {p!r}"))
                for p in exclusions.upn_patterns]
    departments = [d.lower() for d in exclusions.departments]
    reasons.append(pl.when(pl.col("department").str.to_lowercase().is_in(departments))
                   .then(pl.format("excluded department {}", pl.col("department"))))
    kinds = set(exclusions.account_types)
    text = pl.concat_str([pl.col("user_principal_name"), pl.col("display_name").fill_null("")],
                         separator=" ")
    if "guest" in kinds:
        reasons.append(pl.when(pl.col("user_type").str.to_lowercase() == "guest")
                       .then(pl.lit("guest account")))
    if "disabled" in kinds:
        reasons.append(pl.when(~pl.col("account_enabled")).then(pl.lit("disabled account")))
    if "service" in kinds:
        reasons.append(pl.when(upn.str.contains(_SERVICE)).then(pl.lit("service account")))
    if "breakglass" in kinds:
        reasons.append(pl.when(text.str.contains(_BREAKGLASS))
                       .then(pl.lit("break-glass account")))
    groups = {g.lower() for g in exclusions.groups}
    if groups:
        member_of = (
            memberships.filter(pl.col("group_id").str.to_lowercase().is_in(list(groups))
                               | pl.col("group_name").str.to_lowercase().is_in(list(groups)))
            .group_by(USER)
            .agg(_excluded_group=pl.col("group_name").fill_null(pl.col("group_id")).min())
        )
        lf = lf.join(member_of, on=USER, how="left")
        reasons.insert(1, pl.when(pl.col("_excluded_group").is_not_null())
                       .then(pl.format("member of excluded group {}", pl.col("_excluded_group"))))
    lf = lf.with_columns(excluded_reason=pl.coalesce(reasons))
    return lf.drop("_excluded_group", strict=False)


# Capabilities a removal must not take away. The mailbox must be on in the covering license;
# the others only matter when the covering license has them and switched them off.
_MAILBOX = pl.col("plan_name").str.starts_with("EXCHANGE_S_") & (
    pl.col("plan_name") != "EXCHANGE_S_FOUNDATION")
_SWITCHABLE: dict[str, pl.Expr] = {
    "sharepoint": pl.col("plan_name").str.starts_with("SHAREPOINTENTERPRISE")
    | pl.col("plan_name").str.starts_with("SHAREPOINTSTANDARD"),
    "teams": pl.col("plan_name") == "TEAMS1",
    "office_apps": pl.col("plan_name") == "OFFICESUBSCRIPTION",
    "phone": pl.col("plan_name") == "MCOEV",
}


def _capabilities(rows: pl.LazyFrame, plans: pl.LazyFrame) -> pl.LazyFrame:
    """Per (profile, user, sku): which capabilities the assignment has and has switched on."""
    enabled = ~(pl.col("disabled_plans").list.contains(pl.col("plan_id"))
                | pl.col("disabled_plans").list.contains(pl.col("plan_name")))
    aggs = [(_MAILBOX & enabled).any().alias("mailbox_on")]
    for name, is_cap in _SWITCHABLE.items():
        aggs += [(is_cap & enabled).any().alias(f"{name}_on"), is_cap.any().alias(f"{name}_has")]
    return (rows.select(*ROW, "disabled_plans")
            .join(plans, on=["profile", "sku_id"], how="inner")
            .group_by(ROW).agg(aggs))


def add_overlap(lf: pl.LazyFrame, pairs: pl.DataFrame, plans: pl.LazyFrame) -> pl.LazyFrame:
    """`plans`: (profile, sku_id, plan_id, plan_name) of every SKU the tenant has.

    A pair counts only when both SKUs' plans are known, the user shows none of the pair's
    veto sources, and no capability of the covered assignment is off in the covering one.
    """
    held = lf.select(*ROW, "sku_part_number", "disabled_plans", "last_activity_source",
                     "fo_enabled")
    # the (user, covered, covering) triples users really hold: few, so plans are read only
    # for those rows rather than for every license in the tenant
    triples = (
        held.select(*ROW, covered=pl.col("sku_part_number"))
        .join(pairs.lazy(), on="covered")
        .join(held.select(*USER, covering=pl.col("sku_part_number"),
                          covering_sku_id=pl.col("sku_id")), on=[*USER, "covering"])
    )
    involved = pl.concat([triples.select(*ROW),
                          triples.select(*USER, sku_id=pl.col("covering_sku_id"))]).unique()
    caps = _capabilities(held.join(involved, on=ROW, how="semi"), plans)
    user_sources = (
        held.join(triples.select(USER).unique(), on=USER, how="semi")
        .group_by(USER)
        .agg(_seen=pl.col("last_activity_source").drop_nulls().unique(),
             _fo=pl.col("fo_enabled").fill_null(False).any())
        .select(*USER, _sources=pl.when(pl.col("_fo"))
                .then(pl.col("_seen").list.concat(pl.lit(["signin_erp"])))
                .otherwise(pl.col("_seen")))
    )
    covered = triples.join(caps, on=ROW)
    covering = caps.rename({"sku_id": "covering_sku_id"})
    checks = [~(pl.col("mailbox_on") & ~pl.col("mailbox_on_c"))]
    checks += [~(pl.col(f"{n}_on") & pl.col(f"{n}_has_c") & ~pl.col(f"{n}_on_c"))
               for n in _SWITCHABLE]
    found = (
        covered.join(covering, on=[*USER, "covering_sku_id"], suffix="_c")
        .join(user_sources, on=USER, how="left")
        .filter(pl.all_horizontal(checks))
        .filter(pl.col("unless_sources").list.set_intersection(pl.col("_sources"))
                .list.len().fill_null(0) == 0)
        .sort("covering")
        .group_by(ROW)
        .agg(covered_by=pl.col("covering").first(), overlap_reason=pl.col("overlap_reason").first())
    )
    return lf.join(found, on=ROW, how="left")


def add_downgrade(lf: pl.LazyFrame, targets: Mapping[str, str]) -> pl.LazyFrame:
    return lf.with_columns(
        downgrade_target=pl.col("sku_part_number").replace_strict(
            dict(targets), default=None, return_dtype=pl.String)
    )


def add_attach(lf: pl.LazyFrame) -> pl.LazyFrame:
    """A base is stranding when it is the user's only qualifying base and they hold an attach."""
    is_base = pl.col("sku_part_number").is_in(list(ATTACH_BASES)) & ~pl.col("is_attach")
    attach_names = (pl.when(pl.col("is_attach")).then(pl.col("sku_part_number"))
                    .drop_nulls().unique().sort().str.join(",").over(USER))
    bases = is_base.cast(pl.Int32).sum().over(USER)
    return lf.with_columns(
        strands_attach=pl.when(is_base & (bases == 1) & (attach_names != ""))
        .then(attach_names)
    )


def assigned_days_ago(lf: pl.LazyFrame) -> pl.LazyFrame:
    """Days the license has been held as of the analysis day (for the evidence)."""
    return lf.with_columns(
        days_assigned=(pl.col("as_of") - pl.col("assigned_since").dt.date()).dt.total_days())

