"""The mutable tenant: directory, licences, environments and the admin's setup steps.

Tests flip setup steps on these objects directly; HTTP handlers read them under `lock`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from .catalog import Sku
from .tokens import new_certificate, thumbprints

DEFAULT_ROLES = frozenset(
    {
        "Organization.Read.All",
        "User.Read.All",
        "AuditLog.Read.All",
        "GroupMember.Read.All",
        "LicenseAssignment.ReadWrite.All",
        "GroupMember.ReadWrite.All",
        "Application.Read.All",
        "Reports.Read.All",
    }
)
# Delegated permissions an administrator consented to for the whole tenant, per API: Graph,
# Dynamics CRM (Dataverse), Dynamics ERP (F&O), Power Platform admin.
DEFAULT_DELEGATED = {
    "graph": frozenset(
        {
            "User.Read",
            "Organization.Read.All",
            "User.Read.All",
            "AuditLog.Read.All",
            "GroupMember.Read.All",
            "LicenseAssignment.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "Reports.Read.All",
        }
    ),
    "dataverse": frozenset({"user_impersonation"}),
    "fno": frozenset({"Odata.FullAccess"}),
    "bap": frozenset({"user_impersonation"}),
}


class App:
    """The analyzer's Entra app registration and its service principal."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        sp_object_id: str,
        app_object_id: str,
        secret_expires_at: datetime,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.sp_object_id = sp_object_id
        self.app_object_id = app_object_id
        self.display_name = "license-analyzer"
        self.secret_expires_at = secret_expires_at
        self.secret_id = ""
        self.roles: set[str] = set(DEFAULT_ROLES)
        self.certificates: dict[str, x509.Certificate] = {}
        # Authentication > "Allow public client flows" (device code needs it)
        self.public_client = True
        self.delegated_grants: dict[str, set[str]] = {
            api: set(scopes) for api, scopes in DEFAULT_DELEGATED.items()
        }

    def add_certificate(self, pem_cert: bytes) -> str:
        """Registers a public certificate; returns its SHA-1 thumbprint in hex."""
        cert = x509.load_pem_x509_certificate(pem_cert)
        sha1, sha256 = thumbprints(cert)
        self.certificates[sha1] = cert
        self.certificates[sha256] = cert
        return cert.fingerprint(hashes.SHA1()).hex().upper()

    def generate_certificate(self) -> tuple[bytes, bytes]:
        """Creates and registers a certificate; returns (private key PEM, certificate PEM)."""
        key_pem, cert_pem = new_certificate("CN=license-analyzer")
        self.add_certificate(cert_pem)
        return key_pem, cert_pem


class User:
    __slots__ = (
        "idx",
        "id",
        "upn",
        "display_name",
        "given_name",
        "surname",
        "department",
        "job_title",
        "account_enabled",
        "user_type",
        "persona",
        "created",
        "mail",
        "direct",
        "direct_dates",
        "groups",
        "upper_sku",
        "none_error",
        "padded_state",
        "usage_location",
        "dyn_envs",
        "fno",
        "manager",
        "failed",
        "dormant_since",
    )

    def __init__(self, idx: int, uid: str, upn: str, given: str, surname: str) -> None:
        self.idx = idx
        self.id = uid
        self.upn = upn
        self.given_name = given
        self.surname = surname
        self.display_name = f"{given} {surname}"
        self.department: str | None = None
        self.job_title: str | None = None
        self.account_enabled = True
        self.user_type = "Member"
        self.persona = "m365"
        self.created = ""
        self.mail: str | None = upn
        # skuId -> disabledPlans of the direct assignment; dates of those assignments.
        self.direct: dict[str, list[str]] = {}
        self.direct_dates: dict[str, str] = {}
        self.groups: set[str] = set()
        self.upper_sku = False
        self.none_error = False
        self.padded_state = False
        self.usage_location = "US"
        self.dyn_envs: list[int] = []
        self.fno = False
        # (group id, skuId) -> error of a group licence Entra failed to assign (state Error)
        self.failed: dict[tuple[str, str], str] = {}
        # epoch seconds of a last sign-in before December 2023, nothing since (0 = none)
        self.dormant_since = 0
        self.manager: int | None = None  # index of the user's manager


@dataclass
class ManagedIdentity:
    """A managed identity's service principal: system-assigned (one per Azure resource) or
    user-assigned (a resource of its own), with the Graph app roles assigned to it."""

    kind: str  # "system" | "user"
    client_id: str
    object_id: str
    resource_id: str
    roles: set[str] = field(default_factory=lambda: set(DEFAULT_ROLES))
    attached: bool = True  # assigned to the Azure resource the job runs on


@dataclass
class Group:
    id: str
    display_name: str
    description: str
    group_types: list[str]
    membership_rule: str | None
    on_prem_sync: bool
    mail_enabled: bool
    security_enabled: bool
    mail_nickname: str
    licenses: list[tuple[str, list[str]]]
    created: str
    license_date: str
    members: list[int] = field(default_factory=list)
    # user index -> monotonic time when Entra finishes removing the inherited licences
    pending_removals: dict[int, float] = field(default_factory=dict)


@dataclass
class SkuPool:
    sku: Sku
    enabled: int
    warning: int = 0
    suspended: int = 0
    locked_out: int = 0
    capability_status: str = "Enabled"
    subscription_ids: list[str] = field(default_factory=list)


@dataclass
class Subscription:
    id: str
    commerce_id: str
    sku: Sku
    total: int
    status: str
    is_trial: bool
    created: str
    next_lifecycle: str | None


@dataclass
class SystemUser:
    systemuserid: str
    kind: str  # human | application | system | integration | support | orphan
    fullname: str
    domainname: str
    email: str | None
    aad_object_id: str | None
    user_idx: int
    isdisabled: bool
    accessmode: int
    applicationid: str | None
    islicensed: bool
    createdon: str
    azurestate: int = 0


@dataclass
class AuditColumns:
    """One env's access-audit records, sorted by createdon, kept columnar to fit 10M rows."""

    t: npt.NDArray[np.int64]
    su: npt.NDArray[np.int32]
    action: npt.NDArray[np.int8]
    legacy: npt.NDArray[np.bool_]
    delay: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return int(self.t.shape[0])


@dataclass
class SigninColumns:
    """User sign-ins, sorted by time; codes index the tables in activity.py."""

    t: npt.NDArray[np.int64]
    user: npt.NDArray[np.int32]
    resource: npt.NDArray[np.int8]
    app: npt.NDArray[np.int8]
    error: npt.NDArray[np.int8]
    interactive: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.t.shape[0])


class DataverseEnv:
    def __init__(
        self,
        index: int,
        name: str,
        url: str,
        display_name: str,
        org_id: str,
        env_id: str,
        clock: Callable[[], datetime],
    ) -> None:
        self.index = index
        self.name = name
        self.url = url
        self.display_name = display_name
        self.org_id = org_id
        self.env_id = env_id
        self.business_unit_id = ""
        self.application_user = True
        self.audit_interval_hours = 4
        self.audit_retention_days = 90
        self.systemusers: list[SystemUser] = []
        self.audit = AuditColumns(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int8),
            np.zeros(0, np.bool_),
            np.zeros(0, np.int32),
        )
        self._clock = clock
        self._auditing = True
        self._user_access = True
        # [start, end) epoch seconds when access records were not written
        self.off_intervals: list[list[int | None]] = []
        # client ids of other service principals (managed identities) with an application user
        self.app_users: set[str] = set()
        # Entra object ids of people whose systemuser holds System Administrator here
        self.delegated_admins: set[str] = set()
        # security roles (dataverse_security.py): roleid -> name; systemuserid -> roleids;
        # teamid -> (name, roleids, member systemuserids)
        self.security_roles: dict[str, str] = {}
        self.user_role_ids: dict[str, list[str]] = {}
        self.teams: dict[str, tuple[str, list[str], list[str]]] = {}

    def _switch(self, was_on: bool, now_on: bool) -> None:
        ts = int(self._clock().timestamp())
        if was_on and not now_on:
            self.off_intervals.append([ts, None])
        elif not was_on and now_on and self.off_intervals and self.off_intervals[-1][1] is None:
            self.off_intervals[-1][1] = ts

    @property
    def logging_access(self) -> bool:
        return self._auditing and self._user_access

    @property
    def auditing_enabled(self) -> bool:
        return self._auditing

    @auditing_enabled.setter
    def auditing_enabled(self, value: bool) -> None:
        before = self.logging_access
        self._auditing = bool(value)
        self._switch(before, self.logging_access)

    @property
    def user_access_audit_enabled(self) -> bool:
        return self._user_access

    @user_access_audit_enabled.setter
    def user_access_audit_enabled(self, value: bool) -> None:
        before = self.logging_access
        self._user_access = bool(value)
        self._switch(before, self.logging_access)


class FnoEnv:
    def __init__(self, index: int, name: str, url: str) -> None:
        self.index = index
        self.name = name
        self.url = url
        self.app_registered = True
        # client ids of other service principals (managed identities) registered here
        self.registered_clients: set[str] = set()
        self.users: list[dict[str, object]] = []
        # SecurityRoles and SecurityUserRoles (fno_security.py)
        self.roles: list[dict[str, object]] = []
        self.user_roles: list[dict[str, object]] = []
        # False: the app's F&O user lacks a role that may read the security entities
        self.security_readable = True


class Tenant:
    def __init__(
        self, tenant_id: str, display_name: str, domain: str, now: datetime, app: App
    ) -> None:
        self.id = tenant_id
        self.display_name = display_name
        self.domain = domain
        self.initial_domain = domain.split(".")[0] + ".onmicrosoft.com"
        self._now = now
        self.app = app
        self.has_p1 = True
        # Graph beta answers (some clouds and proxies refuse it)
        self.beta_available = True
        self.lock = threading.RLock()
        self.version = 0
        self.users: list[User] = []
        self.users_by_id: dict[str, User] = {}
        self.groups: list[Group] = []
        self.groups_by_id: dict[str, Group] = {}
        self.pools: list[SkuPool] = []
        self.subscriptions: list[Subscription] = []
        self.dataverse: list[DataverseEnv] = []
        self.finance_operations: list[FnoEnv] = []
        self.signins = SigninColumns(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int8),
            np.zeros(0, np.int8),
            np.zeros(0, np.int8),
            np.zeros(0, np.bool_),
        )
        # Last sign-in attempts older than the generated sign-in log, per user (0 = none).
        self.prior_interactive = np.zeros(0, np.int64)
        self.prior_success = np.zeros(0, np.int64)
        self.created_at = ""
        # the review app's registration and access groups (people.py)
        self.web_app: Any = None
        self.access_groups: Any = None
        # directory role display name -> object ids of the people who hold it (active)
        self.directory_roles: dict[str, set[str]] = {}
        self.managed_identities: list[ManagedIdentity] = []
        # Microsoft 365 workload use and Copilot licences (workloads.py), and the admin
        # center's "Display concealed user, group, and site names in all reports" setting
        # (admin/reportSettings displayConcealedNames)
        self.workloads: Any = None
        self.display_concealed_names = False

    def roles_of(self, object_id: str) -> set[str]:
        with self.lock:
            return {role for role, members in self.directory_roles.items() if object_id in members}

    @property
    def now(self) -> datetime:
        return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        with self.lock:
            self._now = value
            self.version += 1

    def touch(self) -> None:
        with self.lock:
            self.version += 1

    def group_members_effective(self, group: Group) -> list[int]:
        """Members whose inherited licences Entra has not yet taken away."""
        t = time.monotonic()
        pending = [u for u, deadline in group.pending_removals.items() if deadline > t]
        return group.members + pending
