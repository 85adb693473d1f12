"""License position per product, spend and waste by department, and their history, as of a day."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from license_analyzer.store.models import DepartmentPositionDaily, PositionDaily

# A product is shelfware when at least this share of the seats bought sit idle
# (unassigned, never used or inactive).
SHELFWARE_SHARE = 0.5
TREND_DAYS = 365


@dataclass(frozen=True)
class ProductPosition:
    row: PositionDaily

    @property
    def unused(self) -> int:
        return self.row.inactive + self.row.never_used

    @property
    def idle_seats(self) -> int:
        unassigned = max(self.row.purchased - self.row.assigned, 0)
        return unassigned + self.unused

    @property
    def over_assigned(self) -> bool:
        return self.row.over_assigned > 0 or (
            self.row.purchased > 0 and self.row.assigned > self.row.purchased
        )

    @property
    def shelfware(self) -> bool:
        if not self.row.waste_counts or self.row.purchased <= 0:
            return False
        return self.idle_seats / self.row.purchased >= SHELFWARE_SHARE


@dataclass(frozen=True)
class TrendPoint:
    day: date
    assigned: int
    active: int
    monthly_waste: float


def position_day(session: Session, as_of: date) -> date | None:
    """The newest day with a stored position on or before `as_of`."""
    return session.exec(
        select(func.max(PositionDaily.day)).where(PositionDaily.day <= as_of)
    ).one()


def positions(session: Session, day: date) -> list[ProductPosition]:
    rows = session.exec(select(PositionDaily).where(PositionDaily.day == day)).all()
    ordered = sorted(rows, key=lambda r: (-r.monthly_cost, r.product_name, r.profile))
    return [ProductPosition(r) for r in ordered]


def trends(session: Session, day: date) -> dict[str, list[TrendPoint]]:
    """Per product name (summed over profiles), one point per stored day up to `day`."""
    since = day - timedelta(days=TREND_DAYS)
    rows = session.connection().execute(
        sa_select(
            col(PositionDaily.product_name),
            col(PositionDaily.day),
            func.sum(PositionDaily.assigned),
            func.sum(PositionDaily.active),
            func.sum(PositionDaily.monthly_waste),
        )
        .where(col(PositionDaily.day) <= day, col(PositionDaily.day) >= since)
        .group_by(col(PositionDaily.product_name), col(PositionDaily.day))
        .order_by(col(PositionDaily.day))
    ).all()
    series: dict[str, list[TrendPoint]] = defaultdict(list)
    for name, d, assigned, active, waste in rows:
        series[name].append(TrendPoint(d, int(assigned or 0), int(active or 0), float(waste or 0)))
    return dict(series)


def departments(session: Session, day: date) -> list[DepartmentPositionDaily]:
    rows = session.exec(
        select(DepartmentPositionDaily).where(DepartmentPositionDaily.day == day)
    ).all()
    return sorted(rows, key=lambda r: (-r.monthly_waste, -r.monthly_cost, r.department))


def history_days(session: Session, day: date) -> int:
    return int(
        session.exec(
            select(func.count(func.distinct(PositionDaily.day))).where(
                col(PositionDaily.day) <= day
            )
        ).one()
        or 0
    )
