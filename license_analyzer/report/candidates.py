"""Reclamation candidates: the rows the page's table embeds, and the rows of the exports."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson
import polars as pl
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from license_analyzer.report.stages import call_or_none
from license_analyzer.store.db import Store
from license_analyzer.store.models import AppliedChange, Candidate, RuleResult

# The page embeds at most this many candidates (highest saving first), and no more than this
# much JSON, so it stays under 10 MB (plotly.js alone is about 4.8 MB) and fast at 200,000 users;
# the exports always hold every candidate.
TABLE_ROW_LIMIT = 10_000
TABLE_JSON_BUDGET = 3_500_000
EVIDENCE_CHARS = 240
OPEN_STATUSES = ("proposed", "approved")
REALISED_STATUSES = ("applied", "pending_confirmation", "confirmed")

# The columns of the embedded table, in the order of each row array.
TABLE_COLUMNS = (
    "id", "name", "upn", "department", "product", "rule", "action", "status",
    "last_activity", "days_inactive", "saving", "reason", "evidence", "blocked", "via",
)

# What the table reads from each candidate, in the order `candidate_table` unpacks it.
_TABLE_FIELDS = (
    "id", "display_name", "user_principal_name", "department", "product_name", "rule", "action",
    "target_sku_part_number", "status", "last_activity", "days_inactive", "monthly_saving",
    "reason", "evidence", "blocked_reason", "assigned_via",
)

EXPORT_COLUMNS = (
    "id", "profile", "user_id", "user_principal_name", "display_name", "department",
    "sku_id", "sku_part_number", "product_name", "rule", "reason", "action",
    "target_sku_part_number", "assigned_via", "blocked_reason", "last_activity",
    "last_activity_source", "days_inactive", "monthly_saving", "status", "version",
    "evidence_hash", "decision", "note",
)


@dataclass(frozen=True)
class CandidateTable:
    total: int
    columns: tuple[str, ...]
    rows: list[list[Any]]

    @property
    def truncated(self) -> bool:
        return self.total > len(self.rows)


@dataclass(frozen=True)
class RuleRow:
    rule: str
    description: str
    candidates: int
    open_candidates: int
    monthly_saving: float


@dataclass(frozen=True)
class CandidateSummary:
    total: int = 0
    open_count: int = 0
    open_saving: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)


def evidence_text(evidence: dict[str, Any] | None) -> str:
    if not evidence:
        return ""
    parts = []
    for key, value in evidence.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}: {shown}")
    text = "; ".join(parts)
    return text if len(text) <= EVIDENCE_CHARS else text[: EVIDENCE_CHARS - 1] + "…"


def candidate_table(session: Session, limit: int = TABLE_ROW_LIMIT,
                    budget: int = TABLE_JSON_BUDGET) -> CandidateTable:
    total = int(session.exec(select(func.count()).select_from(Candidate)).one() or 0)
    rows = session.connection().execute(
        sa_select(*(col(getattr(Candidate, name)) for name in _TABLE_FIELDS))
        .order_by(col(Candidate.monthly_saving).desc(), col(Candidate.id))
        .limit(limit)
    ).all()
    out: list[list[Any]] = []
    size = 0
    for (cid, name, upn, dept, product, rule, action, target, status, last, days, saving,
         reason, evidence, blocked, via) in rows:
        shown_action = f"{action} → {target}" if target else action
        row = [
            cid, name or upn, upn, dept or "", product, rule, shown_action, status,
            last.isoformat() if isinstance(last, date) else None, days,
            round(float(saving or 0), 2), reason, evidence_text(evidence), blocked or "", via,
        ]
        size += len(orjson.dumps(row))
        if size > budget:
            break
        out.append(row)
    return CandidateTable(total=total, columns=TABLE_COLUMNS, rows=out)


def candidate_summary(session: Session) -> CandidateSummary:
    rows = session.exec(
        select(Candidate.status, func.count(), func.sum(Candidate.monthly_saving))
        .group_by(Candidate.status)
    ).all()
    by_status = {str(status): int(n) for status, n, _ in rows}
    open_rows = [(int(n), float(s or 0)) for status, n, s in rows if status in OPEN_STATUSES]
    return CandidateSummary(
        total=sum(by_status.values()),
        open_count=sum(n for n, _ in open_rows),
        open_saving=sum(s for _, s in open_rows),
        by_status=by_status,
    )


def realised_saving(session: Session) -> float:
    value = session.exec(
        select(func.sum(AppliedChange.monthly_saving)).where(
            col(AppliedChange.status).in_(REALISED_STATUSES)
        )
    ).one()
    return float(value or 0)


def rule_rows(session: Session, analysis_id: int | None) -> list[RuleRow]:
    """Candidates and savings per rule: the stored rule results, completed from the candidates."""
    counted = session.exec(
        select(Candidate.rule, Candidate.status, func.count(), func.sum(Candidate.monthly_saving))
        .group_by(Candidate.rule, Candidate.status)
    ).all()
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for rule, status, n, saving in counted:
        entry = totals[str(rule)]
        entry[0] += int(n)
        if status in OPEN_STATUSES:
            entry[1] += int(n)
            entry[2] += float(saving or 0)
    stored: dict[str, RuleResult] = {}
    if analysis_id is not None:
        stored = {
            r.rule: r
            for r in session.exec(
                select(RuleResult).where(RuleResult.analysis_id == analysis_id)
            ).all()
        }
    out = []
    for rule in sorted(set(totals) | set(stored)):
        result = stored.get(rule)
        entry = totals.get(rule, [0, 0, 0.0])
        out.append(RuleRow(
            rule=rule,
            description=result.description if result else "",
            candidates=result.candidates if result else int(entry[0]),
            open_candidates=int(entry[1]),
            monthly_saving=result.monthly_saving if result else float(entry[2]),
        ))
    return sorted(out, key=lambda r: (-r.monthly_saving, r.rule))


def export_rows(store: Store) -> list[dict[str, Any]]:
    """Every candidate with empty `decision` and `note` columns for `candidates import`.

    The rules stage owns the export format; its rows are used when it provides them.
    """
    rows = call_or_none("license_analyzer.rules.exports", "candidate_export_rows", store)
    if rows is not None:
        return list(rows)
    return _export_rows_from_table(store)


def export_frame(store: Store) -> pl.DataFrame:
    """export_rows() as a frame (the rules stage's columnar export when it provides it)."""
    frame = call_or_none("license_analyzer.rules.exports", "candidate_export_frame", store)
    if isinstance(frame, pl.DataFrame):
        return frame
    rows = export_rows(store)
    return pl.DataFrame(rows, infer_schema_length=None) if rows else pl.DataFrame(
        schema=dict.fromkeys(EXPORT_COLUMNS, pl.String))


def _export_rows_from_table(store: Store) -> list[dict[str, Any]]:
    with store.session() as session:
        candidates = session.exec(
            select(Candidate).order_by(col(Candidate.monthly_saving).desc(), col(Candidate.id))
        ).all()
    return [
        {
            "id": c.id, "profile": c.profile, "user_id": c.user_id,
            "user_principal_name": c.user_principal_name, "display_name": c.display_name,
            "department": c.department, "sku_id": c.sku_id,
            "sku_part_number": c.sku_part_number, "product_name": c.product_name,
            "rule": c.rule, "reason": c.reason, "action": c.action,
            "target_sku_part_number": c.target_sku_part_number, "assigned_via": c.assigned_via,
            "blocked_reason": c.blocked_reason,
            "last_activity": c.last_activity.isoformat() if c.last_activity else None,
            "last_activity_source": c.last_activity_source, "days_inactive": c.days_inactive,
            "monthly_saving": c.monthly_saving, "status": c.status,
            "evidence_hash": c.evidence_hash, "decision": "", "note": "",
        }
        for c in candidates
    ]
