"""`analyze`: facts, license position and history for one as-of day, in one transaction.

The facts go to a Parquet file under `<data dir>/facts/` registered by an `Analysis` row, and
PositionDaily / DepartmentPositionDaily are replaced for that day, all in one commit: a crash
leaves the previous analysis (and its file) as it was; an unregistered file is deleted.
"""

from __future__ import annotations

import concurrent.futures
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from sqlmodel import col, delete, select

from license_analyzer.catalog import load_families
from license_analyzer.config import Config
from license_analyzer.errors import ConfigError
from license_analyzer.pipeline import user_cache
from license_analyzer.pipeline.assignment_errors import assignment_errors
from license_analyzer.pipeline.evidence import evidence_classes
from license_analyzer.pipeline.facts import Inputs, build_facts, sku_table, user_activity
from license_analyzer.pipeline.position import department_positions, positions
from license_analyzer.pipeline.rollup import StatePlan, plan_state, prune_rollups, save_rollup
from license_analyzer.pipeline.tables import SCHEMAS, snapshot
from license_analyzer.store.activity import registered_files
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import (
    ActivityFile,
    Analysis,
    AssignmentErrorDaily,
    Coverage,
    DepartmentPositionDaily,
    Environment,
    PositionDaily,
    Profile,
    SkuState,
    Subscription,
)

log = logging.getLogger(__name__)

FACTS_DIR = "facts"
# read whole for every analysis; the per-user tables come through user_cache
SMALL_TABLES = (Profile, SkuState, Subscription, Environment, Coverage)
assert set(SMALL_TABLES) < set(SCHEMAS)


@dataclass
class AnalysisOutcome:
    analysis_id: int
    as_of: date
    facts_path: Path
    users: int
    assignments: int
    skus: int
    incremental: bool  # started from a saved rollup rather than every activity row
    rollup_saved: bool  # a new rollup was saved for the next analyses (about weekly)
    users_recomputed: int  # users whose license rows were derived anew (user_cache)
    activity_files_read: int
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Computed:
    facts: pl.DataFrame
    positions: pl.DataFrame
    departments: pl.DataFrame
    errors: pl.DataFrame  # AssignmentErrorDaily rows
    plan: StatePlan
    rollup: pl.DataFrame | None
    users: user_cache.UserFrames
    holders: int  # distinct (profile, user_id) among the facts
    timings: dict[str, float] = field(default_factory=dict)


def today_utc() -> date:
    return datetime.now(UTC).date()


def _profiles(config: Config, tables: dict[str, pl.LazyFrame]) -> list[str]:
    if config.profiles:
        return [p.name for p in config.profiles]
    return sorted(tables["Profile"].select("name").collect()["name"].to_list())


def _environments(tables: dict[str, pl.LazyFrame], files: list[ActivityFile]) -> pl.DataFrame:
    """Every Dataverse environment: known ones with their families, plus any that only appears
    in the registered activity `files` (counted for every customer-engagement family)."""
    known = (tables["Environment"].filter(pl.col("kind") == "dataverse")
             .select("profile", "url", "families").collect())
    seen = {(f.profile, f.environment) for f in files
            if f.source == "dataverse_audit" and f.environment}
    extra = sorted(seen - set(zip(known["profile"], known["url"], strict=True)))
    more = pl.DataFrame({"profile": [p for p, _ in extra], "url": [u for _, u in extra],
                         "families": [[] for _ in extra]}, schema=known.schema)
    return pl.concat([known, more]).with_columns(pl.col("families").fill_null([]))


def known_evidence_classes(tables: dict[str, pl.LazyFrame], files: list[ActivityFile],
                           profiles: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """evidence.evidence_classes of `profiles` over every Dataverse environment known."""
    return evidence_classes(load_families(), profiles, _environments(tables, files))


def compute(config: Config, store: Store, as_of: date, *, incremental: bool = True,
            on_facts: Callable[[pl.DataFrame], object] | None = None) -> Computed:
    """Facts, positions and department positions as of `as_of`; `on_facts` gets the facts as
    soon as they are collected (analyze starts writing them while the positions are computed).

    The per-user rows come from user_cache (only changed users re-read), then collects in a
    row, each over the smallest input that gives its result: the rollup to save (the bulk of
    the activity rows, streamed so memory stays flat), the per-user activity from that rollup
    plus the last days, the facts, and the positions from the collected facts. One collect_all
    of the lazy plans would aggregate the activity rows once per plan.
    """
    clock = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step], clock = now - clock, now

    with snapshot(store, lock_changes=True) as snap:
        tables = {model.__name__: snap.read(model).lazy() for model in SMALL_TABLES}
        users = user_cache.load(store, snap, as_of, incremental=incremental)
    lap("tables")
    files = registered_files(store)  # read once: the plan and the environments both need it
    plan = plan_state(store, files, as_of, incremental=incremental)
    rollup = plan.save.collect(engine="streaming") if plan.save is not None else None
    lap("rollup")
    state = plan.state_after(rollup) if rollup is not None else plan.state
    profiles = _profiles(config, tables)
    family_class, class_channel = known_evidence_classes(tables, files, profiles)
    inputs = Inputs(tables=tables, licenses=users.licenses.lazy(), signins=users.signins.lazy(),
                    state=state, family_class=family_class, class_channel=class_channel,
                    profiles=profiles)
    families = load_families()
    activity = user_activity(config, inputs, as_of).collect(engine="streaming")
    lap("activity")
    # in memory: the streaming engine took 3-4x as long over these joins of a few 100,000 rows
    facts = build_facts(config, inputs, families, as_of, activity.lazy()).collect(
        engine="in-memory")
    lap("facts")
    if on_facts is not None:
        on_facts(facts)
    # the facts hold every license of the analysed profiles, the license rows' few error rows
    # the rest: no second pass over the assignments
    failed = users.licenses.lazy().filter(pl.col("assignment_error").is_not_null())
    skus = sku_table(tables, pl.concat([facts.lazy().select("profile", "sku_id"),
                                        failed.select("profile", "sku_id")]), config.prices)
    errors = assignment_errors(failed, skus, inputs.profiles, as_of).collect()
    position, departments = pl.collect_all([
        positions(facts.lazy(), skus, tables["Subscription"], as_of, inputs.profiles,
                  errors.lazy()),
        department_positions(facts.lazy(), as_of)])
    lap("positions")
    return Computed(facts=facts, positions=position, departments=departments, errors=errors,
                    plan=plan, rollup=rollup, users=users, holders=_holders(facts),
                    timings=timings)


def _holders(facts: pl.DataFrame) -> int:
    """Distinct (profile, user_id) of facts sorted by them: where either changes from the row
    before (a hash of every key, as n_unique does, took ~40 ms at 260,000 rows)."""
    if facts.height == 0:
        return 0
    key = facts.select("profile", "user_id")
    starts = (key["user_id"] != key["user_id"].shift(1)) | (
        key["profile"] != key["profile"].shift(1))
    return int(starts.fill_null(True).sum())


def analyze(config: Config, store: Store, as_of: date | None = None, run_id: int | None = None,
            *, incremental: bool = True) -> AnalysisOutcome:
    """Compute and store the analysis as of `as_of` (default: today, UTC)."""
    as_of = as_of or config.analysis.as_of or today_utc()
    started = time.perf_counter()
    folder = store.data_dir / FACTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"facts-{as_of.isoformat()}-{uuid.uuid4().hex[:12]}.parquet"
    # The facts file is written beside the positions and the caches (Polars lets go of the GIL
    # while writing): the caches hold what the snapshot said, whether or not this analysis
    # commits.
    writes: list[concurrent.futures.Future[None]] = []
    with ThreadPoolExecutor(max_workers=1) as pool:

        def start_writing(facts: pl.DataFrame) -> None:
            writes.append(pool.submit(_write_facts, facts, path))

        try:
            computed = compute(config, store, as_of, incremental=incremental,
                               on_facts=start_writing)
            computed_at = time.perf_counter()
            _save_caches(store, computed)
            writes[0].result()
            saved_at = time.perf_counter()
            analysis_id = _commit(store, computed, as_of, run_id, path)
        except BaseException:
            for written in writes:
                written.cancel()
            concurrent.futures.wait(writes)
            path.unlink(missing_ok=True)
            raise
    committed_at = time.perf_counter()
    facts = computed.facts
    outcome = AnalysisOutcome(
        analysis_id=analysis_id, as_of=as_of, facts_path=path,
        users=computed.holders,
        assignments=facts.height, skus=computed.positions.height,
        incremental=computed.plan.base is not None,
        rollup_saved=computed.rollup is not None,
        users_recomputed=computed.users.recomputed_users,
        activity_files_read=computed.plan.files_read,
        timings={**computed.timings, "compute": computed_at - started,
                 "write_and_save": saved_at - computed_at, "commit": committed_at - saved_at,
                 "total": time.perf_counter() - started})
    log.info("analysis %d as of %s: %d licenses of %d users (%s, %.1fs)", analysis_id, as_of,
             outcome.assignments, outcome.users,
             "incremental" if outcome.incremental else "full", outcome.timings["total"])
    return outcome


def _write_facts(facts: pl.DataFrame, path: Path) -> None:
    # zstd level 1: as small as the default level here, and writes in about half the time
    # no column statistics: nothing filters this file by them, and they cost a sixth of the write
    facts.write_parquet(path, compression="zstd", compression_level=1, statistics=False)


def _save_caches(store: Store, computed: Computed) -> None:
    """The rollup and the per-user frames, for the next analysis to start from."""
    if computed.rollup is not None and computed.plan.save_through is not None:
        save_rollup(store, computed.rollup, computed.plan.save_through,
                    computed.plan.max_file_id)
        prune_rollups(store)
    user_cache.save(store, computed.users)


def _commit(store: Store, computed: Computed, as_of: date, run_id: int | None,
            path: Path) -> int:
    profiles = computed.facts["profile"].unique().to_list() + \
        computed.positions["profile"].unique().to_list()
    with store.session() as session:
        analysis = Analysis(run_id=run_id, as_of=as_of, created_at=utcnow(),
                            facts_path=str(path.relative_to(store.data_dir)),
                            users=computed.holders,
                            assignments=computed.facts.height)
        session.add(analysis)
        session.exec(delete(PositionDaily).where(
            col(PositionDaily.day) == as_of, col(PositionDaily.profile).in_(profiles)))
        session.exec(delete(DepartmentPositionDaily).where(
            col(DepartmentPositionDaily.day) == as_of,
            col(DepartmentPositionDaily.profile).in_(profiles)))
        session.exec(delete(AssignmentErrorDaily).where(
            col(AssignmentErrorDaily.day) == as_of,
            col(AssignmentErrorDaily.profile).in_(profiles)))
        session.add_all(PositionDaily(**row) for row in computed.positions.to_dicts())
        session.add_all(DepartmentPositionDaily(**row)
                        for row in computed.departments.to_dicts())
        session.add_all(AssignmentErrorDaily(**row) for row in computed.errors.to_dicts())
        session.flush()
        assert analysis.id is not None
        return analysis.id


def latest_analysis(store: Store, analysis_id: int | None = None) -> Analysis | None:
    with store.session() as session:
        query = select(Analysis)
        if analysis_id is not None:
            query = query.where(Analysis.id == analysis_id)
        else:
            query = query.order_by(col(Analysis.id).desc()).limit(1)
        return session.exec(query).first()


def load_facts(store: Store, analysis_id: int | None = None) -> pl.DataFrame:
    """The facts of an analysis (the latest when None); raises ConfigError if there is none."""
    analysis = latest_analysis(store, analysis_id)
    if analysis is None:
        which = f"analysis {analysis_id}" if analysis_id is not None else "analysis"
        raise ConfigError(f"There is no {which} in the store yet; run `license-analyzer"
                          " analyze` first.")
    return pl.read_parquet(store.data_dir / analysis.facts_path)
