"""License assignment errors as of a day: who a licensing group (or an assignment) failed to
license, by error, with the groups' names (the analysis stores them in AssignmentErrorDaily)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from license_analyzer.store.models import AssignmentErrorDaily, DirectoryGroup

# what an administrator does about each error (Microsoft's resolutions:
# https://learn.microsoft.com/entra/identity/users/licensing-groups-resolve-problems)
FIXES = {
    "CountViolation": "not enough licenses: buy more, or free seats, then reprocess the group",
    "MutuallyExclusiveViolation": "a service plan conflicts with one the user already has",
    "DependencyViolation": "another product depends on a plan this removal would take away",
    "ProhibitedInUsageLocationViolation": "the product is not available in the user's usage "
                                          "location",
    "UniquenessViolation": "a duplicate proxy address blocks the assignment",
}


@dataclass(frozen=True)
class AssignmentError:
    row: AssignmentErrorDaily
    via: str  # the groups by name, or "direct"

    @property
    def fix(self) -> str:
        return "; ".join(FIXES.get(e.strip(), e.strip()) for e in self.row.error.split(","))


def assignment_errors(session: Session, day: date) -> list[AssignmentError]:
    rows = session.exec(select(AssignmentErrorDaily).where(AssignmentErrorDaily.day == day)
                        .order_by(col(AssignmentErrorDaily.error),
                                  col(AssignmentErrorDaily.product_name),
                                  col(AssignmentErrorDaily.user_principal_name))).all()
    names = {(g.profile, g.id): g.display_name or g.id
             for g in session.exec(select(DirectoryGroup)).all()} if rows else {}
    out = []
    for row in rows:
        paths = [p.removeprefix("group:") for p in row.assigned_via.split(",") if p]
        via = ", ".join(names.get((row.profile, p), p) if p != "direct" else "direct"
                        for p in paths)
        out.append(AssignmentError(row, via))
    return out
