"""Facts: one row per (profile, user, SKU) held as of a day, with the evidence behind its bucket.

Bucket of each assigned license, first match wins (PRODUCT.md, Definitions):

1. active      - counting evidence within the product's inactive_days.
2. in_grace    - assigned less than grace_days ago (a new license gets time to be used).
3. no_data     - no source can speak for this product for this user (no Entra ID P1 for a
                 sign-in product, auditing off or no systemuser in any counting environment for a
                 Dynamics product), and Graph's sign-in attempts do not prove them idle.
4. in_grace    - insufficient history: the evidence covers fewer days than min_history_days and
                 the attempts do not prove them idle. Such a license is not judged yet and will
                 be once coverage grows, like a new one; `sufficient_history` is false on these
                 rows so a report can tell the two kinds of grace apart. It is never inactive,
                 and not no_data either: nothing needs fixing, only waiting.
5. never_used  - no counting evidence since the assignment (none at all, or only before it).
6. inactive    - used since the assignment, but not within inactive_days.

Graph's lastSignInDateTime / lastNonInteractiveSignInDateTime include failed attempts, so they
never make anyone active; but when the latest attempt to sign in to anything is older than the
threshold (or there never was one), the user is certainly idle, whatever the coverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from license_analyzer.catalog import Families, sku_products
from license_analyzer.config import Config
from license_analyzer.errors import ConfigError
from license_analyzer.pipeline.activity_state import KEEP_DAYS, end_of_day
from license_analyzer.pipeline.evidence import (
    DATAVERSE,
    LAST_SUCCESS_KEPT_SINCE,
    USER_CLASS_KEY,
    USER_KEY,
    channel_coverage,
    class_activity,
    coverage_start,
    dataverse_start,
    days_start,
    success_snapshot_rows,
    tenant_coverage,
    user_class_key,
    user_key,
)
from license_analyzer.pipeline.thresholds import min_history_column, threshold_columns
from license_analyzer.pipeline.workloads import WORKLOAD_COLUMNS, mail_only, workload_columns

FACT_COLUMNS = [
    "profile", "user_id", "user_principal_name", "display_name", "department", "company_name",
    "account_enabled", "user_type", "created_at", "sku_id", "sku_part_number", "product_name",
    "family", "applies_to", "is_free", "is_capacity", "is_attach", "assigned_since",
    "assigned_since_source", "assigned_via", "via_direct", "via_groups", "disabled_plans",
    "last_activity", "last_activity_source", "days_since_activity", "active_days_30",
    "active_days_60", "active_days_90", "coverage_start", "coverage_days", "sufficient_history",
    "last_attempt_at", "bucket", "low_usage", "read_only", "dataverse_environments",
    "fo_enabled", "unit_price_monthly", "as_of", *WORKLOAD_COLUMNS.values(), "mail_only",
]
# the facts columns license_rows gives, as they are; the rest are computed for the as-of day
LICENSE_COLUMNS = [
    "profile", "user_id", "user_principal_name", "display_name", "department", "company_name",
    "account_enabled", "user_type", "created_at", "sku_id", "assigned_since",
    "assigned_since_source", "assigned_via", "via_direct", "via_groups", "disabled_plans",
    "dataverse_environments",
]
SKU_COLUMNS = ["sku_part_number", "product_name", "family", "applies_to", "is_free",
               "is_capacity", "is_attach", "unit_price_monthly"]
# the DirectoryUser columns license_rows reads, and those of signInActivity read every day
USER_COLUMNS = ["user_principal_name", "display_name", "department", "company_name",
                "account_enabled", "user_type", "created_at"]
SIGNIN_COLUMNS = ["last_sign_in_at", "last_non_interactive_sign_in_at",
                  "last_successful_sign_in_at", "sign_in_activity_collected"]
WINDOWS = {"active_days_30": 30, "active_days_60": 60, "active_days_90": 90}
LOW_WINDOW = "active_days_low_window"
HUMAN = (pl.col("is_human") & ~pl.col("is_application_user")
         & pl.col("entra_object_id").is_not_null())



@dataclass
class Inputs:
    """What the facts are computed from: the small tables as LazyFrames (pipeline.tables), the
    per-license rows (license_rows), every user's signInActivity (profile, id, SIGNIN_COLUMNS)
    and the activity state."""

    tables: dict[str, pl.LazyFrame]
    licenses: pl.LazyFrame
    signins: pl.LazyFrame
    state: pl.LazyFrame
    family_class: pl.DataFrame  # evidence.evidence_classes over every known environment
    class_channel: pl.DataFrame
    profiles: list[str]


def _sku_key() -> pl.Expr:
    """(profile, sku_id) as one 64-bit hash, to join the license rows to their SKU's columns:
    a fifth of the time of the two strings. A tenant holds a few hundred SKUs at most, so two
    share it with odds below 1e-14."""
    return (pl.col("sku_id").hash(5) ^ pl.col("profile").hash(6)).alias("_sku")


def _days_between(later: date, earlier: pl.Expr) -> pl.Expr:
    return (pl.lit(later) - earlier).dt.total_days().cast(pl.Int64)


def assignments_as_of(tables: dict[str, pl.LazyFrame], as_of: date) -> pl.LazyFrame:
    """Per (profile, user_id, sku_id) held at the end of the as-of day: every path, the disabled
    plans (of the direct path, else the first group's) and the sticky assignment date.

    An assignment in state Error holds no seat (PRODUCT.md, "Held license"): a SKU reached only
    by such paths comes out as an assignment error (`assignment_error` names the errors, e.g.
    CountViolation; null on held licenses), with the groups that failed to license the user."""
    end = end_of_day(as_of)
    # Microsoft's lastUpdatedDateTime says since when an unchanged assignment has held, so an
    # interval first seen after the as-of day still counts for it when Graph dates it earlier.
    effective_from = pl.min_horizontal("valid_from", "graph_updated_at")
    current = tables["LicenseAssignment"].filter(
        (effective_from < end) & (pl.col("valid_to").is_null() | (pl.col("valid_to") >= end)))
    key = ["profile", "user_id", "sku_id"]
    failing = pl.col("state").str.strip_chars().str.to_lowercase().fill_null("") == "error"
    holding = current.filter(~failing)
    held = pl.concat([
        holding.with_columns(pl.lit(None, pl.String).alias("_error")),
        current.filter(failing).join(holding.select(key).unique(), on=key, how="anti")
        .with_columns(pl.col("error").fill_null("Error").alias("_error")),
    ])
    # Per-group filter / sort_by aggregations take a slow path per group (seconds for 260,000
    # licenses), so the paths are ranked with plain expressions and joined back instead: the
    # direct path sorts first ("" before any group id), then groups by id.
    rank = pl.when(pl.col("via") == "direct").then(pl.lit("")).otherwise(pl.col("via"))
    ranked = held.with_columns(rank.alias("_rank"))
    paths = ranked.group_by(key).agg(
        (pl.col("via") == "direct").any().alias("via_direct"),
        pl.col("_rank").min(),
        pl.col("graph_updated_at").min().alias("_graph_since"),
        pl.col("valid_from").min().alias("_seen_since"),
        pl.col("_error").drop_nulls().unique().sort().str.join(", ").alias("assignment_error"),
    ).with_columns(pl.col("assignment_error").replace("", None))
    groups = (ranked.filter(pl.col("via") != "direct").group_by(key)  # group licenses only
              .agg(pl.col("via").unique().sort().alias("via_groups")))
    # the first row of each path; unique(keep="first") with a list column in the frame takes a
    # slow path (0.15 s for 65,000 rows), a first-distinct mask over the key does not
    plans = (ranked.filter(pl.struct(*key, "_rank").is_first_distinct())
             .select(*key, "_rank", "disabled_plans"))
    paths = (paths.join(plans, on=[*key, "_rank"], how="left")
             .join(groups, on=key, how="left")
             .with_columns(pl.col("via_groups").fill_null(pl.lit([], pl.List(pl.String))))
             .drop("_rank"))
    fallback_from_graph = pl.col("_graph_since").is_not_null() & (
        pl.col("_graph_since") <= pl.col("_seen_since"))
    return (
        paths.join(tables["AssignmentOrigin"], on=["profile", "user_id", "sku_id"], how="left")
        .with_columns(
            pl.coalesce("assigned_since", pl.min_horizontal("_graph_since", "_seen_since"))
            .alias("assigned_since"),
            pl.coalesce("provenance", pl.when(fallback_from_graph)
                        .then(pl.lit("licenseAssignmentStates"))
                        .otherwise(pl.lit("first_seen"))).alias("assigned_since_source"),
            pl.concat_list(
                pl.when(pl.col("via_direct")).then(pl.lit(["direct"]))
                .otherwise(pl.lit([], pl.List(pl.String))),
                pl.col("via_groups").list.eval(pl.lit("group:") + pl.element()),
            ).list.join(",").alias("assigned_via"),
            pl.col("disabled_plans").fill_null(pl.lit([], pl.List(pl.String))),
        )
        .drop("_graph_since", "_seen_since", "provenance")
    )


def sku_table(tables: dict[str, pl.LazyFrame], held: pl.LazyFrame,
              prices: dict[str, float]) -> pl.LazyFrame:
    """Every SKU of a profile (subscribed or merely assigned) with its product view, flags and
    price. A SKU all of whose subscriptions are trials is free."""
    states = tables["SkuState"]
    keys = pl.concat([states.select("profile", "sku_id"),
                      held.select("profile", "sku_id")]).unique()
    trial_only = (tables["Subscription"].group_by("profile", "sku_id")
                  .agg(pl.col("is_trial").all().alias("_trial_only")))
    price_map = {k.upper(): float(v) for k, v in prices.items()}
    return (
        keys.join(states, on=["profile", "sku_id"], how="left")
        .pipe(sku_products)
        .join(trial_only, on=["profile", "sku_id"], how="left")
        .with_columns(
            (pl.col("is_free") | pl.col("_trial_only").fill_null(False)).alias("is_free"),
            pl.col("sku_part_number").str.to_uppercase()
            .replace_strict(price_map, default=None, return_dtype=pl.Float64)
            .alias("unit_price_monthly") if price_map
            else pl.lit(None, pl.Float64).alias("unit_price_monthly"))
        .drop("_trial_only")
    )


def license_rows(tables: dict[str, pl.LazyFrame], as_of: date
                 ) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(licenses, next_change): per license held at the end of the as-of day, its paths and
    dates and its holder's directory attributes and Dataverse / F&O presence; per user whose
    assignments change later, the first time at or after that end they do.

    A user's rows depend only on that user's rows of the tables it reads (every row of them
    belongs to one user: user_cache.SOURCES), and stay the same for any later as-of day before
    next_change: that is what lets a daily analysis recompute only the
    users the user_change log names (pipeline/user_cache.py).
    """
    end = end_of_day(as_of)
    key = ["profile", "user_id"]
    humans = tables["DataverseUser"].filter(HUMAN)
    dataverse = humans.group_by("profile", pl.col("entra_object_id").alias("user_id")).agg(
        pl.col("environment_url").unique().sort().alias("dataverse_environments"),
        (pl.col("access_mode") == 2).fill_null(False).all().alias("_read_only"))
    fo_users = (tables["FinanceOperationsUser"].filter(pl.col("matched_user_id").is_not_null())
                .group_by("profile", pl.col("matched_user_id").alias("user_id"))
                .agg(pl.col("enabled").any().alias("_fo_enabled")))
    directory = tables["DirectoryUser"].select("profile", pl.col("id").alias("user_id"),
                                               *USER_COLUMNS)
    licenses = (
        assignments_as_of(tables, as_of)
        .join(directory, on=key, how="left")
        .join(dataverse, on=key, how="left")
        .join(fo_users, on=key, how="left")
        .with_columns(pl.col("dataverse_environments").fill_null(pl.lit([], pl.List(pl.String))),
                      pl.col("_fo_enabled").fill_null(False)))
    rows = tables["LicenseAssignment"]
    changes = pl.concat([
        rows.select("profile", "user_id", pl.min_horizontal("valid_from", "graph_updated_at")
                    .alias("at")),
        rows.select("profile", "user_id", pl.col("valid_to").alias("at"))])
    next_change = (changes.group_by("profile", "user_id")
                   .agg(pl.col("at").filter(pl.col("at") >= end).min().alias("next_change"))
                   .drop_nulls("next_change"))
    return licenses, next_change


def attempts(signins: pl.LazyFrame, profiles: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Per user (USER_KEY): the latest sign-in attempt known at the end of the as-of day,
    whether attempts are known at all (collected, with Entra ID P1), and whether a successful
    sign-in is on record (`_succeeded`: Graph keeps lastSuccessfulSignInDateTime only since
    December 2023)."""
    end = end_of_day(as_of)
    tried = pl.col("last_sign_in_at"), pl.col("last_non_interactive_sign_in_at")
    after = pl.any_horizontal(*(a >= end for a in tried)).fill_null(False)
    p1 = profiles.select(pl.col("name").alias("profile"), "has_p1")
    return (
        signins.join(p1, on="profile", how="left")
        .select(
            user_key(user="id"), "sign_in_activity_collected",
            # the attempts known at the end of the as-of day; a later value hides the earlier
            (pl.col("sign_in_activity_collected") & (pl.col("has_p1") != False)  # noqa: E712
             .fill_null(True) & ~after).alias("_attempt_known"),
            pl.when(~after).then(pl.max_horizontal(*tried)).alias("last_attempt_at"),
            pl.col("last_successful_sign_in_at").is_not_null().alias("_succeeded"))
    )


# the last activity source of a license whose last sign-in attempt is all there is to go by
ATTEMPT_SOURCE = "entra_sign_in_attempt"


def _last_attempt_bounds(as_of: date) -> list[pl.Expr]:
    """last_at / last_source, where a last sign-in attempt stands in for missing evidence.

    Graph keeps lastSuccessfulSignInDateTime only since December 2023, so an attempt before
    then with no success on record since may itself have been a success: the user is idle
    since that attempt, not proven never to have used the license (PRODUCT.md, second
    version). It stands as the last activity when it is later than any evidence and old enough
    to prove idleness by itself (an attempt never makes anyone active)."""
    attempt = pl.col("last_attempt_at")
    unproven = (pl.col("_attempt_known").fill_null(False)
                & ~pl.col("_succeeded").fill_null(False)
                & (attempt.dt.date() < pl.lit(LAST_SUCCESS_KEPT_SINCE))
                & (pl.col("last_at").is_null() | (pl.col("last_at") < attempt))
                & (_days_between(as_of, attempt.dt.date()) >= pl.col("inactive_days")))
    return [pl.when(unproven).then(attempt).otherwise(pl.col("last_at")).alias("last_at"),
            pl.when(unproven).then(pl.lit(ATTEMPT_SOURCE)).otherwise(pl.col("last_source"))
            .alias("last_source")]


def _windows(config: Config) -> dict[str, int]:
    analysis = config.analysis
    if analysis.low_usage_window_days > KEEP_DAYS:
        raise ConfigError(f"[analysis] low_usage_window_days is {analysis.low_usage_window_days};"
                          f" it can be at most {KEEP_DAYS}, lower it.")
    return {**WINDOWS, LOW_WINDOW: analysis.low_usage_window_days}


def user_activity(config: Config, inputs: Inputs, as_of: date) -> pl.LazyFrame:
    """Per (user, evidence class): last activity and active days per window (see
    evidence.class_activity), the input build_facts joins to the licenses. Collected on its
    own with the streaming engine: it is a group_by over every state row, where that engine is
    twice as fast as the in-memory one; the joins after it are the other way round."""
    wanted = pl.col("profile").is_in(inputs.profiles)
    signins = inputs.signins.filter(wanted)
    state = pl.concat([inputs.state.filter(wanted), success_snapshot_rows(signins, as_of)])
    return class_activity(state, inputs.class_channel, as_of, _windows(config))


def build_facts(config: Config, inputs: Inputs, families: Families, as_of: date,
                activity: pl.LazyFrame) -> pl.LazyFrame:
    """The facts LazyFrame (FACT_COLUMNS) as of `as_of`, given user_activity's frame."""
    analysis = config.analysis
    windows = _windows(config)
    tables = inputs.tables
    wanted = pl.col("profile").is_in(inputs.profiles)
    family_class, class_channel = inputs.family_class, inputs.class_channel
    signins = inputs.signins.filter(wanted)
    channels = channel_coverage(tables["Coverage"], tables["Profile"], tables["Environment"],
                                as_of).collect()
    tenant = tenant_coverage(channels.lazy(), class_channel.lazy())
    held = inputs.licenses.filter(wanted & pl.col("assignment_error").is_null())
    skus = (sku_table(tables, held, config.prices)
            .join(family_class.lazy(), on=["profile", "family"], how="left")
            .select(_sku_key(), *SKU_COLUMNS, "class_id"))
    dynamics = [k for k, f in families.families.items() if DATAVERSE in f.sources]
    fo_envs = (tables["Environment"].filter(pl.col("kind") == "finance_operations")
               .select("profile").unique().with_columns(pl.lit(True).alias("_has_fo")))

    # The daily columns are computed on a narrow frame and set beside the license rows' own
    # columns at the end: every join copies its left side, and the license rows are wide (lists,
    # names). Joins keep the left order, so both halves stay aligned and sorted like `held`.
    left: dict[str, Any] = {"how": "left", "maintain_order": "left"}
    facts = (
        held.select("profile", user_key(), "sku_id", "assigned_since", "_read_only",
                    "_fo_enabled", "dataverse_environments")
        .with_columns(_sku_key()).join(skus, on="_sku", **left)
        .with_columns(dataverse_start(channels, class_channel), user_class_key())
        .drop("dataverse_environments")
        .join(attempts(signins, tables["Profile"], as_of), on=USER_KEY, **left)
        .join(fo_envs, on="profile", **left)
        .join(activity, on=USER_CLASS_KEY, **left)
        .join(tenant, on=["profile", "class_id", "sign_in_activity_collected"], **left)
        .join(workload_columns(inputs.state.filter(wanted)), on=USER_KEY, **left)
        .with_columns(coverage_start(), days_start(),
                      pl.when(pl.col("_has_fo").fill_null(False)).then(pl.col("_fo_enabled"))
                      .alias("fo_enabled"))
        .with_columns(*threshold_columns(analysis, families))
        .with_columns(min_history_column(analysis))
        .with_columns(*_last_attempt_bounds(as_of))
    )
    last_day = pl.col("last_at").dt.date()
    days_since = _days_between(as_of, last_day)
    coverage_days = (_days_between(as_of, pl.col("coverage_start")) + 1).fill_null(0)
    attempt_days = _days_between(as_of, pl.col("last_attempt_at").dt.date())
    proven_idle = pl.col("_attempt_known").fill_null(False) & (
        pl.col("last_attempt_at").is_null() | (attempt_days >= pl.col("inactive_days")))
    assigned_day = pl.col("assigned_since").dt.date()
    used_since_assigned = last_day.is_not_null() & (last_day >= assigned_day)
    bucket = (
        pl.when(last_day.is_not_null() & (days_since < pl.col("inactive_days")))
        .then(pl.lit("active"))
        .when(_days_between(as_of, assigned_day) < pl.col("grace_days")).then(pl.lit("in_grace"))
        .when(pl.col("coverage_start").is_null() & ~proven_idle).then(pl.lit("no_data"))
        .when(~pl.col("sufficient_history") & ~proven_idle).then(pl.lit("in_grace"))
        .when(~used_since_assigned).then(pl.lit("never_used"))
        .otherwise(pl.lit("inactive"))
    )
    daily = (
        facts.with_columns(
            pl.col("last_at").alias("last_activity"),
            pl.col("last_source").alias("last_activity_source"),
            days_since.alias("days_since_activity"),
            *(pl.col(w).fill_null(0) for w in windows),
            coverage_days.alias("coverage_days"),
        )
        .with_columns(
            (pl.col("coverage_days") >= pl.col("min_history_days")).alias("sufficient_history"))
        .with_columns(bucket.alias("bucket"))
        .with_columns(
            # a flag on active users, and only where their counted days span its window;
            # otherwise unknown (null), like inactivity on insufficient history
            pl.when(pl.col("bucket") != "active").then(pl.lit(False))
            .when(_days_between(as_of, pl.col("_days_start")) + 1 >= windows[LOW_WINDOW])
            .then(pl.col(LOW_WINDOW) < pl.col("low_usage_days"))
            .alias("low_usage"),
            pl.when(pl.col("family").is_in(dynamics)).then(pl.col("_read_only"))
            .alias("read_only"),
            pl.lit(as_of).alias("as_of"),
        )
        .with_columns(mail_only(families, as_of))
        .select(c for c in FACT_COLUMNS if c not in LICENSE_COLUMNS)
    )
    own = held.select(LICENSE_COLUMNS).with_columns(
        pl.col("user_principal_name").fill_null(pl.col("user_id")))
    return pl.concat([own, daily], how="horizontal").select(FACT_COLUMNS)
