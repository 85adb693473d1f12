"""Directory subscriptions renewing soon: what they cost, how used they are, what can be cut.

Savings become real only when seats are cut at a renewal. The pipeline knows per SKU how many
seats are reducible; they are given to that SKU's subscriptions in renewal order (the earliest
renewal can cut first), never more than a subscription holds. Until then the unassigned seats of
the SKU are a pool to reuse instead of buying more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from license_analyzer.report.position import ProductPosition
from license_analyzer.store.models import Subscription

RENEWAL_WINDOW_DAYS = 90
_CLOSED_STATUSES = {"deleted", "expired"}


@dataclass(frozen=True)
class Renewal:
    profile: str
    subscription_id: str
    sku_part_number: str
    product_name: str
    renews_on: date
    days_left: int
    status: str
    is_trial: bool
    seats: int
    purchased: int
    assigned: int
    active: int
    cut_seats: int
    reuse_pool: int
    unit_price_monthly: float | None

    @property
    def utilization(self) -> float | None:
        """Share of the SKU's purchased seats held by someone who is active."""
        return self.active / self.purchased if self.purchased > 0 else None

    @property
    def monthly_saving(self) -> float:
        return self.cut_seats * (self.unit_price_monthly or 0.0)


def renewals(session: Session, as_of: date, products: list[ProductPosition],
             window_days: int = RENEWAL_WINDOW_DAYS) -> list[Renewal]:
    start = datetime.combine(as_of, time.min, tzinfo=UTC)
    subscriptions = session.exec(
        select(Subscription)
        .where(col(Subscription.next_lifecycle_at).is_not(None))
        .where(col(Subscription.next_lifecycle_at) >= start)
        .order_by(col(Subscription.next_lifecycle_at), col(Subscription.id))
    ).all()
    by_sku = {(p.row.profile, p.row.sku_id.lower()): p for p in products}
    remaining = {key: max(p.row.reducible_at_renewal, 0) for key, p in by_sku.items()}
    horizon = as_of + timedelta(days=window_days)
    out: list[Renewal] = []
    for sub in subscriptions:
        if sub.status.lower() in _CLOSED_STATUSES or sub.next_lifecycle_at is None:
            continue
        key = (sub.profile, sub.sku_id.lower())
        renews_on = sub.next_lifecycle_at.astimezone(UTC).date()
        cut = min(remaining.get(key, 0), max(sub.total_licenses, 0))
        # seats promised to an earlier renewal are not offered again at a later one
        remaining[key] = remaining.get(key, 0) - cut
        if renews_on > horizon:
            continue
        position = by_sku.get(key)
        row = position.row if position else None
        out.append(
            Renewal(
                profile=sub.profile,
                subscription_id=sub.id,
                sku_part_number=sub.sku_part_number or (row.sku_part_number if row else sub.sku_id),
                product_name=row.product_name if row else (sub.sku_part_number or sub.sku_id),
                renews_on=renews_on,
                days_left=(renews_on - as_of).days,
                status=sub.status,
                is_trial=sub.is_trial,
                seats=sub.total_licenses,
                purchased=row.purchased if row else sub.total_licenses,
                assigned=row.assigned if row else 0,
                active=row.active if row else 0,
                cut_seats=cut,
                reuse_pool=max(row.purchased - row.assigned, 0) if row else 0,
                unit_price_monthly=row.unit_price_monthly if row else None,
            )
        )
    return out

