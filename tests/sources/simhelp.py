"""Shared pieces of the collector tests: a simulator-backed config and store comparisons."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import text
from sqlmodel import SQLModel, select

from license_analyzer.config import Config, load_config
from license_analyzer.simulator import Simulator, SimulatorOptions, write_config_file
from license_analyzer.sources.collect import CollectOutcome, collect
from license_analyzer.store.activity import scan_activity
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    AssignmentOrigin,
    DataverseUser,
    DirectoryGroup,
    DirectoryUser,
    Environment,
    FinanceOperationsUser,
    GroupMember,
    LicenseAssignment,
    Profile,
    SkuSnapshot,
    SkuState,
    Subscription,
)
from tests.sources.fast import SCALE, TUNING, fast_clients

NOW = datetime(2026, 11, 21, 6, tzinfo=UTC)
ACTIVITY_SOURCES = ("dataverse_audit", "signin_crm", "signin_erp", "signin_crm_noninteractive",
                    "signin_erp_noninteractive")


def options(**overrides: Any) -> SimulatorOptions:
    # hour-long tokens at this time scale, so msal does not fetch one per call
    base: dict[str, Any] = {"users": 200, "seed": 7, "now": NOW, "time_scale": SCALE,
                            "dataverse_envs": 2, "fno_envs": 1, "token_lifetime_s": 360_000}
    base.update(overrides)
    return SimulatorOptions(**base)


def sim_config(sim: Simulator, folder: Path, extra: str = "") -> Config:
    path = folder / "license-analyzer.toml"
    write_config_file(sim.info, path)
    if extra:
        path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return load_config(path)


def run(config: Config, store: Store, sim: Simulator, **kw: Any) -> CollectOutcome:
    kw.setdefault("tuning", TUNING)
    kw.setdefault("clients", fast_clients(config))
    return collect(config, store, config.profiles, now=sim.tenant.now, progress=False, **kw)


def stored_days(store: Store, starts: dict[tuple[str, str], date] | None = None
                ) -> pl.DataFrame:
    rows = scan_activity(store).collect()
    if starts is not None:
        rows = (rows.join(_starts_frame(starts), on=["source", "environment"], how="inner")
                .filter(pl.col("day") >= pl.col("first_day")))
    return (rows
            .select("user_id", "source", "environment", "day", "events")
            .sort("source", "environment", "user_id", "day"))


def _starts_frame(starts: dict[tuple[str, str], date]) -> pl.DataFrame:
    return pl.DataFrame({"source": [k[0] for k in starts], "environment": [k[1] for k in starts],
                         "first_day": list(starts.values())},
                        schema={"source": pl.String, "environment": pl.String,
                                "first_day": pl.Date})


def truth_days(sim: Simulator, starts: dict[tuple[str, str], date]) -> pl.DataFrame:
    """Ground truth rows of each (source, environment) from the first day we collected."""
    rows = [r for r in sim.truth.activity_days()
            if (r[1], r[2].lower()) in starts and r[3] >= starts[(r[1], r[2].lower())]]
    return pl.DataFrame(
        {"user_id": [r[0].lower() for r in rows], "source": [r[1] for r in rows],
         "environment": [r[2].lower() for r in rows], "day": [r[3] for r in rows],
         "events": [r[4] for r in rows]},
        schema={"user_id": pl.String, "source": pl.String, "environment": pl.String,
                "day": pl.Date, "events": pl.Int64},
    ).sort("source", "environment", "user_id", "day")


def first_days(store: Store, sim: Simulator) -> dict[tuple[str, str], date]:
    """Per window source: the first day both we collected and the simulator still shows
    (sign-ins keep 30 days, audits their environment's retention). The usage reports' workload
    sources are checked against the simulator's workloads on their own
    (tests/pipeline/test_workloads_simulator.py)."""
    now = sim.tenant.now
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT source, environment, MIN(window_start) FROM activityfile "
            "WHERE source != 'entra_signin' AND source NOT LIKE 'm365%' "
            "GROUP BY source, environment")).all()
        retention: dict[str, int | None] = dict(conn.execute(text(
            "SELECT url, audit_retention_days FROM environment")).all())
    out = {}
    for source, env, first in rows:
        keep = 30 if source != "dataverse_audit" else retention.get(env)
        visible = (now - timedelta(days=keep)).date() + timedelta(days=1) if keep and keep > 0 \
            else date.min
        out[(source, env)] = max(date.fromisoformat(str(first)[:10]), visible)
    return out


TABLES: tuple[type[SQLModel], ...] = (
    Profile, SkuState, SkuSnapshot, Subscription, DirectoryUser, LicenseAssignment,
    AssignmentOrigin, DirectoryGroup, GroupMember, Environment, DataverseUser,
    FinanceOperationsUser)
# columns that record when we looked, not what we saw
VOLATILE = {"updated_at", "checked_at", "created_at", "recorded_at", "first_seen_at",
            "last_seen_at", "id", "valid_from"}


def _plain(value: Any) -> str:
    """One spelling per value whatever the backend returned."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


_PORT = re.compile(r"127\.0\.0\.1:\d+")


def content_hash(store: Store) -> dict[str, str]:
    """Per table: count and a hash of the rows' content, plus the activity rows."""
    out: dict[str, str] = {}
    with store.session() as session:
        for model in TABLES:
            rows = sorted(
                _PORT.sub("PORT", repr(sorted((k, _plain(v)) for k, v in row.model_dump().items()
                                              if k not in VOLATILE)))
                for row in session.exec(select(model)).all())
            name = model.__name__
            out[name] = f"{len(rows)}:{hashlib.sha256(''.join(rows).encode()).hexdigest()}"
    days = stored_days(store).with_columns(pl.col("environment").str.replace(_PORT.pattern,
                                                                             "PORT"))
    out["activity"] = f"{days.height}:{hashlib.sha256(days.write_csv().encode()).hexdigest()}"
    return out


@contextmanager
def analysed_tenant(folder: Path, extra: str = "\n[analysis]\nmin_history_days = 20\n"
                    ) -> Iterator[tuple[Simulator, Store, Config, int]]:
    """A 300-user simulated tenant collected into a SQLite store in `folder`, analysed as of
    NOW's day and proposed on: (simulator, store, config, analysis id). 20 days of history are
    enough to judge by default: the sign-in log reaches back 30."""
    from license_analyzer.pipeline.analyze import analyze
    from license_analyzer.rules.propose import propose
    from license_analyzer.store.db import open_store

    store = open_store(f"sqlite:///{folder / 'store.db'}", base=folder, data_dir=folder / "data")
    try:
        with Simulator(options(users=300)) as sim:
            config = sim_config(sim, folder, extra)
            outcome = run(config, store, sim)
            assert outcome.status == "ok", [(s.key, s.message) for s in outcome.streams]
            analysis = analyze(config, store, NOW.date())
            propose(config, store, analysis.analysis_id)
            yield sim, store, config, analysis.analysis_id
    finally:
        store.dispose()
