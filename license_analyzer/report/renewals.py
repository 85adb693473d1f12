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
# companySubscription.status is Enabled, Warning, Suspended, LockedOut or Deleted (there is no
# "expired"), and nextLifecycleDateTime is when it moves to the next state if not renewed; a
# trial (isTrial) is not renewed (https://learn.microsoft.com/graph/api/resources/companysubscription).
# Only active, paid subscriptions renew; the others are shown for what they are.
RENEWING = {"enabled", "warning"}
# what each status means for the seats (capabilityStatus values, in the order a subscription
# passes through them when not renewed: https://learn.microsoft.com/graph/api/resources/assignedplan)
ENDING = {
    "suspended": "suspended: no seat can be assigned; it moves on towards deletion that day "
                 "unless reactivated",
    "lockedout": "locked out: nobody can use it; the last state before deletion",
}
TRIAL = "trial: ends that day unless bought"


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


@dataclass(frozen=True)
class Ending:
    """A subscription inside the horizon that will not renew: a trial, Suspended, LockedOut."""

    profile: str
    subscription_id: str
    sku_part_number: str
    product_name: str
    on: date
    days_left: int
    status: str
    is_trial: bool
    seats: int
    meaning: str


def renews(sub: Subscription) -> bool:
    return not sub.is_trial and sub.status.strip().lower() in RENEWING


def _upcoming(session: Session, as_of: date) -> list[Subscription]:
    """Subscriptions with a next lifecycle day from the as-of day on, earliest first."""
    start = datetime.combine(as_of, time.min, tzinfo=UTC)
    return list(session.exec(
        select(Subscription)
        .where(col(Subscription.next_lifecycle_at).is_not(None))
        .where(col(Subscription.next_lifecycle_at) >= start)
        .order_by(col(Subscription.next_lifecycle_at), col(Subscription.id))).all())


def ending(session: Session, as_of: date, products: list[ProductPosition],
           window_days: int = RENEWAL_WINDOW_DAYS) -> list[Ending]:
    """Subscriptions whose next lifecycle day falls in the horizon and that will not renew."""
    horizon = as_of + timedelta(days=window_days)
    names = {(p.row.profile, p.row.sku_id.lower()): p.row for p in products}
    out: list[Ending] = []
    for sub in _upcoming(session, as_of):
        status = sub.status.strip().lower()
        if renews(sub) or sub.next_lifecycle_at is None or status == "deleted":
            continue
        on = sub.next_lifecycle_at.astimezone(UTC).date()
        if on > horizon:
            continue
        row = names.get((sub.profile, sub.sku_id.lower()))
        part = sub.sku_part_number or (row.sku_part_number if row else sub.sku_id)
        out.append(Ending(
            profile=sub.profile, subscription_id=sub.id, sku_part_number=part,
            product_name=row.product_name if row else part, on=on,
            days_left=(on - as_of).days, status=sub.status, is_trial=sub.is_trial,
            seats=sub.total_licenses,
            meaning=TRIAL if sub.is_trial else ENDING.get(status, sub.status)))
    return out


def renewals(session: Session, as_of: date, products: list[ProductPosition],
             window_days: int = RENEWAL_WINDOW_DAYS) -> list[Renewal]:
    """Paid, active (Enabled or Warning) subscriptions renewing inside the horizon, with the
    seats that can be cut at each."""
    subscriptions = _upcoming(session, as_of)
    by_sku = {(p.row.profile, p.row.sku_id.lower()): p for p in products}
    remaining = {key: max(p.row.reducible_at_renewal, 0) for key, p in by_sku.items()}
    horizon = as_of + timedelta(days=window_days)
    out: list[Renewal] = []
    for sub in subscriptions:
        if not renews(sub) or sub.next_lifecycle_at is None:
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

