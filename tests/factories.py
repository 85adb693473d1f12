"""Small hand-made stores for tests: one function per kind of row.

Every function takes the open session first (``with store.session() as s:``) and returns the row it
added, so a test reads like the tenant it describes:

    with store.session() as s:
        add_profile(s)
        sales = add_sku(s, "DYN365_ENTERPRISE_SALES", enabled=10)
        alice = add_user(s, "alice")
        assign(s, alice.id, sales.sku_id, since=utc(2026, 1, 1))
        add_activity(s, store, "dataverse_audit", [(alice.id, utc(2026, 11, 20, 9))],
                     environment=SALES_ENV)

Ids are made readable and deterministic: ``add_user(s, "alice")`` gets an object id derived from
"alice", and a SKU known to the packaged catalog gets its real skuId. These functions are shared
by the pipeline, rules and report tests: keep their signatures stable, add keyword arguments only.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
from sqlmodel import Session

from license_analyzer.config import Config
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    ActivityFile,
    AssignmentOrigin,
    Coverage,
    CoverageGap,
    DataverseUser,
    DirectoryGroup,
    DirectoryUser,
    Environment,
    FinanceOperationsUser,
    GroupMember,
    LicenseAssignment,
    Profile,
    SkuSnapshot,
    SkuState,
    Subscription,
)

PROFILE = "contoso"
TENANT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_ID = "66666666-7777-8888-9999-000000000000"
AS_OF = date(2026, 11, 21)
"""The day most tests analyze as of."""

SALES_ENV = "https://sales.crm.dynamics.com"
SERVICE_ENV = "https://service.crm.dynamics.com"
FNO_ENV = "https://contoso.operations.dynamics.com"

_NAMESPACE = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0,
        second: int = 0) -> datetime:
    """An aware UTC datetime, the only kind the store takes."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def days_before(day: date, days: int, hour: int = 12) -> datetime:
    """Noon UTC `days` days before `day` (0: that day)."""
    d = day - timedelta(days=days)
    return utc(d.year, d.month, d.day, hour)


def object_id(name: str) -> str:
    """A stable, lowercase GUID for a readable name ("alice" -> always the same id)."""
    try:
        return str(uuid.UUID(name)).lower()
    except ValueError:
        return str(uuid.uuid5(_NAMESPACE, name)).lower()


def sku_id_for(part_number: str) -> str:
    """The real skuId of a catalog part number, else a stable made-up one."""
    from license_analyzer.catalog import load_catalog

    known = load_catalog().filter(pl.col("sku_part_number") == part_number)
    if known.height:
        return str(known["sku_id"][0])
    return object_id(f"sku:{part_number}")


def _now() -> datetime:
    return utc(AS_OF.year, AS_OF.month, AS_OF.day, 6)


def add_profile(session: Session, name: str = PROFILE, *, has_p1: bool | None = True,
                tenant_id: str = TENANT_ID) -> Profile:
    row = Profile(name=name, tenant_id=tenant_id, display_name=name.title(), has_p1=has_p1,
                  created_at=_now(), updated_at=_now())
    session.add(row)
    return row


def add_sku(session: Session, part_number: str, *, profile: str = PROFILE,
            sku_id: str | None = None, enabled: int = 10, warning: int = 0, suspended: int = 0,
            locked_out: int = 0, consumed: int = 0, applies_to: str = "User",
            capability_status: str = "Enabled", day: date = AS_OF,
            service_plans: list[dict[str, Any]] | None = None,
            subscription_ids: list[str] | None = None) -> SkuState:
    """A subscribedSku (SkuState) and its SkuSnapshot for `day`."""
    sid = (sku_id or sku_id_for(part_number)).lower()
    row = SkuState(profile=profile, sku_id=sid, sku_part_number=part_number,
                   applies_to=applies_to, capability_status=capability_status, enabled=enabled,
                   warning=warning, suspended=suspended, locked_out=locked_out,
                   consumed=consumed, service_plans=list(service_plans or []),
                   subscription_ids=list(subscription_ids or []), updated_at=_now())
    session.add(row)
    session.add(SkuSnapshot(profile=profile, sku_id=sid, day=day,
                            capability_status=capability_status, enabled=enabled,
                            warning=warning, suspended=suspended, locked_out=locked_out,
                            consumed=consumed))
    return row


def ensure_sku(session: Session, part_number: str, *, profile: str = PROFILE) -> str:
    """The SKU's id, adding its subscribedSku (add_sku's defaults) the first time it is asked."""
    sid = sku_id_for(part_number).lower()
    if session.get(SkuState, (profile, sid)) is None:
        add_sku(session, part_number, profile=profile)
        session.flush()
    return sid


def add_subscription(session: Session, sku_id: str, *, profile: str = PROFILE,
                     id: str | None = None, total_licenses: int = 10,
                     next_lifecycle_at: datetime | None = None, is_trial: bool = False,
                     status: str = "Enabled", sku_part_number: str | None = None,
                     created_at: datetime | None = None) -> Subscription:
    row = Subscription(profile=profile, id=id or object_id(f"sub:{sku_id}:{total_licenses}"),
                       sku_id=sku_id.lower(), sku_part_number=sku_part_number, status=status,
                       total_licenses=total_licenses, is_trial=is_trial,
                       created_at=created_at, next_lifecycle_at=next_lifecycle_at,
                       updated_at=_now())
    session.add(row)
    return row


def add_user(session: Session, name: str, *, profile: str = PROFILE, id: str | None = None,
             upn: str | None = None, display_name: str | None = None,
             account_enabled: bool = True, user_type: str = "Member",
             department: str | None = None, company_name: str | None = None,
             created_at: datetime | None = None, last_sign_in_at: datetime | None = None,
             last_non_interactive_sign_in_at: datetime | None = None,
             last_successful_sign_in_at: datetime | None = None,
             sign_in_activity_collected: bool = True, first_seen_at: datetime | None = None,
             deleted_at: datetime | None = None) -> DirectoryUser:
    """A directory user; `name` makes the object id and the UPN (name@contoso.com)."""
    row = DirectoryUser(
        profile=profile, id=(id or object_id(name)).lower(),
        user_principal_name=upn or f"{name}@contoso.com", display_name=display_name or name.title(),
        account_enabled=account_enabled, user_type=user_type, department=department,
        company_name=company_name, created_at=created_at or utc(2024, 1, 1),
        last_sign_in_at=last_sign_in_at,
        last_non_interactive_sign_in_at=last_non_interactive_sign_in_at,
        last_successful_sign_in_at=last_successful_sign_in_at,
        sign_in_activity_collected=sign_in_activity_collected,
        first_seen_at=first_seen_at or utc(2026, 1, 1), last_seen_at=_now(), deleted_at=deleted_at)
    session.add(row)
    return row


def assign(session: Session, user_id: str, sku_id: str, *, profile: str = PROFILE,
           via: str = "direct", since: datetime | None = None,
           graph_updated_at: datetime | None = None, disabled_plans: Sequence[str] = (),
           origin: str | None = "licenseAssignmentStates", valid_to: datetime | None = None,
           state: str | None = "Active") -> LicenseAssignment:
    """A license assignment path ("direct" or a group id) and, unless `origin` is None, the
    sticky AssignmentOrigin of (user, SKU) with `since` as its date (merged: earliest wins)."""
    since = since or utc(2026, 1, 1)
    row = LicenseAssignment(profile=profile, user_id=user_id.lower(), sku_id=sku_id.lower(),
                            via=via.lower(), disabled_plans=list(disabled_plans), state=state,
                            graph_updated_at=graph_updated_at or since, valid_from=since,
                            valid_to=valid_to)
    session.add(row)
    if origin is not None:
        key = (profile, user_id.lower(), sku_id.lower())
        existing = session.get(AssignmentOrigin, key)
        if existing is None:
            session.add(AssignmentOrigin(profile=profile, user_id=key[1], sku_id=key[2],
                                         assigned_since=since, provenance=origin))
        elif since < existing.assigned_since:
            existing.assigned_since = since
            existing.provenance = origin
    return row


def add_group(session: Session, name: str, *, profile: str = PROFILE, id: str | None = None,
              skus: Iterable[str | tuple[str, Sequence[str]]] = (),
              members: Iterable[str] = (), assign_members: bool = True,
              since: datetime | None = None, dynamic: bool = False,
              on_premises_sync_enabled: bool = False, mail_enabled: bool = False) -> DirectoryGroup:
    """A licensing group with its members; `skus` are sku ids or (sku id, disabled plans).
    With `assign_members`, each member also gets a LicenseAssignment via this group."""
    gid = (id or object_id(f"group:{name}")).lower()
    licenses = [(s, ()) if isinstance(s, str) else s for s in skus]
    row = DirectoryGroup(
        profile=profile, id=gid, display_name=name,
        group_types=["DynamicMembership"] if dynamic else [],
        membership_rule='user.department -eq "Sales"' if dynamic else None,
        on_premises_sync_enabled=on_premises_sync_enabled, mail_enabled=mail_enabled,
        assigned_licenses=[{"skuId": s.lower(), "disabledPlans": list(p)} for s, p in licenses],
        updated_at=_now())
    session.add(row)
    for member in members:
        session.add(GroupMember(profile=profile, group_id=gid, user_id=member.lower()))
        if assign_members:
            for sku, plans in licenses:
                assign(session, member, sku, profile=profile, via=gid, since=since,
                       disabled_plans=plans)
    return row


def add_environment(session: Session, url: str, *, profile: str = PROFILE,
                    kind: str = "dataverse", families: Sequence[str] = (),
                    audit_enabled: bool | None = True,
                    user_access_audit_enabled: bool | None = True,
                    audit_retention_days: int | None = -1) -> Environment:
    row = Environment(profile=profile, url=url.lower().rstrip("/"), kind=kind,
                      families=list(families), audit_enabled=audit_enabled,
                      user_access_audit_enabled=user_access_audit_enabled,
                      audit_retention_days=audit_retention_days, checked_at=_now())
    session.add(row)
    return row


def add_systemuser(session: Session, env_url: str, entra_object_id: str | None, *,
                   profile: str = PROFILE, systemuser_id: str | None = None,
                   access_mode: int = 0, is_disabled: bool = False, is_human: bool = True,
                   is_application_user: bool = False,
                   domain_name: str | None = None) -> DataverseUser:
    """A Dataverse systemuser; its id differs per environment, as in real tenants."""
    url = env_url.lower().rstrip("/")
    row = DataverseUser(
        profile=profile, environment_url=url,
        systemuser_id=systemuser_id or object_id(f"su:{url}:{entra_object_id}"),
        entra_object_id=entra_object_id.lower() if entra_object_id else None,
        domain_name=domain_name, access_mode=access_mode, is_disabled=is_disabled,
        is_application_user=is_application_user, is_human=is_human, updated_at=_now())
    session.add(row)
    return row


def add_fo_user(session: Session, env_url: str, fo_user_id: str, *, profile: str = PROFILE,
                matched_user_id: str | None = None, enabled: bool = True,
                alias: str | None = None, match_method: str | None = "object_id"
                ) -> FinanceOperationsUser:
    row = FinanceOperationsUser(
        profile=profile, environment_url=env_url.lower().rstrip("/"), user_id=fo_user_id,
        alias=alias, enabled=enabled, object_id=matched_user_id,
        matched_user_id=matched_user_id.lower() if matched_user_id else None,
        match_method=match_method if matched_user_id else None, updated_at=_now())
    session.add(row)
    return row


def activity_frame(source: str, rows: Iterable[tuple[str, datetime] | tuple[str, datetime, int]],
                   *, profile: str = PROFILE, environment: str = "") -> pl.DataFrame:
    """Activity day rows from (user id, last_at[, events]); the day is last_at's UTC day."""
    from license_analyzer.store.activity import ACTIVITY_SCHEMA

    items = [(r[0], r[1], r[2] if len(r) > 2 else 1) for r in rows]  # type: ignore[misc]
    return pl.DataFrame(
        {"profile": [profile] * len(items), "user_id": [u.lower() for u, _, _ in items],
         "source": [source] * len(items), "environment": [environment] * len(items),
         "day": [t.astimezone(UTC).date() for _, t, _ in items],
         "events": [e for _, _, e in items], "last_at": [t for _, t, _ in items]},
        schema=ACTIVITY_SCHEMA)


def add_activity(session: Session, store: Store, source: str,
                 rows: Iterable[tuple[str, datetime] | tuple[str, datetime, int]], *,
                 profile: str = PROFILE, environment: str = "",
                 window_start: date | None = None, window_end: date | None = None,
                 coverage: bool = True) -> ActivityFile:
    """One activity file through store.activity.write_activity (day rows from (user, last_at
    [, events]); several rows of one user and day are summed). The window defaults to the rows'
    days; with `coverage`, a Coverage span for the window is added too.

    Like a real collection, the file is authoritative for its window: it replaces every older
    row of those days for that (source, environment), so put all users' rows of one source and
    period in one call."""
    from license_analyzer.store.activity import write_activity

    environment = environment.lower().rstrip("/")
    frame = activity_frame(source, rows, profile=profile, environment=environment)
    frame = (frame.group_by("profile", "user_id", "source", "environment", "day")
             .agg(pl.col("events").sum(), pl.col("last_at").max())
             .select(frame.columns).sort("user_id", "day"))
    start = window_start or (frame["day"].min() if frame.height else AS_OF)
    end = window_end or (frame["day"].max() if frame.height else AS_OF)
    assert isinstance(start, date) and isinstance(end, date)
    record = write_activity(session, store, frame, profile=profile, source=source,
                            environment=environment, window_start=start, window_end=end)
    if coverage:
        add_coverage(session, source, utc(start.year, start.month, start.day),
                     utc(end.year, end.month, end.day) + timedelta(days=1),
                     profile=profile, environment=environment)
    return record


def add_coverage(session: Session, source: str, start: datetime | date,
                 end: datetime | date, *, profile: str = PROFILE,
                 environment: str = "") -> Coverage:
    """A span `source` has evidence for; dates mean midnight UTC (end exclusive)."""
    row = Coverage(profile=profile, source=source, environment=environment.lower().rstrip("/"),
                   start=_as_datetime(start), end=_as_datetime(end))
    session.add(row)
    return row


def add_coverage_gap(session: Session, source: str, start: datetime | date,
                     end: datetime | date, *, profile: str = PROFILE, environment: str = "",
                     reason: str = "retention passed") -> CoverageGap:
    row = CoverageGap(profile=profile, source=source,
                      environment=environment.lower().rstrip("/"), start=_as_datetime(start),
                      end=_as_datetime(end), reason=reason, recorded_at=_now())
    session.add(row)
    return row


def _as_datetime(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return utc(value.year, value.month, value.day)


def make_config(*, store: Store | None = None, prices: dict[str, float] | None = None,
                analysis: dict[str, Any] | None = None,
                profiles: Sequence[str] = (PROFILE,),
                dataverse: Sequence[str | dict[str, Any]] = (),
                finance_operations: Sequence[str] = (),
                **sections: Any) -> Config:
    """A valid Config (client secret "test-secret") for the given store's URL and data dir."""
    storage: dict[str, Any] = {}
    if store is not None:
        storage = {"url": store.url, "data_dir": store.data_dir}
    data: dict[str, Any] = {
        "storage": storage,
        "analysis": dict(analysis or {}),
        "prices": dict(prices or {}),
        "profiles": [
            {"name": name, "tenant_id": TENANT_ID, "client_id": CLIENT_ID,
             "client_secret": "test-secret", "dataverse": list(dataverse),
             "finance_operations": list(finance_operations)}
            for name in profiles
        ],
        **sections,
    }
    return Config.model_validate(data)
