"""Which evidence counts for which product, how far back it reaches, and who it can speak for.

Families whose counting channels are the same set share an evidence *class*, so activity is
aggregated once per (user, class) instead of once per (user, family): usually three classes
(customer engagement, ERP, Entra) however many families and SKUs a tenant holds.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from license_analyzer.catalog import Families
from license_analyzer.catalog.families import WORKLOAD_SOURCES
from license_analyzer.pipeline.activity_state import (
    MASKS,
    SLOTS,
    day_masks,
    end_of_day,
    window_bits,
)

DATAVERSE = "dataverse_audit"
SIGNIN_SOURCES = ("signin_crm", "signin_crm_noninteractive", "signin_erp",
                  "signin_erp_noninteractive", "entra_signin")
TENANT_SOURCES = (*SIGNIN_SOURCES, *WORKLOAD_SOURCES)
# The usage reports run a few days behind (their refresh date: about 48 hours, Copilot up to
# 72), so their evidence is stale only after a week without a new refresh date.
REPORT_STALE_DAYS = 7
# The first pull of the usage reports asks D180: the last activity it finds reaches 179 days
# before the first refresh date read, though active days count only from that date on (like
# Entra's last successful sign-in before it was first collected).
REPORT_REACH_DAYS = 179
# Graph keeps lastSuccessfulSignInDateTime from this day on (not backfilled), for as long as
# the user exists: once collected, the Entra source can speak back to it.
LAST_SUCCESS_KEPT_SINCE = date(2023, 12, 1)
# A source whose evidence stops more than this many days before the as-of day no longer speaks.
STALE_DAYS = 3
# Within one analysis, a user's activity, sign-in attempts and licenses are matched by a
# 128-bit number made of two independent 64-bit hashes of (profile, user id), not by the
# 36-character id strings: grouping and joining by one number took a third to a half of the
# time (bench/bench_analyze.py). Two users share it with odds of about n^2 / 2^129 for n users
# (1e-27 at a million). The hashes are Polars' own, stable only within one Polars version, so
# they are never stored.
USER_KEY = "_user"
# the user key with the evidence class's number XOR-ed into its low bits: one join key per
# (user, class), as unlikely to be shared
USER_CLASS_KEY = "_user_class"


def user_key(profile: str = "profile", user: str = "user_id") -> pl.Expr:
    # each half: the id's hash XOR the profile's (two column hashes took a third of the time
    # of one hash of the pair as a struct)
    high, low = ((pl.col(user).hash(seed) ^ pl.col(profile).hash(seed + 2)).cast(pl.UInt128)
                 for seed in (1, 2))
    return (high * pl.lit(1 << 64, pl.UInt128) + low).alias(USER_KEY)


def user_class_key() -> pl.Expr:
    """USER_CLASS_KEY of a frame with USER_KEY and class_id."""
    return pl.col(USER_KEY).xor(pl.col("class_id").cast(pl.UInt128)).alias(USER_CLASS_KEY)


def evidence_classes(families: Families, profiles: list[str], environments: pl.DataFrame
                     ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(family_class, class_channel) frames for every profile.

    `environments`: (profile, url, families) of every Dataverse environment known (configured,
    discovered, or seen in activity files).
    """
    family_rows: list[tuple[str, str, int]] = []
    channel_rows: list[tuple[str, int, str, str]] = []
    for profile in profiles:
        envs = environments.filter(pl.col("profile") == profile)
        channels: list[tuple[str, str, list[str]]] = [(s, "", []) for s in TENANT_SOURCES]
        channels += [(DATAVERSE, row["url"], list(row["families"] or []))
                     for row in envs.iter_rows(named=True)]
        classes: dict[frozenset[tuple[str, str]], int] = {}
        for key, family in families.families.items():
            counted = frozenset(
                (source, env) for source, env, env_families in channels
                if source in family.sources
                and (source != DATAVERSE or families.counts_environment(key, env_families)))
            if counted not in classes:
                classes[counted] = len(classes)  # a number: grouped and joined on
                channel_rows += [(profile, classes[counted], s, e) for s, e in sorted(counted)]
            family_rows.append((profile, key, classes[counted]))
    family_class = pl.DataFrame(family_rows, orient="row", schema={
        "profile": pl.String, "family": pl.String, "class_id": pl.UInt32})
    class_channel = pl.DataFrame(channel_rows, orient="row", schema={
        "profile": pl.String, "class_id": pl.UInt32, "source": pl.String,
        "environment": pl.String})
    return family_class, class_channel


def channel_coverage(coverage: pl.LazyFrame, profiles: pl.LazyFrame, envs: pl.LazyFrame,
                     as_of: date) -> pl.LazyFrame:
    """Per (profile, source, environment) that can speak as of `as_of`: the first full day of
    its current unbroken evidence (coverage_start), and the first day whose activity it can
    count (days_start: the same, except that Entra sign-in activity speaks of the last success
    since December 2023 but has counted days only since it was first collected).

    Spans are clipped to the end of the as-of day and merged when they touch; the current run is
    the latest, and it speaks only if it reaches within STALE_DAYS of the as-of day, the tenant
    has Entra ID P1 (sign-in sources) and the environment's user-access auditing is not off.
    The usage reports' workload sources need no P1, reach back further than they count, and
    go stale after REPORT_STALE_DAYS (their refresh date lags).
    """
    end = end_of_day(as_of)
    channel = ["profile", "source", "environment"]
    runs = (
        coverage.filter(pl.col("start") < end)
        .with_columns(pl.min_horizontal("end", end).alias("end"))
        .sort(*channel, "start")
        .with_columns(
            (pl.col("start") > pl.col("end").cum_max().shift(1).over(channel))
            .fill_null(True).cum_sum().over(channel).alias("run"))
        .group_by(*channel, "run").agg(pl.col("start").min(), pl.col("end").max())
        .sort(*channel, "run").group_by(channel).agg(pl.all().last())
        .filter(pl.col("end") >= end - pl.duration(days=pl.when(
            pl.col("source").is_in(list(WORKLOAD_SOURCES))).then(REPORT_STALE_DAYS)
            .otherwise(STALE_DAYS)))
    )
    first_full_day = (pl.col("start").dt.date()
                      + pl.when(pl.col("start") == pl.col("start").dt.truncate("1d"))
                      .then(pl.duration(days=0)).otherwise(pl.duration(days=1)))
    audit_off = (envs.filter((pl.col("audit_enabled") == False)  # noqa: E712
                             | (pl.col("user_access_audit_enabled") == False))  # noqa: E712
                 .select("profile", pl.col("url").alias("environment"),
                         pl.lit(DATAVERSE).alias("source")))
    # without Entra ID P1 no sign-in source can speak; Dataverse audits still can
    no_p1 = (profiles.filter(pl.col("has_p1") == False)  # noqa: E712
             .select(pl.col("name").alias("profile"))
             .join(pl.LazyFrame({"source": list(SIGNIN_SOURCES),
                                 "environment": [""] * len(SIGNIN_SOURCES)}),
                   how="cross"))
    return (
        runs.with_columns(first_full_day.alias("coverage_start"))
        .with_columns(
            pl.col("coverage_start").alias("days_start"),
            pl.when(pl.col("source") == "entra_signin")
            .then(pl.min_horizontal("coverage_start", pl.lit(LAST_SUCCESS_KEPT_SINCE)))
            .when(pl.col("source").is_in(list(WORKLOAD_SOURCES)))
            .then(pl.col("coverage_start") - pl.duration(days=REPORT_REACH_DAYS))
            .otherwise("coverage_start").alias("coverage_start"))
        .join(audit_off, on=channel, how="anti")
        .join(no_p1, on=channel, how="anti")
        .select(*channel, "coverage_start", "days_start")
    )


def tenant_coverage(channels: pl.LazyFrame, class_channel: pl.LazyFrame) -> pl.LazyFrame:
    """Per (profile, class_id, sign_in_activity_collected): the earliest coverage_start among
    the class's tenant-wide channels that can speak for such a user. No row: none can.

    Sign-in logs speak for every user of the tenant; Entra sign-in activity only for users whose
    signInActivity was collected. Nothing else about the user matters, so this is a handful of
    rows, joined to the licenses by that flag, not one row per user.
    """
    collected = pl.LazyFrame({"sign_in_activity_collected": [False, True]})
    return (
        channels.filter(pl.col("source") != DATAVERSE).join(collected, how="cross")
        .filter((pl.col("source") != "entra_signin") | pl.col("sign_in_activity_collected"))
        .join(class_channel, on=["profile", "source", "environment"])
        .group_by("profile", "class_id", "sign_in_activity_collected")
        .agg(pl.col("coverage_start").min().alias("_tenant_start"),
             pl.col("days_start").min().alias("_tenant_days_start")))


def dataverse_start(channels: pl.DataFrame, class_channel: pl.DataFrame) -> pl.Expr:
    """`_dataverse_start` of a license row (profile, class_id, dataverse_environments): the
    earliest coverage_start among the class's Dataverse environments where the user has a human
    systemuser (systemuserids differ per environment; the list holds the environments whose
    systemuser carries the user's Entra object id). Null: no environment can speak for them.

    An expression per speaking environment (a handful), not a join: exploding every user's
    environments and grouping them back per (user, class) took a quarter of a daily analysis's
    facts step at 200,000 users."""
    speaking = (channels.filter(pl.col("source") == DATAVERSE)
                .join(class_channel, on=["profile", "source", "environment"])
                .group_by("profile", "environment", "coverage_start", maintain_order=True)
                .agg(pl.col("class_id").unique().sort()))
    starts = [
        pl.when((pl.col("profile") == profile) & pl.col("class_id").is_in(classes)
                & pl.col("dataverse_environments").list.contains(environment))
        .then(pl.lit(start, pl.Date))
        for profile, environment, start, classes in speaking.iter_rows()]
    return (pl.min_horizontal(starts) if starts else pl.lit(None, pl.Date)).alias(
        "_dataverse_start")


def coverage_start() -> pl.Expr:
    """The earliest start of any channel that can speak for the user (null: none), given
    tenant_coverage's and dataverse_start's columns."""
    return pl.min_horizontal("_tenant_start", "_dataverse_start").alias("coverage_start")


def days_start() -> pl.Expr:
    """The first day from which the user's active days are counted (null: none): like
    coverage_start, without the reach of Graph's last successful sign-in before collection."""
    return pl.min_horizontal("_tenant_days_start", "_dataverse_start").alias("_days_start")


def success_snapshot_rows(users: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """Graph's lastSuccessfulSignInDateTime (up to the end of the as-of day) as state rows of the
    entra_signin channel: a successful sign-in is evidence even if no daily row recorded it."""
    day = pl.col("last_successful_sign_in_at").dt.date().cast(pl.Int32)
    return (
        users.filter(pl.col("last_successful_sign_in_at") < end_of_day(as_of))
        .select(
            "profile", pl.col("id").alias("user_id"), pl.lit("entra_signin").alias("source"),
            pl.lit("").alias("environment"),
            pl.col("last_successful_sign_in_at").alias("last_at"), *day_masks(day, as_of)))


def class_activity(state: pl.LazyFrame, class_channel: pl.DataFrame, as_of: date,
                   windows: dict[str, int]) -> pl.LazyFrame:
    """Per USER_CLASS_KEY: last_at, last_source and active days per window.

    A day active in two channels of the class counts once (masks are OR-ed per slot). One
    group_by with plain max / bitwise-or aggregations does it all, because it is the hot spot of
    a daily analysis (a row per channel of every user, keyed by USER_CLASS_KEY): a window's
    days are a popcount per mask slot afterwards, and the latest source rides in the low digits
    of a (last_at, source rank) number, so it is a max too (ties: the greatest source name).
    """
    sources = pl.Series("source", sorted(set(class_channel["source"].to_list())),
                        dtype=pl.String)
    radix = max(len(sources), 1)
    bits = {block % SLOTS: masks for block, masks in window_bits(as_of, windows).items()}
    # the source's rank (its index in `sources`) comes with the join (a handful of channel
    # rows), not per state row
    ranked = class_channel.join(
        sources.to_frame().with_row_index("_rank").with_columns(pl.col("_rank").cast(pl.Int64)),
        on="source")
    grouped = (
        # hashed before the join: fewer rows to hash, and no id strings carried through it
        state.select("profile", "source", "environment", user_key(), "last_at", *MASKS)
        .join(ranked.lazy(), on=["profile", "source", "environment"])
        .select(user_class_key(), "last_at", "_rank",
                (pl.col("last_at").cast(pl.Int64) * radix + pl.col("_rank")).alias("_latest"),
                *MASKS)
        .group_by(USER_CLASS_KEY)
        .agg(pl.col("last_at").max(), pl.col("_latest").max(),
             pl.col("_rank").max().alias("_any_rank"),
             *(pl.col(MASKS[slot]).bitwise_or() for slot in bits))
    )
    last_source = pl.lit(sources).gather(
        pl.when(pl.col("last_at").is_null()).then(pl.col("_any_rank"))  # all-null: any wins
        .otherwise(pl.col("_latest") % radix))
    counts = [
        pl.sum_horizontal(
            (pl.col(MASKS[slot]) & pl.lit(masks[name], pl.UInt64)).bitwise_count_ones()
            .cast(pl.Int64) for slot, masks in bits.items()).alias(name)
        for name in windows]
    return grouped.select(USER_CLASS_KEY, "last_at", last_source.alias("last_source"), *counts)
