"""Deterministic tenant generation: people, licences, groups, pools and environments."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np

from . import catalog as c
from .activity import generate_activity
from .dataverse_security import assign_dataverse_roles
from .fno_security import assign_roles
from .identities import add_identities
from .ids import guids, iso, new_guid
from .options import SimulatorOptions
from .people import add_people
from .tenant import App, DataverseEnv, FnoEnv, Group, SkuPool, Subscription, Tenant, User
from .workloads import add_workloads

FIRST = [
    "Adele",
    "Alex",
    "Allan",
    "Ben",
    "Bianca",
    "Carlos",
    "Chloe",
    "Diego",
    "Dana",
    "Elena",
    "Ethan",
    "Fatima",
    "Grace",
    "Hiro",
    "Isaac",
    "Ivy",
    "Jamal",
    "Julia",
    "Kenji",
    "Lara",
    "Liam",
    "Maya",
    "Megan",
    "Nadia",
    "Nestor",
    "Omar",
    "Olivia",
    "Pradeep",
    "Priya",
    "Quinn",
    "Raul",
    "Rosa",
    "Sam",
    "Sofia",
    "Tariq",
    "Uma",
    "Victor",
    "Wendy",
    "Xavier",
    "Yara",
    "Zoe",
    "Lee",
]
LAST = [
    "Vance",
    "Wilber",
    "Brown",
    "Garcia",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Gupta",
    "Hansen",
    "Ito",
    "Jensen",
    "Kim",
    "Lopez",
    "Muller",
    "Nakamura",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhang",
    "Adams",
    "Baker",
    "Cole",
    "Dubois",
    "Ek",
    "Fontaine",
    "Grant",
    "Holt",
    "Ivanova",
    "Jones",
    "Khan",
]
DEPARTMENTS = (
    "Sales",
    "Customer Service",
    "Finance",
    "Operations",
    "IT",
    "HR",
    "Marketing",
    "Legal",
    "Engineering",
    "Executive",
)
ENV_NAMES = (
    "contoso-sales",
    "contoso-service",
    "contoso-apps",
    "contoso-marketing",
    "contoso-field",
    "contoso-dev",
)
FNO_NAMES = ("contoso-prod", "contoso-uat", "contoso-test")
PERSONAS = (
    ("m365", 0.44),
    ("active", 0.17),
    ("low_usage", 0.04),
    ("inactive", 0.07),
    ("never", 0.04),
    ("read_only", 0.03),
    ("team_member", 0.03),
    ("fno", 0.06),
    ("disabled", 0.04),
    ("guest", 0.05),
    ("service", 0.03),
)
DYNAMICS_PERSONAS = frozenset({"active", "low_usage", "inactive", "never", "read_only"})
EXCHANGE_PLAN = "efb87545-963c-4e0d-99df-69c6916d9eb0"


def build_tenant(opts: SimulatorOptions, base_url: str) -> Tenant:
    rng = np.random.default_rng(opts.seed)
    now = opts.now
    app = App(new_guid(rng), "", new_guid(rng), new_guid(rng), now + timedelta(days=200))
    app.client_secret = "sim~" + rng.bytes(24).hex()
    app.secret_id = new_guid(rng)
    tenant = Tenant(new_guid(rng), "Contoso Ltd", "contoso.com", now, app)
    tenant.created_at = iso(now - timedelta(days=2400))
    _users(tenant, opts, rng)
    _groups(tenant, rng)
    _licences(tenant, rng)
    if opts.traps.group_license_errors:
        _group_errors(tenant)
    if opts.traps.success_not_backfilled:
        _dormant(tenant)
    _pools(tenant, rng, opts)
    for i in range(opts.dataverse_envs):
        name = ENV_NAMES[i] if i < len(ENV_NAMES) else f"contoso-env{i}"
        env = DataverseEnv(
            i,
            name,
            f"{base_url}/orgs/{name}",
            name.replace("-", " ").title(),
            new_guid(rng),
            new_guid(rng),
            lambda: tenant.now,
        )
        env.business_unit_id = new_guid(rng)
        env.audit_retention_days = 90 if i % 2 == 0 else -1
        tenant.dataverse.append(env)
    for i in range(opts.fno_envs):
        name = FNO_NAMES[i] if i < len(FNO_NAMES) else f"contoso-fno{i}"
        tenant.finance_operations.append(FnoEnv(i, name, f"{base_url}/fno/{name}"))
    generate_activity(tenant, opts, rng)
    add_people(tenant, opts)
    add_identities(tenant)
    # Last, each on a random stream of its own: what came before stays as it was.
    add_workloads(tenant, opts)
    assign_roles(tenant, opts)
    assign_dataverse_roles(tenant, opts)
    return tenant


def _users(tenant: Tenant, opts: SimulatorOptions, rng: np.random.Generator) -> None:
    n = max(opts.users, 20)
    names, weights = zip(*PERSONAS, strict=True)
    probs = np.array(weights) / sum(weights)
    picks = rng.choice(len(names), size=n, p=probs)
    firsts = rng.integers(0, len(FIRST), n)
    lasts = rng.integers(0, len(LAST), n)
    depts = rng.integers(0, len(DEPARTMENTS), n)
    created_days = rng.integers(30, 2000, n)
    ids = guids(rng, n)
    flags = rng.random((n, 4))
    seen: dict[str, int] = {}
    traps = opts.traps
    for i in range(n):
        first, last = FIRST[firsts[i]], LAST[lasts[i]]
        persona = names[picks[i]]
        if i == 0:
            persona, first, last = "active", "Admin", "Contoso"
        elif i == 1:
            persona, first, last = "breakglass", "Break", "Glass"
        elif i < 2 + len(names):
            # The small tenants used in tests still get one of every persona.
            persona = names[(i - 2) % len(names)]
        local = f"{first}.{last}".lower()
        k = seen.get(local, 0)
        seen[local] = k + 1
        if k:
            local = f"{local}{k + 1}"
        uid = ids[i]
        if persona == "guest":
            upn = f"{local}_fabrikam.com#EXT#@{tenant.initial_domain}"
        elif persona == "service":
            local = f"svc-{local.replace('.', '-')}"
            upn = f"{local}@{tenant.domain}"
            first, last = "svc", f"{first} {last}"
        elif persona == "breakglass":
            upn = f"breakglass@{tenant.initial_domain}"
        else:
            upn = f"{local}@{tenant.domain}"
        user = User(i, uid, upn, first, last)
        user.persona = persona
        user.department = DEPARTMENTS[depts[i]]
        if persona in ("active", "low_usage", "inactive", "never", "read_only"):
            user.department = "Sales" if flags[i, 0] < 0.6 else "Customer Service"
        elif persona == "fno":
            user.department = "Finance" if flags[i, 0] < 0.6 else "Operations"
        elif persona in ("guest", "breakglass"):
            user.department = None
        elif persona == "service":
            user.department = "IT"
        user.job_title = None if persona in ("guest", "service", "breakglass") else "Specialist"
        user.created = iso(tenant.now - timedelta(days=int(created_days[i]), hours=i % 24))
        if persona == "guest":
            user.user_type = "Guest"
            user.mail = f"{local}@fabrikam.com"
        if persona == "disabled":
            user.account_enabled = False
        user.upper_sku = traps.sku_id_case and flags[i, 1] < 0.05
        user.none_error = traps.none_error_strings and flags[i, 2] < 0.1
        user.padded_state = traps.none_error_strings and flags[i, 3] < 0.05
        tenant.users.append(user)
        tenant.users_by_id[uid] = user


def _groups(tenant: Tenant, rng: np.random.Generator) -> None:
    created = iso(tenant.now - timedelta(days=900))
    lic = iso(tenant.now - timedelta(days=400))
    specs: list[tuple[str, str, list[str], str | None, bool, bool, list[tuple[str, list[str]]]]] = [
        (
            "Dynamics Sales Users",
            "Cloud security group that licenses Sales",
            [],
            None,
            False,
            False,
            [(c.DYN365_ENTERPRISE_SALES.sku_id, [])],
        ),
        (
            "All Finance Users",
            "Dynamic group for Finance",
            ["DynamicMembership"],
            '(user.department -eq "Finance")',
            False,
            False,
            [(c.DYN365_FINANCE.sku_id, [])],
        ),
        (
            "CORP-M365-E3",
            "Synced from on-premises AD",
            [],
            None,
            True,
            False,
            [(c.SPE_E3.sku_id, [])],
        ),
        (
            "Customer Service Team",
            "Mail-enabled security group",
            [],
            None,
            False,
            True,
            [(c.DYN365_ENTERPRISE_CUSTOMER_SERVICE.sku_id, [])],
        ),
        (
            "Power Platform Makers",
            "Carries two licences",
            [],
            None,
            False,
            False,
            [(c.POWERAPPS_PER_USER.sku_id, []), (c.DYN365_TEAM_MEMBERS.sku_id, [])],
        ),
        (
            "Project Alpha",
            "Collaboration group without licences",
            ["Unified"],
            None,
            False,
            True,
            [],
        ),
    ]
    for name, desc, types, rule, synced, mail, lics in specs:
        gid = new_guid(rng)
        nick = name.lower().replace(" ", "-")
        tenant.groups.append(
            Group(
                gid,
                name,
                desc,
                types,
                rule,
                synced,
                mail or "Unified" in types,
                "Unified" not in types,
                nick,
                lics,
                created,
                lic,
            )
        )
    tenant.groups_by_id = {g.id: g for g in tenant.groups}


def _date_before(tenant: Tenant, draws: Iterator[float], lo: int, hi: int) -> str:
    days = lo + int(next(draws) * (hi - lo))
    return iso(tenant.now - timedelta(days=days, seconds=int(next(draws) * 86400)))


def _licences(tenant: Tenant, rng: np.random.Generator) -> None:
    sales_g, fin_g, e3_g, cs_g, makers_g, _ = tenant.groups
    n_env = 1

    def give(
        u: User, sku: c.Sku, disabled: list[str] | None = None, lo: int = 40, hi: int = 900
    ) -> None:
        u.direct[sku.sku_id] = list(disabled or [])
        u.direct_dates[sku.sku_id] = _date_before(tenant, draws, lo, hi)

    def join(u: User, g: Group) -> None:
        g.members.append(u.idx)
        u.groups.add(g.id)

    del n_env
    # One bulk draw instead of a Generator call per user keeps 200k users fast.
    per_user = rng.random((len(tenant.users), 8))
    draws = iter(rng.random(12 * len(tenant.users) + 64).tolist())
    for u in tenant.users:
        r = per_user[u.idx]
        p = u.persona
        if p == "breakglass":
            give(u, c.SPE_E3)
            continue
        if p == "guest":
            if r[0] < 0.25:
                give(u, c.DYN365_TEAM_MEMBERS)
            continue
        if p == "service":
            give(u, c.POWERAPPS_PER_USER if r[0] < 0.5 else c.ENTERPRISEPACK)
            continue
        # Productivity base licence.
        if u.department in ("HR", "Legal", "Marketing") and r[1] < 0.8:
            join(u, e3_g)
        elif r[2] < 0.2:
            give(u, c.SPE_E5)
            if r[3] < 0.12:
                give(u, c.SPE_E3)  # E5 beside E3: overlap
        elif r[2] < 0.9:
            if r[3] < 0.06:
                give(u, c.SPE_E3, [EXCHANGE_PLAN])
                give(u, c.ENTERPRISEPACK)  # mailbox kept on O365 E3
            else:
                give(u, c.SPE_E3)
        else:
            give(u, c.ENTERPRISEPACK)
            if r[3] < 0.3:
                give(u, c.AAD_PREMIUM)
        if r[4] < 0.08:
            give(u, c.FLOW_FREE)
        if p == "fno":
            u.fno = True
            if u.department == "Finance":
                join(u, fin_g)
                if r[5] < 0.1:
                    give(u, c.DYN365_FINANCE)  # both direct and via the dynamic group
            else:
                give(u, c.DYN365_SCM)
            continue
        if p == "team_member":
            give(u, c.DYN365_TEAM_MEMBERS)
            continue
        if p in DYNAMICS_PERSONAS or (p == "disabled" and r[5] < 0.6):
            lo = 3 if p == "never" and r[6] < 0.4 else 40
            if p == "read_only" or (u.department == "Sales" and r[5] < 0.75):
                if r[6] < 0.45 and p != "never":
                    join(u, sales_g)
                else:
                    give(u, c.DYN365_ENTERPRISE_SALES, lo=lo)
                if r[7] < 0.15:
                    give(u, c.DYN365_TEAM_MEMBERS)
            elif u.department == "Sales":
                if r[6] < 0.7:
                    give(u, c.D365_SALES_PRO, lo=lo)
                else:
                    give(u, c.DYN365_SALES_PREMIUM, lo=lo)
            elif r[5] < 0.85:
                if r[6] < 0.4:
                    join(u, cs_g)
                else:
                    give(u, c.DYN365_ENTERPRISE_CUSTOMER_SERVICE, lo=lo)
                if r[7] < 0.1:
                    give(u, c.D365_SALES_ENT_ATTACH)
            else:
                join(u, makers_g)


# "Not enough licenses ... PowerShell cmdlets report this error as CountViolation"; a group
# licence that fails is "recorded in an error state" on the user and assigns nothing:
# https://learn.microsoft.com/entra/identity/users/licensing-groups-resolve-problems
COUNT_VIOLATION = "CountViolation"


def _group_errors(tenant: Tenant) -> None:
    """The Customer Service licensing group outgrew its seats: its last members (by joining
    order) are in state Error with CountViolation, unless they hold the SKU another way."""
    group = next(g for g in tenant.groups if g.display_name == "Customer Service Team")
    sku_id = c.DYN365_ENTERPRISE_CUSTOMER_SERVICE.sku_id
    members = [tenant.users[i] for i in group.members if sku_id not in tenant.users[i].direct]
    for user in members[len(members) - max(1, len(members) // 10):] if len(members) > 1 else []:
        user.failed[(group.id, sku_id)] = COUNT_VIOLATION


def _dormant(tenant: Tenant) -> None:
    """Every fourth idle person last tried to sign in before December 2023 and holds licences
    assigned before that: Graph shows the attempt but no successful sign-in."""
    idle = [u for u in tenant.users if u.persona == "inactive" and u.direct]
    for k, user in enumerate(idle[::4]):
        attempt = datetime(2023, 3, 1, 9, tzinfo=UTC) + timedelta(days=(k * 37) % 240)
        if attempt >= tenant.now - timedelta(days=400):
            return  # a tenant clock set before those days has no such people
        user.dormant_since = int(attempt.timestamp())
        for sku_id in user.direct:
            user.direct_dates[sku_id] = iso(attempt - timedelta(days=300 + k % 200))


def _pools(tenant: Tenant, rng: np.random.Generator, opts: SimulatorOptions) -> None:
    counts: dict[str, int] = {}
    for u in tenant.users:
        for sku_id in effective_sku_ids(tenant, u):
            counts[sku_id] = counts.get(sku_id, 0) + 1
    plans = {
        # part number: (purchased factor, extra seats, status)
        "DYN365_ENTERPRISE_SALES": (1.0, -2, "Enabled"),  # over-assigned
        "D365_SALES_PRO": (0.0, 0, "Warning"),
        "DYN365_SALES_PREMIUM": (1.0, 1, "Enabled"),
        "DYN365_ENTERPRISE_CUSTOMER_SERVICE": (1.1, 3, "Enabled"),
        "DYN365_TEAM_MEMBERS": (1.0, 5, "Enabled"),
        "DYN365_FINANCE": (1.0, 2, "Enabled"),
        "DYN365_SCM": (1.6, 10, "Enabled"),  # shelfware
        "POWERAPPS_PER_USER": (1.0, 2, "Enabled"),
        "SPE_E3": (1.05, 10, "Enabled"),
        "SPE_E5": (1.0, 3, "Enabled"),
        "ENTERPRISEPACK": (1.0, 5, "Enabled"),
        "AAD_PREMIUM": (2.0, 10, "Warning" if opts.traps.p1_in_grace else "Enabled"),
        "CDS_DB_CAPACITY": (0.0, 20, "Enabled"),
        "FLOW_FREE": (0.0, 10000, "Enabled"),
        "D365_SALES_ENT_ATTACH": (1.0, 0, "Enabled"),
    }
    if opts.traps.group_license_errors:
        # the group's failed members are exactly the seats that were not bought
        plans["DYN365_ENTERPRISE_CUSTOMER_SERVICE"] = (1.0, 0, "Enabled")
    now = tenant.now
    for sku in c.ALL_SKUS:
        factor, extra, status = plans[sku.part_number]
        used = counts.get(sku.sku_id, 0)
        pool = SkuPool(sku, enabled=max(0, int(used * factor) + extra), capability_status=status)
        if status == "Warning":
            pool.warning, pool.enabled = max(used, 5), 0
        subs = 2 if sku.part_number in ("SPE_E3", "DYN365_ENTERPRISE_SALES") else 1
        remaining = pool.enabled + pool.warning
        for k in range(subs):
            sid = new_guid(rng)
            total = remaining if k == subs - 1 else remaining // 2
            remaining -= total
            days = int(rng.integers(20, 330))
            if sku.part_number in ("DYN365_ENTERPRISE_SALES", "DYN365_TEAM_MEMBERS"):
                days = 45 + 20 * k  # renewals inside the 90-day horizon
            trial = sku.part_number == "DYN365_SALES_PREMIUM" and k == 0
            tenant.subscriptions.append(
                Subscription(
                    sid,
                    new_guid(rng),
                    sku,
                    total,
                    status,
                    trial,
                    iso(now - timedelta(days=int(rng.integers(100, 1500)))),
                    None if sku.part_number == "FLOW_FREE" else iso(now + timedelta(days=days)),
                )
            )
            pool.subscription_ids.append(sid)
        tenant.pools.append(pool)
    if opts.traps.subscription_lifecycle:
        _lifecycle(tenant, opts)


def _lifecycle(tenant: Tenant, opts: SimulatorOptions) -> None:
    """Subscriptions that will not renew, inside the 90-day renewal horizon: a trial ending, a
    Suspended one (no seat assignable; it moves on at nextLifecycleDateTime unless reactivated)
    and a LockedOut one. Status values, isTrial and nextLifecycleDateTime as in
    https://learn.microsoft.com/graph/api/resources/companysubscription"""
    rng = np.random.default_rng(opts.seed + 18)  # its own stream: the rest stays as it was
    now = tenant.now
    for sub in tenant.subscriptions:
        if sub.is_trial:
            sub.next_lifecycle = iso(now + timedelta(days=25))
    pools = {p.sku.part_number: p for p in tenant.pools}
    for part, status, seats, days in (("DYN365_ENTERPRISE_CUSTOMER_SERVICE", "Suspended", 10, 30),
                                      ("DYN365_TEAM_MEMBERS", "LockedOut", 5, 60)):
        pool = pools[part]
        sid = new_guid(rng)
        tenant.subscriptions.append(Subscription(
            sid, new_guid(rng), pool.sku, seats, status, False,
            iso(now - timedelta(days=400)), iso(now + timedelta(days=days))))
        pool.subscription_ids.append(sid)
        if status == "Suspended":
            pool.suspended += seats
        else:
            pool.locked_out += seats


def effective_sku_ids(tenant: Tenant, user: User) -> list[str]:
    """Distinct skuIds the user holds directly or through a group (pending removals count); a
    group licence Entra failed to assign (state Error) holds nothing."""
    out = list(user.direct)
    for gid in sorted(user.groups) + pending_groups(tenant, user):
        for sku_id, _ in tenant.groups_by_id[gid].licenses:
            if sku_id not in out and (gid, sku_id) not in user.failed:
                out.append(sku_id)
    return out


def pending_groups(tenant: Tenant, user: User) -> list[str]:
    import time

    t = time.monotonic()
    return [
        g.id
        for g in tenant.groups
        if g.pending_removals.get(user.idx, 0.0) > t and g.id not in user.groups
    ]
