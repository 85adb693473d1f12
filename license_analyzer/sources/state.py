"""Stream cursors, coverage spans and coverage gaps: the bookkeeping of incremental reads.

Everything here only adds to the caller's session; the caller commits it together with the
rows it describes, so a cursor never runs ahead of the data.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from license_analyzer.store.db import utcnow
from license_analyzer.store.models import Coverage, CoverageGap, StreamState


def load_state(session: Session, profile: str, stream: str, partition: str = "") -> StreamState:
    found = session.get(StreamState, (profile, stream, partition))
    return found or StreamState(profile=profile, stream=stream, partition=partition,
                                updated_at=utcnow())


def cursor_of(session: Session, profile: str, stream: str, partition: str = "") -> datetime | None:
    state = session.get(StreamState, (profile, stream, partition))
    if state is None or not state.cursor:
        return None
    return datetime.fromisoformat(state.cursor)


def save_state(session: Session, profile: str, stream: str, partition: str = "", *,
               cursor: datetime | None = None, status: str | None = None,
               message: str | None = None, records: int = 0,
               keep_message: bool = False) -> StreamState:
    """Set the cursor (never backwards), status and message; add to the session."""
    state = load_state(session, profile, stream, partition)
    if cursor is not None:
        current = datetime.fromisoformat(state.cursor) if state.cursor else None
        if current is None or cursor > current:
            state.cursor = cursor.isoformat()
    if status is not None:
        state.status = status
    if not keep_message:
        state.message = message
    state.records_total += records
    state.updated_at = utcnow()
    session.add(state)
    return state


def extend_coverage(session: Session, profile: str, source: str, environment: str,
                    start: datetime, end: datetime) -> None:
    """Add [start, end] to a source's coverage, merging spans that touch or overlap."""
    if end <= start:
        return
    rows = list(session.exec(select(Coverage).where(
        Coverage.profile == profile, Coverage.source == source,
        Coverage.environment == environment).order_by(col(Coverage.start))).all())
    lo, hi = start, end
    for row in rows:
        if row.start <= hi and row.end >= lo:  # overlapping or adjacent
            lo, hi = min(lo, row.start), max(hi, row.end)
            session.delete(row)
    session.add(Coverage(profile=profile, source=source, environment=environment,
                         start=lo, end=hi))


def record_gap(session: Session, profile: str, source: str, environment: str,
               start: datetime, end: datetime, reason: str) -> bool:
    """Record time that can no longer be collected; once per span."""
    if end <= start:
        return False
    exists = session.exec(select(CoverageGap).where(
        CoverageGap.profile == profile, CoverageGap.source == source,
        CoverageGap.environment == environment, CoverageGap.start == start,
        CoverageGap.end == end)).first()
    if exists is not None:
        return False
    session.add(CoverageGap(profile=profile, source=source, environment=environment,
                            start=start, end=end, reason=reason, recorded_at=utcnow()))
    return True
