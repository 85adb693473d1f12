"""How fresh each source is and everything that makes a number less than fully backed.

A figure with no data behind it must never look trustworthy: no Entra ID P1 (no sign-in
activity), Dataverse auditing off, a source that failed, coverage gaps, a stale position.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from license_analyzer.store.models import (
    Coverage,
    CoverageGap,
    Environment,
    Profile,
    Run,
    StreamState,
)

STALE_AFTER_DAYS = 2
_BAD_STATUSES = {"failed", "partial", "degraded"}


@dataclass(frozen=True)
class SourceFreshness:
    profile: str
    stream: str
    partition: str
    status: str
    updated_at: datetime
    age_days: int
    records: int
    message: str | None

    @property
    def stale(self) -> bool:
        return self.age_days > STALE_AFTER_DAYS


@dataclass(frozen=True)
class CoverageSpan:
    profile: str
    source: str
    environment: str
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Notice:
    severity: str  # "error" | "warning" | "info"
    text: str


@dataclass(frozen=True)
class Freshness:
    sources: list[SourceFreshness]
    coverage: list[CoverageSpan]
    gaps: list[CoverageGap]
    warnings: list[Notice]
    run: Run | None

    @property
    def degraded(self) -> bool:
        return any(w.severity in ("error", "warning") for w in self.warnings)


def _end_of(day: date) -> datetime:
    return datetime.combine(day, time.max, tzinfo=UTC)


def freshness(session: Session, as_of: date, run_id: int | None,
              position_day: date | None) -> Freshness:
    end = _end_of(as_of)
    warnings: list[Notice] = []
    if position_day is None:
        warnings.append(Notice("error", "No analysis is stored for this day or before it:"
                                " run `license-analyzer analyze` to compute the figures."))
    elif position_day < as_of:
        warnings.append(Notice("warning", f"The newest license position is from"
                                f" {position_day.isoformat()}, not {as_of.isoformat()}:"
                                " the figures below are as of that day."))

    for profile in session.exec(select(Profile).order_by(col(Profile.name))).all():
        if profile.has_p1 is False:
            warnings.append(Notice(
                "warning", f"Profile {profile.name} has no Microsoft Entra ID P1: Graph gives no"
                " sign-in activity, so products counted by sign-ins show as \"no data\"."))
        elif profile.has_p1 is None:
            warnings.append(Notice(
                "info", f"Profile {profile.name}: whether the tenant has Entra ID P1 is not"
                " known yet."))

    for env in session.exec(
        select(Environment).where(Environment.kind == "dataverse").order_by(col(Environment.url))
    ).all():
        if env.audit_enabled is False:
            warnings.append(Notice("error", f"Auditing is off in the Dataverse environment"
                                    f" {env.url}: no Dynamics activity is recorded there."))
        elif env.user_access_audit_enabled is False:
            warnings.append(Notice("error", f"\"Audit user access\" is off in the Dataverse"
                                    f" environment {env.url}: user access is not recorded."))

    states = session.exec(
        select(StreamState).order_by(col(StreamState.profile), col(StreamState.stream),
                                     col(StreamState.partition))
    ).all()
    sources = []
    for s in states:
        age = (as_of - s.updated_at.astimezone(UTC).date()).days
        item = SourceFreshness(s.profile, s.stream, s.partition, s.status, s.updated_at,
                               max(age, 0), s.records_total, s.message)
        sources.append(item)
        where = f"{s.profile}/{s.stream}" + (f" ({s.partition})" if s.partition else "")
        if s.status in _BAD_STATUSES:
            detail = f": {s.message}" if s.message else ""
            warnings.append(Notice("error" if s.status == "failed" else "warning",
                                    f"Source {where} is {s.status}{detail}."))
        elif item.stale:
            warnings.append(Notice("warning", f"Source {where} was last collected"
                                    f" {item.age_days} days before this report."))

    keys = (col(Coverage.profile), col(Coverage.source), col(Coverage.environment))
    coverage = [
        CoverageSpan(p, src, env, start, stop)
        for p, src, env, start, stop in session.connection().execute(
            sa_select(*keys, func.min(Coverage.start), func.max(Coverage.end))
            .where(col(Coverage.start) <= end)
            .group_by(*keys)
            .order_by(*keys)
        ).all()
    ]
    gaps = list(session.exec(
        select(CoverageGap).where(CoverageGap.start <= end)
        .order_by(col(CoverageGap.start).desc()).limit(50)
    ).all())
    if gaps:
        warnings.append(Notice("warning", f"{len(gaps)} coverage gap(s): periods some source"
                                " has no evidence for and can no longer get (listed below)."))

    run = _run(session, run_id)
    if run is not None and run.status in ("failed", "partial"):
        detail = f": {run.error}" if run.error else ""
        warnings.append(Notice("error" if run.status == "failed" else "warning",
                                f"Run #{run.id} ({run.command}) ended {run.status}{detail}."))
    return Freshness(sources, coverage, gaps, warnings, run)


def _run(session: Session, run_id: int | None) -> Run | None:
    if run_id is not None:
        return session.get(Run, run_id)
    return session.exec(
        select(Run).where(Run.status != "running").order_by(col(Run.id).desc()).limit(1)
    ).first()
