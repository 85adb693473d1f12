"""The per-user cache: a daily analysis recomputes only the users the change log names, and its
facts equal a full analysis whatever changed in between, on every backend."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import text
from sqlmodel import col, delete, select, update

from license_analyzer.pipeline import user_cache
from license_analyzer.pipeline.analyze import AnalysisOutcome, analyze, load_facts
from license_analyzer.pipeline.tables import snapshot
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import (
    AssignmentOrigin,
    DataverseUser,
    DirectoryUser,
    LicenseAssignment,
    UserChange,
)
from tests.factories import (
    AS_OF,
    SALES_ENV,
    add_coverage,
    add_environment,
    add_fo_user,
    add_profile,
    add_sku,
    add_systemuser,
    add_user,
    assign,
    days_before,
    make_config,
    object_id,
    sku_id_for,
    utc,
)

NAMES = [f"user{i}" for i in range(8)]
FO_ENV = "https://contoso.operations.dynamics.com"
YESTERDAY = AS_OF - timedelta(days=1)


def _tenant(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sales = add_sku(s, "DYN365_ENTERPRISE_SALES").sku_id
        # judged by Entra sign-ins (family "other"); Microsoft 365 suites need usage reports
        e3 = add_sku(s, "POWER_BI_PRO").sku_id
        add_environment(s, SALES_ENV)
        add_environment(s, FO_ENV, kind="finance_operations")
        for i, name in enumerate(NAMES):
            uid = add_user(s, name, department="Sales",
                           last_successful_sign_in_at=days_before(AS_OF, 3 + 20 * i),
                           last_sign_in_at=days_before(AS_OF, 2 + 20 * i)).id
            assign(s, uid, e3, since=utc(2025, 1, 1))
            if i % 2 == 0:
                assign(s, uid, sales, since=utc(2025, 1, 1))
                add_systemuser(s, SALES_ENV, uid)
        add_coverage(s, "dataverse_audit", AS_OF - timedelta(days=300), AS_OF + timedelta(1),
                     environment=SALES_ENV)
        add_coverage(s, "entra_signin", AS_OF - timedelta(days=300), AS_OF + timedelta(1))
        s.commit()


def _uid(name: str) -> str:
    return object_id(name).lower()


def _daily_equals_full(store: Store, change: Callable[[Any], None]) -> AnalysisOutcome:
    """Analyze yesterday, apply `change`, analyze today from the cache and in full: the
    facts must be the same. Returns the daily outcome."""
    config = make_config(store=store)
    analyze(config, store, YESTERDAY)
    with store.session() as s:
        change(s)
        s.commit()
    daily = analyze(config, store, AS_OF)
    full = analyze(config, store, AS_OF, incremental=False)
    assert_frame_equal(load_facts(store, daily.analysis_id), load_facts(store, full.analysis_id))
    return daily


def _set(model: Any, where: Any, **values: Any) -> Callable[[Any], None]:
    return lambda s: s.exec(update(model).where(where).values(**values))


def _sales() -> str:
    return sku_id_for("DYN365_ENTERPRISE_SALES")


CHANGES: dict[str, tuple[Callable[[Any], None], int]] = {
    # change, users whose license rows are derived anew
    "a new license": (lambda s: assign(s, _uid("user1"), _sales(), since=utc(2026, 11, 1)), 1),
    "a license removed": (_set(LicenseAssignment, col(LicenseAssignment.user_id) ==
                               _uid("user2"), valid_to=utc(2026, 11, 20, 6)), 1),
    # an assignment in state Error holds no seat: the license leaves the facts (migration 0004
    # has the triggers watch state and error)
    "a license assignment fails": (_set(LicenseAssignment, col(LicenseAssignment.user_id) ==
                                        _uid("user2"), state="Error", error="CountViolation"),
                                   1),
    "an assignment date corrected": (_set(AssignmentOrigin, col(AssignmentOrigin.user_id) ==
                                          _uid("user3"), assigned_since=utc(2026, 11, 10),
                                          provenance="first_seen"), 1),
    "a department moved": (_set(DirectoryUser, col(DirectoryUser.id).in_(
        [_uid("user4"), _uid("user5")]), department="Finance"), 2),
    "a user disabled in Dataverse": (_set(DataverseUser, col(DataverseUser.entra_object_id) ==
                                          _uid("user0"), access_mode=2), 1),
    "a systemuser added": (lambda s: add_systemuser(s, SALES_ENV, _uid("user1")), 1),
    "an F&O user matched": (lambda s: add_fo_user(s, FO_ENV, "u7",
                                                  matched_user_id=_uid("user7")), 1),
    "a user gone from the directory": (lambda s: s.exec(delete(DirectoryUser).where(
        col(DirectoryUser.id) == _uid("user6"))), 1),
    # signInActivity has its own frame: no license rows are derived anew
    "a sign-in": (_set(DirectoryUser, col(DirectoryUser.id) == _uid("user7"),
                       last_successful_sign_in_at=utc(2026, 11, 21, 8),
                       last_sign_in_at=utc(2026, 11, 21, 8)), 0),
    "two sign-ins (the later counts)": (lambda s: [_set(
        DirectoryUser, col(DirectoryUser.id) == _uid("user6"), last_sign_in_at=at,
        last_successful_sign_in_at=at)(s) for at in (utc(2026, 11, 21, 8), utc(2026, 11, 20))],
        0),
    "sign-in activity no longer collected": (_set(
        DirectoryUser, col(DirectoryUser.id) == _uid("user0"), sign_in_activity_collected=False),
        0),
    "a user gone and back": (lambda s: [s.exec(delete(DirectoryUser).where(
        col(DirectoryUser.id) == _uid("user3"))), s.flush(), add_user(
            s, "user3", last_successful_sign_in_at=utc(2026, 11, 21, 1))], 1),
    "nothing the analysis reads": (_set(DirectoryUser, col(DirectoryUser.id) == _uid("user1"),
                                        last_seen_at=utcnow()), 0),
}


@pytest.mark.parametrize("what", list(CHANGES))
@pytest.mark.parametrize("named", [True, False], ids=["named", "via log subquery"])
def test_daily_analysis_recomputes_only_changed_users(store: Store, what: str, named: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The changed users' rows are read by their ids, or (many users) by the log itself."""
    if not named:
        monkeypatch.setattr(user_cache, "MAX_LISTED", 0)
    _tenant(store)
    change, recomputed = CHANGES[what]
    daily = _daily_equals_full(store, change)
    assert daily.users_recomputed == recomputed


def test_a_sign_in_changes_the_daily_facts(store: Store) -> None:
    _tenant(store)
    before = {r["user_id"]: r for r in _analyze_rows(store, YESTERDAY)}
    assert before[_uid("user7")]["bucket"] == "inactive"
    with store.session() as s:
        CHANGES["a sign-in"][0](s)
        s.commit()
    after = {r["user_id"]: r for r in _analyze_rows(store, AS_OF)}
    assert after[_uid("user7")]["bucket"] == "active"


def _analyze_rows(store: Store, day: Any) -> list[dict[str, Any]]:
    outcome = analyze(make_config(store=store), store, day)
    return load_facts(store, outcome.analysis_id).to_dicts()


def test_the_log_records_only_real_changes_and_is_pruned(store: Store) -> None:
    _tenant(store)
    with store.session() as s:
        assert len(s.exec(select(UserChange)).all()) > 0  # the tenant's own inserts
    analyze(make_config(store=store), store, YESTERDAY)
    with store.session() as s:
        assert s.exec(select(UserChange)).all() == []  # included in the cache: pruned
        CHANGES["nothing the analysis reads"][0](s)
        s.commit()
        assert s.exec(select(UserChange)).all() == []
        CHANGES["a sign-in"][0](s)
        CHANGES["a department moved"][0](s)
        s.commit()
        logged = {(c.user_id, c.part) for c in s.exec(select(UserChange)).all()}
    assert logged == {(_uid("user7"), "signin"), (_uid("user4"), "user"),
                      (_uid("user5"), "user")}


def test_an_unchanged_day_reuses_the_saved_frames(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store)
    analyze(config, store, YESTERDAY)
    files = json.loads((store.data_dir / "cache" / user_cache.MANIFEST).read_text())["files"]
    daily = analyze(config, store, AS_OF)
    assert daily.users_recomputed == 0
    manifest = json.loads((store.data_dir / "cache" / user_cache.MANIFEST).read_text())
    assert manifest["files"] == files and manifest["as_of"] == AS_OF.isoformat()
    assert sorted(p.name for p in (store.data_dir / "cache").iterdir()) == sorted(
        [user_cache.MANIFEST, *files.values()])


def test_a_license_starting_between_two_days_is_recomputed(store: Store) -> None:
    """An assignment seen before it is dated (an earlier --as-of day, then today) changes the
    license rows with no log entry: next_change says so."""
    _tenant(store)
    with store.session() as s:
        assign(s, _uid("user3"), _sales(), since=utc(2026, 11, 21, 9))
        s.commit()
    config = make_config(store=store)
    first = analyze(config, store, YESTERDAY)
    assert (_uid("user3"), _sales()) not in _licenses(store, first.analysis_id)
    daily = analyze(config, store, AS_OF)
    assert daily.users_recomputed == 1
    assert (_uid("user3"), _sales()) in _licenses(store, daily.analysis_id)
    full = analyze(config, store, AS_OF, incremental=False)
    assert_frame_equal(load_facts(store, daily.analysis_id), load_facts(store, full.analysis_id))


def _licenses(store: Store, analysis_id: int) -> set[tuple[str, str]]:
    facts = load_facts(store, analysis_id)
    return set(zip(facts["user_id"], facts["sku_id"], strict=True))


@pytest.mark.parametrize("damage", ["log pruned past the cache", "cache files lost",
                                    "manifest unreadable", "earlier as-of day"])
def test_a_cache_that_cannot_be_trusted_means_a_full_read(store: Store, damage: str) -> None:
    _tenant(store)
    config = make_config(store=store)
    analyze(config, store, YESTERDAY)
    cache = store.data_dir / "cache"
    day = AS_OF
    if damage == "log pruned past the cache":
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE user_change_pruned SET through = through + 1000"))
    elif damage == "cache files lost":
        files = json.loads((cache / user_cache.MANIFEST).read_text())["files"]
        (cache / files["licenses"]).unlink()
    elif damage == "manifest unreadable":
        (cache / user_cache.MANIFEST).write_text("{not json")
    else:
        day = YESTERDAY - timedelta(days=5)
    outcome = analyze(config, store, day)
    assert outcome.users_recomputed == len(NAMES)
    full = analyze(config, store, day, incremental=False)
    assert_frame_equal(load_facts(store, outcome.analysis_id),
                       load_facts(store, full.analysis_id))


@pytest.mark.parametrize("fresh_rows", [0, 1, 7, 300])
@pytest.mark.parametrize("max_slices", [0, 10_000])  # one merge / slice by slice
def test_fresh_license_rows_go_in_sorted(fresh_rows: int, max_slices: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows landing before, between (several in one place) and after the kept ones, in two
    profiles, come out exactly as a sort of both would put them."""
    monkeypatch.setattr(user_cache, "MAX_SLICES", max_slices)
    rng = random.Random(fresh_rows)
    rows = [{"profile": rng.choice(["a", "b"]), "user_id": f"u{rng.randrange(500):03}",
             "sku_id": rng.choice(["s1", "s2"]), "n": i} for i in range(1_000)]
    frame = pl.DataFrame(rows).unique(user_cache.LICENSE_KEY).sort(user_cache.LICENSE_KEY)
    picked = set(rng.sample(range(frame.height), fresh_rows) + ([0, frame.height - 1]
                                                              if fresh_rows else []))
    fresh = frame.with_row_index().filter(pl.col("index").is_in(sorted(picked))).drop("index")
    kept = frame.with_row_index().filter(~pl.col("index").is_in(sorted(picked))).drop("index")
    merged = user_cache._merge_sorted(kept, fresh, user_cache.LICENSE_KEY)
    assert_frame_equal(merged, frame)
    assert merged.n_chunks() == 1


def test_changed_users_are_read_by_profile_and_id(store: Store) -> None:
    """The same id in two profiles is two users: only the named one of each is read."""
    with store.session() as s:
        for profile in ("north", "south"):
            add_profile(s, profile, tenant_id=f"{profile}-tenant")
            for name in ("ann", "bob"):
                add_user(s, name, profile=profile, id=f"id-{name}")
        s.commit()
    listed = pl.DataFrame({"profile": ["north", "south"], "user_id": ["id-ann", "id-bob"]})
    with snapshot(store) as snap:
        read = snap.read(DirectoryUser, ["profile", "id"],
                         user_cache._where(DirectoryUser, "id", listed, None))
    assert sorted(read.rows()) == [("north", "id-ann"), ("south", "id-bob")]


def test_changed_users_are_found_through_an_index(sqlite_store: Store) -> None:
    """Every per-user table is searched for the named users, not scanned: a scan cost ~50 ms
    per table at 200,000 users, on every day with a single changed user."""
    listed = pl.DataFrame({"profile": ["contoso"] * 2, "user_id": ["id-ann", "id-bob"]})
    with sqlite_store.engine.connect() as conn:
        for name, (model, user_column, _) in user_cache.SOURCES.items():
            query = select(model).where(user_cache._where(model, user_column, listed, None))
            sql = str(query.compile(dialect=sqlite_store.engine.dialect,
                                    compile_kwargs={"literal_binds": True}))
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {sql}"))
            assert "SEARCH" in plan and "SCAN" not in plan, f"{name}: {plan}"
