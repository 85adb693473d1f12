"""Compare-and-set on a candidate's status: the one way every writer changes it.

A reviewer's decision, an import, propose's reopening or cancelling, apply and restore all say
which `version` of the candidate they read; their UPDATE matches only while the candidate is
still at that version, and bumps it. A writer that lost a race changes nothing and knows it, so
no decision is silently overwritten. On PostgreSQL the second UPDATE waits for the first one's
row lock and then sees its new version; on SQLite writers are serialized by the database lock.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, update
from sqlmodel import Session

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.rules.writes import table_of
from license_analyzer.store.models import AppliedChange, Candidate

IN_FLIGHT = "started"  # an AppliedChange whose Graph calls are being made right now


class DecisionConflict(LicenseAnalyzerError):
    """The candidate changed (or is being carried out) since it was read: nothing was written."""

    def __init__(self, message: str, ids: list[str]) -> None:
        super().__init__(message)
        self.ids = ids


def compare_and_set(session: Session, candidate_id: str, version: int, *,
                    not_in_flight: bool = False, evidence_hash: str | None = None,
                    **values: Any) -> bool:
    """Set `values` on the candidate if it is still at `version`; True when it was.

    `not_in_flight`: also only while no apply is carrying it out (a decision must not land
    between apply's claim and its Graph calls). `evidence_hash`: also only while the evidence
    is still this one (propose changes evidence without a new version when the status stays)."""
    table = table_of(Candidate)
    stmt = (update(table)
            .where(table.c.id == candidate_id, table.c.version == version)
            .values(version=table.c.version + 1, **values))
    if evidence_hash is not None:
        stmt = stmt.where(table.c.evidence_hash == evidence_hash)
    if not_in_flight:
        changes = table_of(AppliedChange)
        stmt = stmt.where(~exists().where(changes.c.candidate_id == table.c.id,
                                          changes.c.status == IN_FLIGHT))
    return int(session.execute(stmt).rowcount or 0) == 1  # type: ignore[attr-defined]
