"""A daily re-analysis from the saved rollup gives exactly the facts of a full analysis."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from polars.testing import assert_frame_equal

from license_analyzer.pipeline.analyze import analyze, compute, load_facts
from license_analyzer.pipeline.rollup import ROLL_EVERY_DAYS, list_rollups
from license_analyzer.store.db import Store
from tests.factories import (
    AS_OF,
    SALES_ENV,
    add_activity,
    add_coverage,
    add_environment,
    add_profile,
    add_sku,
    add_systemuser,
    add_user,
    assign,
    days_before,
    make_config,
    utc,
)

NAMES = [f"user{i}" for i in range(12)]


def _day_rows(day: date) -> list[tuple[str, object, int]]:
    base = utc(day.year, day.month, day.day, 9)
    return [(add_user_id(name), base + timedelta(hours=i % 10), i + 1)
            for i, name in enumerate(NAMES) if (day.toordinal() + i) % (i + 2) == 0]


def add_user_id(name: str) -> str:
    from tests.factories import object_id

    return object_id(name)


def _tenant(store: Store) -> None:
    with store.session() as s:
        add_profile(s)
        sku = add_sku(s, "DYN365_ENTERPRISE_SALES").sku_id
        e3 = add_sku(s, "SPE_E3").sku_id
        add_environment(s, SALES_ENV)
        for i, name in enumerate(NAMES):
            uid = add_user(s, name, last_successful_sign_in_at=days_before(AS_OF, 200 + i)).id
            assign(s, uid, sku, since=utc(2025, 1, 1))
            assign(s, uid, e3, since=utc(2025, 1, 1))
            add_systemuser(s, SALES_ENV, uid)
        add_coverage(s, "dataverse_audit", AS_OF - timedelta(days=300), AS_OF + timedelta(1),
                     environment=SALES_ENV)
        add_coverage(s, "entra_signin", AS_OF - timedelta(days=300), AS_OF + timedelta(1))
        # 200 days of history, one file per week, like a collector catching up
        for start in range(200, 1, -7):
            first, last = AS_OF - timedelta(days=start), AS_OF - timedelta(days=start - 6)
            last = min(last, AS_OF - timedelta(days=2))
            rows = [r for d in range((last - first).days + 1)
                    for r in _day_rows(first + timedelta(days=d))]
            add_activity(s, store, "dataverse_audit", rows, environment=SALES_ENV,
                         window_start=first, window_end=last, coverage=False)
            add_activity(s, store, "entra_signin", [(u, t) for u, t, _ in rows],
                         window_start=first, window_end=last, coverage=False)


def _new_day(store: Store, day: date, *, restate_from: date | None = None) -> None:
    """The next daily collection: it re-reads the last 2 days (overlap) plus `day`."""
    first = restate_from or day - timedelta(days=2)
    rows = [r for d in range((day - first).days + 1) for r in _day_rows(first + timedelta(d))]
    rows.append((add_user_id("user0"), utc(day.year, day.month, day.day, 23, 59, 59), 1))
    with store.session() as s:
        add_activity(s, store, "dataverse_audit", rows, environment=SALES_ENV,
                     window_start=first, window_end=day, coverage=False)


def test_incremental_equals_full(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store)
    yesterday = AS_OF - timedelta(days=1)
    first = analyze(config, store, yesterday)
    assert not first.incremental
    assert [r.through for r in list_rollups(store)] == [yesterday - timedelta(days=3)]
    _new_day(store, AS_OF)
    daily = analyze(config, store, AS_OF)
    assert daily.incremental
    assert daily.activity_files_read < first.activity_files_read
    full = analyze(config, store, AS_OF, incremental=False)
    assert not full.incremental
    incremental_facts = load_facts(store, daily.analysis_id)
    assert incremental_facts.height == 24
    assert_frame_equal(incremental_facts, load_facts(store, full.analysis_id))


def test_restated_old_days_make_the_rollup_unusable(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store)
    analyze(config, store, AS_OF - timedelta(days=1))
    # a re-collection rewrites days the rollup already holds: it must not be trusted
    _new_day(store, AS_OF, restate_from=AS_OF - timedelta(days=30))
    again = analyze(config, store, AS_OF)
    assert not again.incremental
    full = analyze(config, store, AS_OF, incremental=False)
    assert_frame_equal(load_facts(store, again.analysis_id), load_facts(store, full.analysis_id))


def test_earlier_as_of_ignores_later_evidence(store: Store) -> None:
    _tenant(store)
    config = make_config(store=store)
    analyze(config, store, AS_OF - timedelta(days=1))
    earlier = AS_OF - timedelta(days=20)
    past = analyze(config, store, earlier)
    assert not past.incremental  # the rollup is newer than the day asked for
    facts = load_facts(store, past.analysis_id)
    assert facts["as_of"].unique().to_list() == [earlier]
    latest = facts["last_activity"].max()
    assert latest is not None and latest.date() <= earlier  # type: ignore[union-attr]


@pytest.mark.parametrize("days_back", [100, 150])
def test_an_old_rollup_gives_the_same_facts(store: Store, days_back: int) -> None:
    # a rollup many days (and 64-day mask blocks) behind: blocks it kept that fell out of the
    # window must be cleared before their mask slots hold newer blocks
    _tenant(store)
    config = make_config(store=store)
    analyze(config, store, AS_OF - timedelta(days=days_back))
    _new_day(store, AS_OF)
    daily = analyze(config, store, AS_OF)
    assert daily.incremental
    full = analyze(config, store, AS_OF, incremental=False)
    assert_frame_equal(load_facts(store, daily.analysis_id), load_facts(store, full.analysis_id))


def test_a_week_of_daily_analyses_rolls_up_once_and_matches_full(store: Store) -> None:
    """Days that save no rollup read the rows since the last one; the seventh day rolls the
    state up again. Every day's facts equal a full computation of that day (compute: it saves
    no rollup that would change what the next day starts from)."""
    _tenant(store)
    config = make_config(store=store)
    start = AS_OF - timedelta(days=9)
    analyze(config, store, start)
    rolled = []
    for offset in range(1, 10):
        day = start + timedelta(days=offset)
        _new_day(store, day)
        before = {r.through for r in list_rollups(store)}
        daily = analyze(config, store, day)
        assert daily.incremental
        assert daily.users_recomputed == 0  # the directory did not change
        rolled += sorted({r.through for r in list_rollups(store)} - before)
        full = compute(config, store, day, incremental=False)
        assert_frame_equal(load_facts(store, daily.analysis_id), full.facts)
    assert rolled == [start - timedelta(days=3 - ROLL_EVERY_DAYS)]


@pytest.mark.parametrize("fails", ["positions", "_commit"])
def test_a_failure_after_the_facts_are_written_leaves_the_previous_analysis(
        store: Store, monkeypatch: pytest.MonkeyPatch, fails: str) -> None:
    """The facts file is written while the positions are computed and the caches saved; when
    anything after that fails, the file is deleted and the last analysis stays the latest."""
    from license_analyzer.pipeline import analyze as analyze_module

    _tenant(store)
    config = make_config(store=store)
    before = analyze(config, store, AS_OF - timedelta(days=1))
    facts_dir = store.data_dir / analyze_module.FACTS_DIR
    files = sorted(facts_dir.iterdir())

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(analyze_module, fails, broken)
    with pytest.raises(RuntimeError, match="killed"):
        analyze(config, store, AS_OF)
    assert sorted(facts_dir.iterdir()) == files
    latest = analyze_module.latest_analysis(store)
    assert latest is not None and latest.id == before.analysis_id
    monkeypatch.undo()
    assert analyze(config, store, AS_OF).as_of == AS_OF
