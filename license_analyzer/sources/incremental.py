"""Where an incremental window stream starts, and the gap it records when it started too late.

The start is the cursor minus the overlap (late records), floored to a UTC midnight; a first
run reaches back to activity_since (default 180 days). Nothing older than the source still
keeps can be read: the start is clipped to the first whole day inside the retention, and time
between the old cursor and that day is recorded as a gap that can no longer be filled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from license_analyzer.sources.context import Context
from license_analyzer.sources.state import cursor_of, record_gap
from license_analyzer.sources.windows import DAY, day_start
from license_analyzer.store.models import Profile


@dataclass(frozen=True)
class Plan:
    start: datetime
    cursor: datetime | None
    gap: tuple[datetime, datetime] | None


def first_full_day(moment: datetime) -> datetime:
    floor = day_start(moment)
    return floor if floor == moment else floor + DAY


def plan_start(ctx: Context, session: Session, *, stream: str, partition: str,
               retention: timedelta | None) -> Plan:
    cursor = None if ctx.full else cursor_of(session, ctx.name, stream, partition)
    if cursor is not None:
        start = day_start(min(cursor, ctx.now) - ctx.overlap())
    else:
        profile = session.get(Profile, ctx.name)
        start = day_start(ctx.reach_start(profile.created_at if profile else None))
    gap = None
    if retention is not None:
        earliest = first_full_day(ctx.now - retention)
        if start < earliest:
            stored = cursor_of(session, ctx.name, stream, partition)
            if stored is not None and stored < earliest:
                gap = (stored, earliest)
            start = earliest
    return Plan(start=start, cursor=cursor, gap=gap)


def record_plan_gap(ctx: Context, session: Session, plan: Plan, *, source: str,
                    environment: str, keeps: str) -> None:
    if plan.gap is None:
        return
    lo, hi = plan.gap
    record_gap(session, ctx.name, source, environment, lo, hi,
               f"no collection between {lo:%Y-%m-%d %H:%M} and {hi:%Y-%m-%d %H:%M} UTC; {keeps}")
