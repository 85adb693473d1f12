"""Columnar activity: Dataverse access audits per environment and the sign-in log.

Vectorised with numpy so 200,000 users and 10 million audit records generate in seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from . import catalog as c
from .ids import guids, new_guid
from .tenant import AuditColumns, SigninColumns, SystemUser

if TYPE_CHECKING:
    from .options import SimulatorOptions
    from .tenant import DataverseEnv, Tenant, User

DAY = 86400
CRM_RESOURCE = "00000007-0000-0000-c000-000000000000"
ERP_RESOURCE = "00000015-0000-0000-c000-000000000000"
# (resourceId, resourceDisplayName) indexed by SigninColumns.resource
RESOURCES = (
    (CRM_RESOURCE, "Dataverse"),
    (ERP_RESOURCE, "Microsoft Dynamics ERP"),
    ("00000002-0000-0ff1-ce00-000000000000", "Office 365 Exchange Online"),
    ("00000003-0000-0ff1-ce00-000000000000", "Office 365 SharePoint Online"),
)
# (appId, appDisplayName) indexed by SigninColumns.app
APPS = (
    ("59d7fccf-1f97-4a79-bb78-e722112f9862", "Dynamics 365 Sales"),
    ("60216f25-dbae-452b-83ae-6224158ce95e", "Microsoft Dynamics CRM App for Outlook"),
    ("00000015-0000-0000-c000-000000000000", "Microsoft Dynamics ERP"),
    ("4765445b-32c6-49b0-83e6-1d93765276ca", "OfficeHome"),
    ("1fec8e78-bce4-4aaf-ab1b-5451cc387264", "Microsoft Teams"),
)
# (errorCode, failureReason) indexed by SigninColumns.error
ERRORS = (
    (0, None),
    (50126, "Error validating credentials due to invalid username or password."),
)
CE_SKUS = {
    c.DYN365_ENTERPRISE_SALES.sku_id: (0, 2),
    c.D365_SALES_PRO.sku_id: (0,),
    c.DYN365_SALES_PREMIUM.sku_id: (0, 3),
    c.DYN365_ENTERPRISE_CUSTOMER_SERVICE.sku_id: (1, 0),
    c.POWERAPPS_PER_USER.sku_id: (2,),
    c.DYN365_TEAM_MEMBERS.sku_id: (0, 1),
}


def _guid(rng: np.random.Generator) -> str:
    return new_guid(rng)


def _user_envs(tenant: Tenant, user: User, n_env: int, r: float) -> list[int]:
    from .generate import effective_sku_ids

    envs: list[int] = []
    for sku_id in effective_sku_ids(tenant, user):
        spots = CE_SKUS.get(sku_id)
        if not spots:
            continue
        envs.append(spots[0] % n_env)
        if len(spots) > 1 and r < 0.3:
            envs.append(spots[1] % n_env)
    return sorted(set(envs))


def _profile(
    tenant: Tenant, opts: SimulatorOptions, rng: np.random.Generator
) -> tuple[
    npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """Per user: weekday rate, when Dynamics use stops, rate of M365 use, when that stops."""
    n = len(tenant.users)
    now_ts = int(tenant.now.timestamp())
    rate = np.zeros(n)
    m365 = np.zeros(n)
    stop = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    mail_stop = stop.copy()
    draws = rng.random((n, 4))
    for u in tenant.users:
        d = draws[u.idx]
        p = u.persona
        base = 0.5 + 0.4 * d[0]
        if p in ("active", "m365", "fno"):
            rate[u.idx] = base
        elif p == "read_only":
            rate[u.idx] = 0.4 + 0.4 * d[0]
        elif p == "team_member":
            rate[u.idx] = 0.2 + 0.3 * d[0]
        elif p == "low_usage":
            rate[u.idx] = 0.03
        elif p == "guest":
            rate[u.idx] = 0.15
        elif p == "inactive":
            rate[u.idx] = base
            stop[u.idx] = mail_stop[u.idx] = now_ts - int((65 + 125 * d[1]) * DAY)
            if u.dormant_since:
                stop[u.idx] = mail_stop[u.idx] = u.dormant_since
        elif p == "disabled":
            rate[u.idx] = base
            stop[u.idx] = mail_stop[u.idx] = now_ts - int((90 + 300 * d[1]) * DAY)
        m365[u.idx] = 0.0 if p in ("service", "breakglass", "guest") else rate[u.idx] or 0.4
        if p == "never":
            m365[u.idx] = 0.5 if d[2] < 0.5 else 0.0
        if p == "inactive" and d[3] < 0.5 and not u.dormant_since:
            # Still reads mail: active in M365, idle in Dynamics.
            m365[u.idx] = base
            mail_stop[u.idx] = np.iinfo(np.int64).max // 2
    del opts
    return rate, stop, m365, mail_stop


def generate_activity(tenant: Tenant, opts: SimulatorOptions, rng: np.random.Generator) -> None:
    rate, stop, m365, mail_stop = _profile(tenant, opts, rng)
    n_env = len(tenant.dataverse)
    now_day = int(tenant.now.timestamp()) // DAY
    day0 = now_day - opts.history_days
    n_days = opts.history_days + opts.future_days + 1
    days = np.arange(day0, day0 + n_days, dtype=np.int64)
    # 1970-01-01 was a Thursday: weekday index 0 = Monday.
    weekday = (days + 3) % 7
    wfac = np.where(weekday < 5, 1.0, 0.08).astype(np.float32)
    env_draw = rng.random(len(tenant.users))
    if n_env:
        for u in tenant.users:
            u.dyn_envs = _user_envs(tenant, u, n_env, float(env_draw[u.idx]))
    for env in tenant.dataverse:
        _systemusers(tenant, env, opts, rng)
        _audits(tenant, env, opts, rng, rate, stop, days, wfac)
    _signins(tenant, opts, rng, rate, stop, m365, mail_stop, days, wfac)
    _fno_users(tenant, rng)


def _systemusers(
    tenant: Tenant, env: DataverseEnv, opts: SimulatorOptions, rng: np.random.Generator
) -> None:
    created = (tenant.now - timedelta(days=700)).strftime("%Y-%m-%dT%H:%M:%SZ")
    sus: list[SystemUser] = []
    members = sum(1 for u in tenant.users if env.index in u.dyn_envs)
    pool = iter(guids(rng, members + 16))

    def add(
        kind: str,
        name: str,
        domain: str,
        aad: str | None,
        idx: int = -1,
        disabled: bool = False,
        mode: int = 0,
        app_id: str | None = None,
        licensed: bool = False,
        email: str | None = None,
        state: int = 0,
    ) -> None:
        sus.append(
            SystemUser(
                next(pool),
                kind,
                name,
                domain,
                email,
                aad,
                idx,
                disabled,
                mode,
                app_id,
                licensed,
                created,
                state,
            )
        )

    add("system", "SYSTEM", "", None, disabled=True)
    add("integration", "INTEGRATION", "", None, disabled=True)
    add(
        "application",
        "# Dynamics 365 Sales App",
        "",
        None,
        mode=4,
        app_id="d6ab5a1a-3b6c-4d1e-9e2b-5a7c2f1c0a11",
    )
    add(
        "application",
        "# Power Automate Flows",
        "",
        None,
        mode=4,
        app_id="7df0a125-d3be-4c96-aa54-591f83ff541c",
    )
    add("support", "Microsoft Support", "crmoln@microsoft.com", None, mode=3)
    add("support", "Delegated Admin", "delegatedadmin@partner.onmicrosoft.com", None, mode=5)
    shared = env.index == 0 or not opts.traps.per_env_systemuserids
    for u in tenant.users:
        if env.index not in u.dyn_envs:
            continue
        mode = 2 if u.persona == "read_only" else 0
        add(
            "human",
            u.display_name,
            u.upn,
            u.id,
            u.idx,
            disabled=not u.account_enabled,
            mode=mode,
            licensed=True,
            email=u.mail,
        )
        if shared:
            # Without the per-environment trap a person keeps one systemuserid everywhere.
            sus[-1].systemuserid = _stable_id(u.id)
    for k in range(3):
        add(
            "orphan",
            f"Former Employee {k + 1}",
            f"former.employee{k + 1}@{tenant.domain}",
            _guid(rng),
            disabled=k == 0,
            licensed=False,
            state=2,
            email=f"former.employee{k + 1}@{tenant.domain}",
        )
    env.systemusers = sus


def _stable_id(entra_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, "systemuser:" + entra_id))


def _active_days(
    rng: np.random.Generator,
    rates: npt.NDArray[np.float64],
    stops: npt.NDArray[np.int64],
    days: npt.NDArray[np.int64],
    wfac: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(row, day index) of every active day, in chunks so 200k x 260 stays small."""
    rows: list[npt.NDArray[np.intp]] = []
    cols: list[npt.NDArray[np.intp]] = []
    chunk = 8192
    day_ts = days * DAY
    for start in range(0, len(rates), chunk):
        r = rates[start : start + chunk].astype(np.float32)
        draw = rng.random((len(r), len(days)), dtype=np.float32)
        mask = draw < r[:, None] * wfac[None, :]
        mask &= day_ts[None, :] < stops[start : start + chunk, None]
        rr, cc = np.nonzero(mask)
        rows.append(rr + start)
        cols.append(cc)
    if not rows:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    return np.concatenate(rows), np.concatenate(cols)


def _audits(
    tenant: Tenant,
    env: DataverseEnv,
    opts: SimulatorOptions,
    rng: np.random.Generator,
    rate: npt.NDArray[np.float64],
    stop: npt.NDArray[np.int64],
    days: npt.NDArray[np.int64],
    wfac: npt.NDArray[np.float32],
) -> None:
    now_ts = int(tenant.now.timestamp())
    su_index = np.array(
        [i for i, s in enumerate(env.systemusers) if s.kind == "human"], dtype=np.int32
    )
    user_of = np.array([env.systemusers[i].user_idx for i in su_index], dtype=np.int64)
    su_rates = rate[user_of] if len(user_of) else np.zeros(0)
    su_stops = stop[user_of] if len(user_of) else np.zeros(0, np.int64)
    # Orphans were active long ago; app users call the Web API around the clock.
    extra_su, extra_rate, extra_stop = [], [], []
    for i, s in enumerate(env.systemusers):
        if s.kind == "orphan":
            extra_su.append(i)
            extra_rate.append(0.5)
            extra_stop.append(now_ts - 150 * DAY)
        elif s.kind == "application":
            extra_su.append(i)
            extra_rate.append(0.9)
            extra_stop.append(np.iinfo(np.int64).max // 2)
    su_all = np.concatenate([su_index, np.array(extra_su, dtype=np.int32)])
    rates = np.concatenate([su_rates, np.array(extra_rate)])
    stops = np.concatenate([su_stops, np.array(extra_stop, dtype=np.int64)])
    rows, cols = _active_days(rng, rates, stops, days, wfac)
    n = len(rows)
    # Up to three access intervals per active day, each at least one interval apart.
    k = 1 + (rng.random(n) < 0.45).astype(np.int64) + (rng.random(n) < 0.15).astype(np.int64)
    h = env.audit_interval_hours * 3600
    slots_per_day = max(1, 86400 // h)
    s0 = rng.integers(1, max(2, slots_per_day - 2), n)
    offset = rng.integers(0, h, n)
    rows = np.repeat(rows, k)
    base = np.repeat(days[cols] * DAY + offset, k)
    first = np.repeat(np.cumsum(k) - k, k)
    j = np.arange(len(rows)) - first
    slot = np.minimum(np.repeat(s0, k) + j, slots_per_day - 1)
    t = base + slot * h
    # Two slots clamped to the day's last one would collide: keep one record per slot.
    keep = np.ones(len(t), dtype=bool)
    keep[1:] = ~((rows[1:] == rows[:-1]) & (t[1:] == t[:-1]))
    rows, t = rows[keep], t[keep]
    m = len(t)
    su = su_all[rows]
    is_app = np.isin(
        su,
        np.array(
            [i for i, s in enumerate(env.systemusers) if s.kind == "application"], dtype=np.int32
        ),
    )
    action = np.where(is_app | (rng.random(m) < 0.25), 65, 64).astype(np.int8)
    if opts.traps.late_audits:
        late = rng.random(m) < 0.08
        delay = np.where(late, rng.integers(7200, 14 * 3600, m), rng.integers(30, 600, m))
    else:
        delay = np.zeros(m, dtype=np.int64)
    legacy = (t < now_ts - 150 * DAY) & (rng.random(m) < 0.35)
    order = np.argsort(t)
    env.audit = AuditColumns(
        t[order].astype(np.int64),
        su[order].astype(np.int32),
        action[order],
        legacy[order],
        delay[order].astype(np.int32),
    )


def _signins(
    tenant: Tenant,
    opts: SimulatorOptions,
    rng: np.random.Generator,
    rate: npt.NDArray[np.float64],
    stop: npt.NDArray[np.int64],
    m365: npt.NDArray[np.float64],
    mail_stop: npt.NDArray[np.int64],
    days: npt.NDArray[np.int64],
    wfac: npt.NDArray[np.float32],
) -> None:
    now_ts = int(tenant.now.timestamp())
    n = len(tenant.users)
    win_start = (now_ts // DAY - 35) * DAY
    ni = NonInteractive(tenant, opts) if opts.traps.non_interactive_signins else None
    parts_t: list[npt.NDArray[np.int64]] = []
    parts_u: list[npt.NDArray[np.int64]] = []
    parts_r: list[npt.NDArray[np.int64]] = []
    parts_a: list[npt.NDArray[np.int64]] = []
    parts_e: list[npt.NDArray[np.int64]] = []
    parts_i: list[npt.NDArray[np.bool_]] = []

    def add(
        t: npt.NDArray[np.int64],
        u: npt.NDArray[np.int64],
        res: int | npt.NDArray[np.int64],
        app: npt.NDArray[np.int64],
        err: int = 0,
        interactive: bool | npt.NDArray[np.bool_] = True,
    ) -> None:
        parts_t.append(t)
        parts_u.append(u)
        parts_r.append(np.broadcast_to(np.asarray(res, dtype=np.int64), t.shape).copy())
        parts_a.append(app)
        parts_e.append(np.full(len(t), err, dtype=np.int64))
        parts_i.append(np.broadcast_to(np.asarray(interactive, dtype=np.bool_), t.shape).copy())

    prior = np.zeros(n, dtype=np.int64)
    # CRM sign-ins: one shortly before the first Dataverse access of each user-day.
    for env in tenant.dataverse:
        a = env.audit
        human = np.array([s.user_idx for s in env.systemusers], dtype=np.int64)
        uidx = human[a.su]
        ok = uidx >= 0
        before = ok & (a.t < win_start)
        np.maximum.at(prior, uidx[before], a.t[before])
        sel = ok & (a.t >= win_start)
        key = uidx[sel] * 100000 + a.t[sel] // DAY
        uniq, first = np.unique(key, return_index=True)
        t_first = a.t[sel][first] - rng.integers(60, 1200, len(first))
        apps = rng.integers(0, 2, len(first))
        if ni is not None:
            ni.crm(add, t_first, uniq // 100000, apps)
        else:
            add(t_first, uniq // 100000, 0, apps)
    # ERP, and M365 workloads, drawn per day inside the log window.
    win_days = days[days * DAY >= win_start]
    win_fac = wfac[days * DAY >= win_start]
    fno = np.array([u.fno for u in tenant.users])
    fno_idx = np.nonzero(fno)[0]
    rows, cols = _active_days(rng, rate[fno_idx], stop[fno_idx], win_days, win_fac)
    t = win_days[cols] * DAY + rng.integers(6 * 3600, 17 * 3600, len(rows))
    if ni is not None:
        ni.erp(add, t, fno_idx[rows])
    else:
        add(t, fno_idx[rows], 1, np.full(len(rows), 2, dtype=np.int64))
    m_idx = np.nonzero(m365 > 0)[0]
    rows, cols = _active_days(rng, m365[m_idx] * 0.5, mail_stop[m_idx], win_days, win_fac)
    t = win_days[cols] * DAY + rng.integers(6 * 3600, 19 * 3600, len(rows))
    add(t, m_idx[rows], rng.integers(2, 4, len(rows)), rng.integers(3, 5, len(rows)))
    # Before the window, users with M365 use signed in about daily until they stopped.
    alive = m365 > 0
    last_before = np.minimum(mail_stop, win_start) - rng.integers(0, 2 * DAY, n)
    prior = np.where(alive, np.maximum(prior, last_before), prior)
    # Failed attempts make lastSignInDateTime newer than real use for some idle people.
    idle = np.array([u.persona in ("inactive", "disabled") and not u.dormant_since
                     for u in tenant.users])
    failed = np.nonzero(idle & (rng.random(n) < 0.4))[0]
    t = now_ts - rng.integers(DAY, 25 * DAY, len(failed))
    add(t, failed, 2, np.full(len(failed), 3, dtype=np.int64), err=1)
    all_t = np.concatenate(parts_t)
    order = np.argsort(all_t)
    tenant.signins = SigninColumns(
        all_t[order],
        np.concatenate(parts_u)[order].astype(np.int32),
        np.concatenate(parts_r)[order].astype(np.int8),
        np.concatenate(parts_a)[order].astype(np.int8),
        np.concatenate(parts_e)[order].astype(np.int8),
        np.concatenate(parts_i)[order],
    )
    never = np.array([u.persona in ("never", "breakglass", "service") for u in tenant.users])
    prior[never & (m365 == 0)] = 0
    tenant.prior_interactive = prior
    tenant.prior_success = prior.copy()


Add = Callable[..., None]


class NonInteractive:
    """Non-interactive user sign-ins: token refreshes after a browser sign-in, and people whose
    use is only non-interactive (the Outlook app, the Excel add-in, mobile apps), which the
    v1.0 sign-in log never shows: "This API returns only interactive sign-ins unless you set an
    explicit filter" (https://learn.microsoft.com/graph/api/resources/signin?view=graph-rest-beta).
    Drawn from their own random stream, so the rest of the tenant stays as it was."""

    def __init__(self, tenant: Tenant, opts: SimulatorOptions) -> None:
        self.rng = np.random.default_rng(opts.seed + 1802)
        idx = np.arange(len(tenant.users))
        # every fifth Dynamics user works only through the Outlook app; every third F&O user
        # only through the Excel add-in
        self.crm_only = (idx % 5 == 3)
        self.erp_only = (idx % 3 == 1)

    def _refreshes(self, add: Add, t: npt.NDArray[np.int64], users: npt.NDArray[np.int64],
                   res: int, apps: npt.NDArray[np.int64]) -> None:
        """0-2 token refreshes later the same day after each sign-in."""
        k = self.rng.integers(0, 3, len(t))
        rows = np.repeat(np.arange(len(t)), k)
        later = t[rows] + self.rng.integers(600, 8 * 3600, len(rows))
        same_day = later // DAY == t[rows] // DAY
        rows, later = rows[same_day], later[same_day]
        add(later, users[rows], res, apps[rows], interactive=False)

    def crm(self, add: Add, t: npt.NDArray[np.int64], users: npt.NDArray[np.int64],
            apps: npt.NDArray[np.int64]) -> None:
        only = self.crm_only[users]
        # the Outlook app signs in without the person typing anything
        add(t, users, 0, np.where(only, 1, apps), interactive=~only)
        self._refreshes(add, t, users, 0, np.where(only, 1, apps))

    def erp(self, add: Add, t: npt.NDArray[np.int64], users: npt.NDArray[np.int64]) -> None:
        only = self.erp_only[users]
        apps = np.full(len(t), 2, dtype=np.int64)
        add(t, users, 1, apps, interactive=~only)
        self._refreshes(add, t, users, 1, apps)


def _fno_users(tenant: Tenant, rng: np.random.Generator) -> None:
    fno_people = [u for u in tenant.users if u.fno]
    for env in tenant.finance_operations:
        env.users = _fno_rows(tenant, env.index, fno_people, rng)


def _fno_rows(
    tenant: Tenant, env_index: int, fno_people: list[User], rng: np.random.Generator
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    seen: set[str] = set()

    def user_id(base: str) -> str:
        uid = base[:20]
        k = 1
        while uid.lower() in seen:
            k += 1
            uid = f"{base[:18]}{k}"
        seen.add(uid.lower())
        return uid

    def row(
        uid: str,
        name: str,
        alias: str,
        email: str,
        enabled: bool,
        oid: str,
        external: bool = False,
        company: str = "USMF",
    ) -> None:
        rows.append(
            {
                "@odata.etag": f'W/"JzEsNTYzNzE0{len(rows):05d}Jyc="',
                "UserID": uid,
                "UserName": name,
                "Alias": alias,
                "Email": email,
                "Enabled": enabled,
                "Company": company,
                "NetworkDomain": "https://sts.windows.net/",
                "UserObjectId": oid,
                "AccountType": "ClaimsUser",
                "ExternalUser": external,
                "UserInfo_language": "en-us",
                "PersonName": name if alias else "",
            }
        )

    admin = tenant.users[0]
    row("Admin", admin.display_name, admin.upn, admin.upn, True, admin.id)
    row(user_id("wfexc"), "Workflow execution account", "", "", True, "")
    row(user_id("RetailServiceAccount"), "Retail service account", "", "", True, "")
    for u in fno_people:
        if env_index > 0 and u.idx % 3 == 0:
            continue
        r = rng.random()
        base = (u.given_name[0] + u.surname).lower().replace(" ", "")
        alias = u.upn
        oid = u.id
        if r < 0.25:
            # Imported before Entra object ids were stamped: join on Alias only.
            oid = ""
            local, domain = u.upn.split("@")
            alias = local.title() + "@" + domain.title()
        row(
            user_id(base),
            u.display_name,
            alias,
            u.mail or u.upn,
            u.account_enabled and r < 0.95,
            oid,
            company="USMF" if r < 0.7 else "DEMF",
        )
    for k in range(3):
        alias = f"contractor{k + 1}@partner-consulting.com"
        row(
            user_id(f"contr{k + 1}"),
            f"Contractor {k + 1}",
            alias,
            alias,
            k != 2,
            _guid(rng) if k == 0 else "",
            external=True,
        )
    return rows
