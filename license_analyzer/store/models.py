"""The tables the product keeps.

Conventions: every datetime is timezone-aware UTC (SQLModel refuses naive ones and returns UTC;
`store.db.utcnow()`), every day is a UTC calendar day, skuIds and object ids are stored
lowercase, and most tables are keyed by the profile's name so frames can be joined without
lookups. Changing a table means adding an Alembic migration in store/migrations/versions.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel


def _json(default: Any = None) -> Any:
    return Field(default_factory=lambda: default() if callable(default) else default,
                 sa_column=Column(JSON, nullable=True))


class Profile(SQLModel, table=True):
    name: str = Field(primary_key=True)
    tenant_id: str
    display_name: str | None = None
    has_p1: bool | None = None  # None: not known yet
    created_at: datetime
    updated_at: datetime


class SkuState(SQLModel, table=True):
    """subscribedSkus as last seen."""

    profile: str = Field(primary_key=True)
    sku_id: str = Field(primary_key=True)
    sku_part_number: str
    applies_to: str = "User"
    capability_status: str = "Enabled"
    enabled: int = 0
    warning: int = 0
    suspended: int = 0
    locked_out: int = 0
    consumed: int = 0
    service_plans: list[dict[str, Any]] = _json(list)  # [{id, name, applies_to, status}]
    subscription_ids: list[str] = _json(list)
    updated_at: datetime


class SkuSnapshot(SQLModel, table=True):
    """One row per SKU per UTC day: the daily history of purchased and consumed units."""

    profile: str = Field(primary_key=True)
    sku_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    capability_status: str
    enabled: int
    warning: int
    suspended: int
    locked_out: int
    consumed: int


class Subscription(SQLModel, table=True):
    """/directory/subscriptions: renewal dates, trials, seats per subscription."""

    profile: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    sku_id: str
    sku_part_number: str | None = None
    status: str
    total_licenses: int = 0
    is_trial: bool = False
    created_at: datetime | None = None
    next_lifecycle_at: datetime | None = None
    updated_at: datetime


class DirectoryUser(SQLModel, table=True):
    __table_args__ = (Index("ix_directoryuser_manager", "profile", "manager_id"),)

    profile: str = Field(primary_key=True)
    id: str = Field(primary_key=True)  # Entra object id, lowercase
    user_principal_name: str
    display_name: str | None = None
    mail: str | None = None
    account_enabled: bool = True
    user_type: str = "Member"
    department: str | None = None
    company_name: str | None = None
    created_at: datetime | None = None
    # signInActivity; sentinels ("0001-01-01T00:00:00Z", "") are stored as None
    last_sign_in_at: datetime | None = None
    last_non_interactive_sign_in_at: datetime | None = None
    last_successful_sign_in_at: datetime | None = None
    sign_in_activity_collected: bool = False  # False without P1: the fields above mean nothing
    first_seen_at: datetime
    last_seen_at: datetime
    deleted_at: datetime | None = None  # gone from a complete users listing
    # the user's manager (Entra object id), collected only with [web] route_to_manager
    manager_id: str | None = None


class LicenseAssignment(SQLModel, table=True):
    """Who holds which SKU through which path, as validity intervals rather than a row per day.

    `via` is "direct" or the id of the group the license is inherited from; the same user and
    SKU can hold several rows (direct and groups) at once. `valid_to` is None while current.
    """

    __table_args__ = (
        Index("ix_assignment_current", "profile", "user_id", "sku_id", "via", "valid_to"),
    )

    id: int | None = Field(default=None, primary_key=True)
    profile: str
    user_id: str
    sku_id: str
    via: str
    disabled_plans: list[str] = _json(list)
    state: str | None = None
    error: str | None = None
    graph_updated_at: datetime | None = None  # licenseAssignmentStates[].lastUpdatedDateTime
    valid_from: datetime
    valid_to: datetime | None = None


class AssignmentOrigin(SQLModel, table=True):
    """The sticky assignment date of a (user, SKU): once known it is kept, with its source."""

    profile: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    sku_id: str = Field(primary_key=True)
    assigned_since: datetime
    provenance: str  # "licenseAssignmentStates" | "first_seen"


class DirectoryGroup(SQLModel, table=True):
    """Groups that carry licenses (group-based licensing)."""

    profile: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    display_name: str | None = None
    group_types: list[str] = _json(list)  # "DynamicMembership", "Unified"
    membership_rule: str | None = None
    on_premises_sync_enabled: bool = False
    mail_enabled: bool = False
    security_enabled: bool = True
    assigned_licenses: list[dict[str, Any]] = _json(list)  # [{skuId, disabledPlans}]
    updated_at: datetime


class GroupMember(SQLModel, table=True):
    profile: str = Field(primary_key=True)
    group_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)


class Environment(SQLModel, table=True):
    """A Dataverse or Finance & Operations environment, configured or discovered."""

    profile: str = Field(primary_key=True)
    url: str = Field(primary_key=True)  # normalized: lowercase, no trailing slash
    kind: str  # "dataverse" | "finance_operations"
    families: list[str] = _json(list)  # empty: counts for every customer-engagement family
    discovered: bool = False
    display_name: str | None = None
    audit_enabled: bool | None = None
    user_access_audit_enabled: bool | None = None
    audit_interval_hours: int | None = None
    audit_retention_days: int | None = None  # -1: forever
    checked_at: datetime | None = None


class DataverseUser(SQLModel, table=True):
    """systemusers per environment. systemuserids differ per environment: join to Entra only
    through `entra_object_id`."""

    __table_args__ = (Index("ix_dataverseuser_entra", "profile", "entra_object_id"),)

    profile: str = Field(primary_key=True)
    environment_url: str = Field(primary_key=True)
    systemuser_id: str = Field(primary_key=True)
    entra_object_id: str | None = None
    domain_name: str | None = None
    full_name: str | None = None
    # 0 Read-Write, 1 Administrative, 2 Read, 3 Support, 4 Non-interactive
    access_mode: int | None = None
    is_disabled: bool = False
    is_application_user: bool = False
    is_integration_user: bool = False
    is_human: bool = True  # False for application, SYSTEM, INTEGRATION, support, non-interactive
    updated_at: datetime


class FinanceOperationsUser(SQLModel, table=True):
    """F&O SystemUsers: who is enabled there (F&O exposes no sign-in log)."""

    __table_args__ = (
        Index("ix_financeoperationsuser_matched", "profile", "matched_user_id"),
    )

    profile: str = Field(primary_key=True)
    environment_url: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)  # F&O UserID
    user_name: str | None = None
    alias: str | None = None
    email: str | None = None
    enabled: bool = True
    object_id: str | None = None
    matched_user_id: str | None = None  # Entra object id, when matched
    match_method: str | None = None  # "object_id" | "alias" | None (unmatched, reported)
    updated_at: datetime


class UserChange(SQLModel, table=True):
    """A user whose rows the analysis derives from changed: written by database triggers
    (migration 0003) on every insert, delete and real update of the columns the pipeline reads,
    so no writer can forget it. `part` is "user" (licenses, directory attributes, Dataverse and
    F&O presence) or "signin" (the user's signInActivity). The analysis caches what it derived
    per user and recomputes only the users logged after its cache (pipeline/user_cache.py)."""

    __tablename__ = "user_change"
    # AUTOINCREMENT: a pruned log must never hand out a seq at or below a cache's watermark
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, primary_key=True)
    profile: str
    user_id: str
    part: str


class UserChangePruned(SQLModel, table=True):
    """How far user_change was pruned: a cache older than `through` must be rebuilt."""

    __tablename__ = "user_change_pruned"

    id: int = Field(default=1, primary_key=True)
    through: int = 0


class ActivityFile(SQLModel, table=True):
    """A Parquet file of activity day rows, counted only once registered here.

    Its rows have the columns (profile, user_id, source, environment, day, events, last_at) and
    it is authoritative for every day in [window_start, window_end] of (profile, source,
    environment): a file with a higher id replaces older rows for the days it covers. Files on
    disk with no row here are leftovers of a killed run and are deleted.
    """

    id: int | None = Field(default=None, primary_key=True)
    profile: str
    source: str  # "dataverse_audit" | "signin_crm" | "signin_erp" | "entra_signin"
    environment: str = ""  # environment url for Dataverse, "" otherwise
    path: str  # relative to the data dir
    window_start: date
    window_end: date
    rows: int = 0
    events: int = 0
    created_at: datetime
    run_id: int | None = None


class StreamState(SQLModel, table=True):
    """Incremental cursor per stream and partition; it advances in the transaction that commits
    the stream's rows, and is capped at the run's start."""

    profile: str = Field(primary_key=True)
    stream: str = Field(primary_key=True)
    partition: str = Field(default="", primary_key=True)  # environment url or ""
    cursor: str | None = None
    status: str = "ok"  # ok | partial | failed | degraded
    message: str | None = None
    records_total: int = 0
    updated_at: datetime


class Coverage(SQLModel, table=True):
    """A span of time a source has evidence for (merged when adjacent)."""

    id: int | None = Field(default=None, primary_key=True)
    profile: str
    source: str
    environment: str = ""
    start: datetime
    end: datetime


class CoverageGap(SQLModel, table=True):
    """Time a source has no evidence for and can no longer get (retention passed)."""

    id: int | None = Field(default=None, primary_key=True)
    profile: str
    source: str
    environment: str = ""
    start: datetime
    end: datetime
    reason: str
    recorded_at: datetime


class Run(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    command: str
    trigger: str = Field(default="manual", sa_column_kwargs={"server_default": "manual"})
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | ok | partial | failed
    as_of: date | None = None
    stages: dict[str, Any] = _json(dict)  # stage -> {status, started_at, finished_at, error}
    sources: dict[str, Any] = _json(dict)  # "profile/stream/partition" -> {status, records, ...}
    counts: dict[str, Any] = _json(dict)
    retries: int = 0
    report_path: str | None = None
    error: str | None = None
    pid: int | None = None
    host: str | None = None


class Analysis(SQLModel, table=True):
    """One analyze: where its per-(user, SKU) facts are and what day it was as of."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int | None = None
    as_of: date
    created_at: datetime
    facts_path: str  # Parquet, relative to the data dir
    users: int = 0
    assignments: int = 0


class PositionDaily(SQLModel, table=True):
    """License position per (profile, SKU) per as-of day: the `usage` command and trends."""

    profile: str = Field(primary_key=True)
    sku_id: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    sku_part_number: str
    product_name: str
    purchased: int = 0
    warning: int = 0
    assigned: int = 0
    active: int = 0
    inactive: int = 0
    never_used: int = 0
    in_grace: int = 0
    no_data: int = 0
    low_usage: int | None = None  # None: no active holder's evidence covers the low-usage window
    over_assigned: int = 0
    unassigned: int = 0
    unit_price_monthly: float | None = None
    monthly_cost: float = 0.0
    monthly_waste: float = 0.0
    reducible_at_renewal: int = 0
    next_renewal: date | None = None
    waste_counts: bool = True  # False for company-level capacity and free SKUs
    # users a licensing group (or an assignment) failed to license: state Error, no seat held
    assignment_errors: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class AssignmentErrorDaily(SQLModel, table=True):
    """Per as-of day, each (user, SKU) whose every assignment is in state Error: who should
    have a license and does not (the report's "License assignment errors")."""

    profile: str = Field(primary_key=True)
    day: date = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    sku_id: str = Field(primary_key=True)
    sku_part_number: str
    product_name: str
    user_principal_name: str
    display_name: str | None = None
    department: str | None = None
    assigned_via: str  # "group:<id>" (or "direct"), joined by ","
    error: str  # CountViolation, MutuallyExclusiveViolation, ..., several joined by ", "


class DepartmentPositionDaily(SQLModel, table=True):
    profile: str = Field(primary_key=True)
    department: str = Field(primary_key=True)  # "" when unknown
    day: date = Field(primary_key=True)
    assigned: int = 0
    unused: int = 0
    monthly_cost: float = 0.0
    monthly_waste: float = 0.0


def search_key(user_principal_name: str, display_name: str | None) -> str:
    """The text the review app's free-text filter looks into, lowercased (so is the term)."""
    return f"{user_principal_name} {display_name or ''}".lower()


# The review app's list reads only these indexes, one per sort it offers (saving, days idle,
# user): the status tab first, then the sort key and the id that breaks its ties, then every
# column a filter looks at, so a page of 300,000 candidates is a walk of one index in order
# and never reads the wide rows (evidence JSON) of the candidates it does not show.
LIST_FILTER_COLUMNS = ("product_name", "rule", "department", "action", "search_key")
LIST_INDEXES = {
    "ix_candidate_list_saving": ("status", "monthly_saving", "id", *LIST_FILTER_COLUMNS),
    "ix_candidate_list_idle": ("status", "days_inactive", "monthly_saving", "id",
                               *LIST_FILTER_COLUMNS),
    "ix_candidate_list_user": ("status", "user_principal_name", "monthly_saving", "id",
                               *LIST_FILTER_COLUMNS),
}


class Candidate(SQLModel, table=True):
    """A reclamation candidate: one per (profile, user, SKU), kept across runs."""

    __table_args__ = (UniqueConstraint("profile", "user_id", "sku_id"),
                      *(Index(name, *columns) for name, columns in LIST_INDEXES.items()))

    id: str = Field(primary_key=True)  # short and stable, e.g. "c-1a2b3c4d"
    profile: str
    user_id: str
    user_principal_name: str
    display_name: str | None = None
    department: str | None = None
    sku_id: str
    sku_part_number: str
    product_name: str
    rule: str
    also_matching: list[str] = _json(list)
    reason: str
    action: str  # remove | downgrade | remove_from_group
    target_sku_part_number: str | None = None
    assigned_via: str
    blocked_reason: str | None = None
    monthly_saving: float = 0.0
    last_activity: date | None = None
    last_activity_source: str | None = None
    days_inactive: int | None = None
    evidence: dict[str, Any] = _json(dict)
    evidence_hash: str
    # proposed | approved | rejected | snoozed | applied | partial | restored | cancelled
    status: str = "proposed"
    status_reason: str | None = None
    # goes up on every status change; writers compare it with what they read (compare-and-set)
    version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    snoozed_until: date | None = None
    decided_evidence_hash: str | None = None  # what the last decision was given for
    decided_by: str | None = None  # who took the last decision: --by, or the web reviewer's UPN
    # what the review app's free-text filter searches: search_key() of the UPN and name
    search_key: str | None = None
    proposed_at: datetime
    updated_at: datetime
    last_run_id: int | None = None


class Decision(SQLModel, table=True):
    """Every review decision, kept: who (--by and the OS user), when, why, for what evidence."""

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(index=True)
    # approved | rejected | snoozed | reopened | cancelled | applied | partial | restored
    decision: str
    by: str
    by_object_id: str | None = None  # the web reviewer's Entra object id (oid claim)
    os_user: str | None = None
    at: datetime
    note: str | None = None
    until: date | None = None
    action: str | None = None
    target: str | None = None
    evidence_hash: str | None = None


class WebSession(SQLModel, table=True):
    """A browser's session with the review app (`serve`). The cookie holds a random token;
    only its SHA-256 is stored, so a copy of the database opens no session. A session begun
    but not yet signed in holds msal's auth code flow (state, nonce, PKCE verifier)."""

    __tablename__ = "web_session"

    id: str = Field(primary_key=True)  # sha256 hex of the cookie's token
    created_at: datetime
    expires_at: datetime = Field(index=True)
    flow: dict[str, Any] | None = _json(None)  # pending sign-in: msal's auth code flow
    next_path: str | None = None  # where to go after signing in
    object_id: str | None = None  # Entra oid of the person signed in
    upn: str | None = None  # preferred_username
    name: str | None = None
    roles: list[str] = _json(list)  # viewer | reviewer | admin | manager
    csrf: str = ""


class AppliedChange(SQLModel, table=True):
    """What `apply` did, with the prior state `restore` needs."""

    id: int | None = Field(default=None, primary_key=True)
    candidate_id: str = Field(index=True)
    profile: str
    user_id: str
    sku_id: str
    action: str
    group_id: str | None = None
    prior: dict[str, Any] = _json(dict)  # {"disabled_plans": [...], "group_ids": ..., ...}
    # each Graph call, recorded as attempted before it is made and done once it succeeded:
    # [{"kind": "remove_direct" | "remove_group" | "downgrade", "group_id", "state":
    #   "attempted" | "done" | "failed" | "unknown" | "undone", "error", "at"}]
    steps: list[dict[str, Any]] = _json(list)
    # started | applied | pending_confirmation | confirmed | partial | failed | restored
    status: str = "applied"
    applied_at: datetime
    confirmed_at: datetime | None = None
    restored_at: datetime | None = None
    monthly_saving: float = 0.0
    by: str | None = None


class RuleResult(SQLModel, table=True):
    """Per analyze and rule: how many candidates and how much saving (`rules list`)."""

    analysis_id: int = Field(primary_key=True)
    rule: str = Field(primary_key=True)
    description: str = ""
    matched: int = 0
    candidates: int = 0
    monthly_saving: float = 0.0


class AlertSent(SQLModel, table=True):
    """Alerts already sent, so a daily job does not repeat the same one every run."""

    key: str = Field(primary_key=True)
    sent_at: datetime


class JobLock(SQLModel, table=True):
    """One row per lock: two runs (scheduled or manual) never run the job at once."""

    name: str = Field(primary_key=True)
    holder: str
    acquired_at: datetime
    heartbeat_at: datetime


class SignIn(SQLModel, table=True):
    """A delegated profile's sign-in: msal's token cache (refresh token included) sealed with
    the profile's token_cache_key (store/sign_in.py), never in clear; `account` is who signed
    in, kept in clear so a failed refresh can name the person who must sign in again."""

    __tablename__ = "sign_in"

    profile: str = Field(primary_key=True)
    account: str
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    signed_in_at: datetime
    updated_at: datetime


class FnoSecurityRole(SQLModel, table=True):
    """F&O SecurityRoles per environment, with the license type each role needs (issue 21)."""

    profile: str = Field(primary_key=True)
    environment_url: str = Field(primary_key=True)
    role_id: str = Field(primary_key=True)  # SecurityRoleIdentifier (the AOT name)
    name: str | None = None  # SecurityRoleName
    license_type: str | None = None  # UserLicenseType as F&O reports it
    updated_at: datetime


class FnoUserRole(SQLModel, table=True):
    """F&O SecurityUserRoles per environment: which user holds which role, how and whether
    the assignment is enabled."""

    __table_args__ = (Index("ix_fnouserrole_user", "profile", "user_id"),)

    profile: str = Field(primary_key=True)
    environment_url: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)  # F&O UserID (FinanceOperationsUser.user_id)
    role_id: str = Field(primary_key=True)  # SecurityRoleIdentifier
    role_name: str | None = None
    assignment_status: str | None = None  # Enabled | Disabled
    assignment_mode: str | None = None  # Manual | Automatic
    license_type: str | None = None
    updated_at: datetime


class ComplianceImport(SQLModel, table=True):
    """A file taken by `compliance import`: the admin center's user license consumption CSV or
    the security object licenses export, kept whole with its date; the newest of each kind
    counts."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str  # "user_license_consumption" | "security_object_licenses"
    file_name: str
    sha256: str
    refreshed_on: datetime | None = None  # the export's RefreshedOn, where it says
    imported_at: datetime
    row_count: int = 0
    rows: list[dict[str, Any]] = _json(list)


class DataverseRestrictedWrite(SQLModel, table=True):
    """A Dataverse user whose security role (their own, or a team's they are in) creates,
    updates or deletes a table Microsoft restricts to Dynamics 365 app licenses."""

    profile: str = Field(primary_key=True)
    environment_url: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)  # Entra object id, lowercase
    table_name: str = Field(primary_key=True)  # the restricted table's logical name
    role_name: str = Field(primary_key=True)
    via: str = Field(primary_key=True)  # "direct" or "team:<team name>"
    updated_at: datetime
