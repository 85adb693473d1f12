"""Graph users: directory rows, license assignments as validity intervals, the sticky
assignment date, and an `entra_signin` activity row per user for the day of their last
successful sign-in (recorded every run, so the history grows run after run).

One complete listing per run, committed in one transaction with the stream's state. Users
missing from a complete listing are marked deleted; a listing cut short (throttled too long)
still stores what it read but closes nothing it did not see.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import bindparam, insert, update
from sqlalchemy import select as core_select
from sqlmodel import Session, col, delete, select

from license_analyzer.errors import AuthError
from license_analyzer.sources.context import Context, Degraded, Ticker
from license_analyzer.sources.http.errors import MissingPermission, NoPremiumLicense
from license_analyzer.sources.http.retry import ThrottledTooLong
from license_analyzer.sources.pacing import TokenBucket
from license_analyzer.sources.paginate import Record, pages
from license_analyzer.sources.state import extend_coverage, save_state
from license_analyzer.sources.streams import USERS, USERS_WITHOUT_SIGNIN
from license_analyzer.sources.upsert import table_of, upsert
from license_analyzer.sources.values import flag, guid, moment, text
from license_analyzer.sources.windows import day_start
from license_analyzer.store.activity import ACTIVITY_SCHEMA, scan_activity, write_activity
from license_analyzer.store.models import (
    AssignmentOrigin,
    Coverage,
    DirectoryUser,
    LicenseAssignment,
    Profile,
)

log = logging.getLogger(__name__)

DIRECT = "direct"
ENTRA_SIGNIN = "entra_signin"
# a listing this soon after the last one continues its coverage (a daily schedule that slips)
LISTINGS_CONTINUE = timedelta(days=2)


@dataclass(frozen=True)
class Held:
    """One path by which a user holds a SKU, as read now."""

    user_id: str
    sku_id: str
    via: str
    disabled_plans: tuple[str, ...]
    state: str | None
    error: str | None
    updated_at: datetime | None

    @property
    def holds_seat(self) -> bool:
        """State Error: Entra could not assign it (CountViolation ...), so it holds nothing
        (https://learn.microsoft.com/graph/api/resources/licenseassignmentstate)."""
        return (self.state or "").lower() != "error"


@dataclass
class Listing:
    users: list[dict[str, Any]] = field(default_factory=list)
    held: list[Held] = field(default_factory=list)
    complete: bool = False
    sign_in_collected: bool = True


def _plans(values: Any) -> tuple[str, ...]:
    return tuple(sorted(p for p in (guid(v) for v in values or []) if p))


def assignments_of(user_id: str, user: Record) -> list[Held]:
    """Every (SKU, path) the user holds: licenseAssignmentStates, padded and "None" errors
    tolerated; assignedLicenses fills in SKUs the states do not mention (as direct)."""
    out: dict[tuple[str, str], Held] = {}
    for st in user.get("licenseAssignmentStates") or []:
        sku = guid(st.get("skuId"))
        if not sku:
            continue
        via = guid(st.get("assignedByGroup")) or DIRECT
        out.setdefault((sku, via), Held(user_id, sku, via, _plans(st.get("disabledPlans")),
                                        text(st.get("state")), text(st.get("error")),
                                        moment(st.get("lastUpdatedDateTime"))))
    held_skus = {sku for sku, _ in out}
    for lic in user.get("assignedLicenses") or []:
        sku = guid(lic.get("skuId"))
        if sku and sku not in held_skus:
            out[(sku, DIRECT)] = Held(user_id, sku, DIRECT, _plans(lic.get("disabledPlans")),
                                      "Active", None, None)
    return list(out.values())


def _user_row(ctx: Context, user_id: str, u: Record, with_signin: bool) -> dict[str, Any]:
    row: dict[str, Any] = {
        "profile": ctx.name, "id": user_id,
        "user_principal_name": text(u.get("userPrincipalName")) or user_id,
        "display_name": text(u.get("displayName")), "mail": text(u.get("mail")),
        "account_enabled": flag(u.get("accountEnabled"), True),
        "user_type": text(u.get("userType")) or "Member",
        "department": text(u.get("department")), "company_name": text(u.get("companyName")),
        "created_at": moment(u.get("createdDateTime")),
        "first_seen_at": ctx.now, "last_seen_at": ctx.now, "deleted_at": None,
        "sign_in_activity_collected": with_signin,
    }
    if with_signin:
        activity = u.get("signInActivity") or {}
        row["last_sign_in_at"] = moment(activity.get("lastSignInDateTime"))
        row["last_non_interactive_sign_in_at"] = moment(
            activity.get("lastNonInteractiveSignInDateTime"))
        row["last_successful_sign_in_at"] = moment(activity.get("lastSuccessfulSignInDateTime"))
    return row


def signin_activity_bucket(ctx: Context) -> TokenBucket:
    """Pacing for pages of users with signInActivity: "GET signInActivity ... 10 requests per
    minute" per app and tenant, besides the reports' five per 10 s, so no burst and a request
    every 6 s and a tenth more: a window that starts a moment later on the service's clock
    would refuse the one that comes exactly on time
    (https://learn.microsoft.com/graph/throttling-limits#identity-and-access-reports-service-limits)."""
    per_minute = ctx.profile.signin_activity_requests_per_minute
    return TokenBucket(1, 1.1 * 60.0 / per_minute * ctx.tuning.time_scale)


def read_users(ctx: Context, ticker: Ticker) -> tuple[Listing, Exception | None]:
    """The listing, with signInActivity when the tenant allows it; a soft stop is returned."""
    listing = Listing(sign_in_collected=ctx.has_p1 is not False)
    stream = USERS if listing.sign_in_collected else USERS_WITHOUT_SIGNIN
    graph = ctx.clients.graph()
    stopped: Exception | None = None
    paced = signin_activity_bucket(ctx).acquire if listing.sign_in_collected else None
    try:
        for page in pages(graph, stream, on_page=ticker.page, before_request=paced):
            _take(ctx, listing, page)
        listing.complete = True
    except (NoPremiumLicense, MissingPermission) as exc:
        if not listing.sign_in_collected or listing.users or (
                isinstance(exc, MissingPermission) and exc.permission != "AuditLog.Read.All"):
            raise
        log.warning("%s: %s", ctx.name, exc.message)
        if isinstance(exc, NoPremiumLicense):
            ctx.has_p1 = False
        listing = Listing(sign_in_collected=False)
        stopped = exc
        try:
            for page in pages(graph, USERS_WITHOUT_SIGNIN, on_page=ticker.page):
                _take(ctx, listing, page)
            listing.complete = True
        except ThrottledTooLong as soft:
            stopped = soft
    except ThrottledTooLong as soft:
        stopped = soft
    return listing, stopped


def _take(ctx: Context, listing: Listing, page: list[Record]) -> None:
    for u in page:
        user_id = guid(u.get("id"))
        if not user_id:
            continue
        listing.users.append(_user_row(ctx, user_id, u, listing.sign_in_collected))
        listing.held.extend(assignments_of(user_id, u))


def collect_users(ctx: Context, ticker: Ticker) -> str | None:
    listing, stopped = read_users(ctx, ticker)
    with ctx.store.session() as session:
        store_listing(ctx, session, listing)
        status = "ok" if listing.complete else "partial"
        message = None
        if not listing.sign_in_collected:
            status = "degraded" if listing.complete else status
            message = stopped.message if isinstance(stopped, AuthError | NoPremiumLicense) \
                else "signInActivity was not read."
        if not listing.complete and stopped is not None:
            message = getattr(stopped, "message", str(stopped))
        save_state(session, ctx.name, "users", cursor=ctx.now if listing.complete else None,
                   status=status, message=message, records=len(listing.users))
        if ctx.has_p1 is not None:
            profile = session.get(Profile, ctx.name)
            if profile is not None:
                profile.has_p1 = ctx.has_p1
                session.add(profile)
    if isinstance(stopped, ThrottledTooLong):
        raise stopped
    if not listing.sign_in_collected and isinstance(stopped, NoPremiumLicense | AuthError):
        # the directory itself was stored; only sign-in activity is missing
        raise Degraded(stopped.message, detail=stopped.detail)
    return None


def store_listing(ctx: Context, session: Session, listing: Listing) -> None:
    seen = {u["id"] for u in listing.users}
    update_cols = [c for c in listing.users[0] if c not in ("first_seen_at",)] \
        if listing.users else []
    upsert(session, DirectoryUser, listing.users, update=update_cols)
    gone: set[str] = set()
    if listing.complete:
        known = set(session.exec(select(DirectoryUser.id).where(
            DirectoryUser.profile == ctx.name, col(DirectoryUser.deleted_at).is_(None))).all())
        gone = known - seen
        for chunk in _chunks(sorted(gone)):
            session.execute(update(table_of(DirectoryUser)).where(
                table_of(DirectoryUser).c.profile == ctx.name,
                table_of(DirectoryUser).c.id.in_(chunk)).values(deleted_at=ctx.now))
    _sync_intervals(ctx, session, listing.held, seen | gone)
    _sync_origins(ctx, session, listing.held, seen | gone)
    if listing.sign_in_collected:
        _write_signin_days(ctx, session, listing.users)
        if listing.complete:
            _extend_signin_coverage(ctx, session)


def _extend_signin_coverage(ctx: Context, session: Session) -> None:
    """Coverage of the entra_signin days: from the first complete listing on, continued by each
    listing that follows the last within LISTINGS_CONTINUE (a missed day breaks it: a user's
    sign-ins on days no listing saw are lost). The last successful sign-in itself speaks for
    all time since December 2023; the analysis reaches back to then for last activity
    (pipeline.evidence.channel_coverage), but counts active days only over these spans."""
    last = session.exec(select(Coverage).where(
        Coverage.profile == ctx.name, Coverage.source == ENTRA_SIGNIN, Coverage.environment == "")
        .order_by(col(Coverage.end).desc())).first()
    previous_end = _aware(last.end) if last is not None else None
    continues = previous_end is not None and ctx.now - previous_end <= LISTINGS_CONTINUE
    start = previous_end if continues and previous_end is not None else day_start(ctx.now)
    extend_coverage(session, ctx.name, ENTRA_SIGNIN, "", start, ctx.now)


def _chunks(values: list[str], size: int = 5000) -> list[list[str]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def _sync_intervals(ctx: Context, session: Session, held: list[Held], scope: set[str]) -> None:
    """Close intervals that disappeared, open new ones, update the details of unchanged ones."""
    table = table_of(LicenseAssignment)
    rows = session.execute(
        core_select(table.c.id, table.c.user_id, table.c.sku_id, table.c.via,
                    table.c.disabled_plans, table.c.state, table.c.error, table.c.graph_updated_at)
        .where(table.c.profile == ctx.name, table.c.valid_to.is_(None))).all()
    current = {(r.user_id, r.sku_id, r.via): r for r in rows}
    now_keys = {(h.user_id, h.sku_id, h.via): h for h in held}
    closing = [r.id for key, r in current.items() if key not in now_keys and key[0] in scope]
    for chunk in [closing[i:i + 5000] for i in range(0, len(closing), 5000)]:
        session.execute(update(table).where(table.c.id.in_(chunk)).values(valid_to=ctx.now))
    opening = [{"profile": ctx.name, "user_id": h.user_id, "sku_id": h.sku_id, "via": h.via,
                "disabled_plans": list(h.disabled_plans), "state": h.state, "error": h.error,
                "graph_updated_at": h.updated_at, "valid_from": ctx.now, "valid_to": None}
               for key, h in now_keys.items() if key not in current]
    if opening:
        session.execute(insert(table), opening)
    changed = []
    for key, h in now_keys.items():
        r = current.get(key)
        if r is None:
            continue
        if (tuple(r.disabled_plans or ()) != h.disabled_plans or r.state != h.state
                or r.error != h.error or _naive(r.graph_updated_at) != _naive(h.updated_at)):
            changed.append({"_id": r.id, "disabled_plans": list(h.disabled_plans),
                            "state": h.state, "error": h.error, "graph_updated_at": h.updated_at})
    if changed:
        stmt = update(table).where(table.c.id == bindparam("_id")).values(
            disabled_plans=bindparam("disabled_plans"), state=bindparam("state"),
            error=bindparam("error"), graph_updated_at=bindparam("graph_updated_at"))
        session.connection().execute(stmt, changed)


def _aware(value: datetime) -> datetime:
    # Core selects on SQLite hand back what the column type gives: make sure it is UTC-aware
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _naive(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=None) if value is not None else None


def _sync_origins(ctx: Context, session: Session, held: list[Held], scope: set[str]) -> None:
    """The earliest of lastUpdatedDateTime and first seen; never moved later once known.

    When a user no longer holds a SKU at all, its origin goes: a later re-assignment starts a
    new grace period."""
    earliest: dict[tuple[str, str], tuple[datetime, str]] = {}
    for h in held:
        if not h.holds_seat:
            continue  # an assignment error is no assignment: no date to keep
        when, why = ((h.updated_at, "licenseAssignmentStates")
                     if h.updated_at is not None and h.updated_at <= ctx.now
                     else (ctx.now, "first_seen"))
        key = (h.user_id, h.sku_id)
        if key not in earliest or when < earliest[key][0]:
            earliest[key] = (when, why)
    table = table_of(AssignmentOrigin)
    existing: dict[tuple[str, str], datetime] = {
        (r.user_id, r.sku_id): r.assigned_since for r in session.execute(
            core_select(table.c.user_id, table.c.sku_id, table.c.assigned_since)
            .where(table.c.profile == ctx.name)).all()}
    rows = []
    for key, (when, why) in earliest.items():
        old = existing.get(key)
        if old is not None and _aware(old) <= when:
            continue
        rows.append({"profile": ctx.name, "user_id": key[0], "sku_id": key[1],
                     "assigned_since": when, "provenance": why})
    upsert(session, AssignmentOrigin, rows)
    dropped = [k for k in existing if k not in earliest and k[0] in scope]
    for user_id, sku_id in dropped:
        session.exec(delete(AssignmentOrigin).where(
            col(AssignmentOrigin.profile) == ctx.name, col(AssignmentOrigin.user_id) == user_id,
            col(AssignmentOrigin.sku_id) == sku_id))


def signin_frame(profile: str, users: list[dict[str, Any]]) -> pl.DataFrame:
    pairs = [(u["id"], u["last_successful_sign_in_at"]) for u in users
             if u.get("last_successful_sign_in_at") is not None]
    frame = pl.DataFrame({"user_id": [p[0] for p in pairs], "last_at": [p[1] for p in pairs]},
                         schema={"user_id": pl.String, "last_at": pl.Datetime("us", "UTC")})
    return frame.with_columns(
        pl.lit(profile).alias("profile"), pl.lit(ENTRA_SIGNIN).alias("source"),
        pl.lit("").alias("environment"), pl.col("last_at").dt.date().alias("day"),
        pl.lit(1, dtype=pl.Int64).alias("events"),
    ).select(list(ACTIVITY_SCHEMA))


def _write_signin_days(ctx: Context, session: Session, users: list[dict[str, Any]]) -> None:
    """Add the days of last successful sign-ins not stored yet, keeping the rows already
    stored for the days the new file covers (a file replaces whole days)."""
    fresh = signin_frame(ctx.name, users)
    if fresh.height == 0:
        return
    stored = (scan_activity(ctx.store, ctx.name)
              .filter(pl.col("source") == ENTRA_SIGNIN).collect())
    new = fresh.join(stored.select("user_id", "day", "last_at"), on=["user_id", "day", "last_at"],
                     how="anti")
    if new.height == 0:
        return
    start: date = new["day"].min()  # type: ignore[assignment]
    end: date = new["day"].max()  # type: ignore[assignment]
    keep = stored.filter(pl.col("day").is_between(start, end))
    merged = (pl.concat([keep, new.select(list(ACTIVITY_SCHEMA))])
              .group_by("profile", "user_id", "source", "environment", "day")
              .agg(pl.lit(1, dtype=pl.Int64).alias("events"), pl.col("last_at").max())
              .select(list(ACTIVITY_SCHEMA)))
    write_activity(session, ctx.store, merged, profile=ctx.name, source=ENTRA_SIGNIN,
                   environment="", window_start=start, window_end=end, run_id=ctx.run_id)
