"""Microsoft 365 workload use per person (Exchange, Teams, OneDrive, SharePoint, Viva Engage,
the Office apps, Copilot) and the Microsoft 365 Copilot licences.

Added last in the tenant's generation from a random stream of its own, so the directory,
licences and activity a seed gave before stay what they were. A day's use is a pure function
of (seed, user, workload, day), so the reports (graph_reports.py) can be computed for any
refresh date without storing a matrix, and advancing the clock reveals more of the same story.

Workload use never outlives the person's sign-ins: it stops on the day they last signed in
successfully (in the sign-in log or before it). Some people sign in every day yet use no
workload (an app or a browser tab that keeps a session alive); some only read mail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import numpy.typing as npt

from . import catalog as c
from .ids import iso, new_guid
from .options import SimulatorOptions
from .tenant import SkuPool, Subscription, Tenant, User

DAY = 86400
# the suites whose holders use the workloads (the Office 365 active user report lists them)
SUITES = (c.SPE_E3.sku_id, c.SPE_E5.sku_id, c.ENTERPRISEPACK.sku_id)
WORKLOADS = ("exchange", "onedrive", "sharepoint", "teams", "yammer", "office_apps")
# Copilot in each app, as the Copilot usage report's columns name them
COPILOT_APPS = ("teams", "word", "excel", "powerpoint", "outlook", "onenote", "loop", "chat")
# a regular user's chance of using each workload on a weekday
RATES = {"exchange": 0.85, "onedrive": 0.45, "sharepoint": 0.3, "teams": 0.7, "yammer": 0.04,
         "office_apps": 0.6}
NO_STOP = np.iinfo(np.int64).max // 4


@dataclass
class Workloads:
    """Per user (by index): how often each workload is used, and the day use stops."""

    rates: dict[str, npt.NDArray[np.float64]]
    copilot_rate: npt.NDArray[np.float64]
    # day numbers (epoch days): no use after `stop`, no Copilot use outside its own span
    stop: npt.NDArray[np.int64]
    copilot_start: npt.NDArray[np.int64]
    copilot_stop: npt.NDArray[np.int64]
    kind: list[str] = field(default_factory=list)  # regular | mail_only | signin_only | none
    copilot_kind: dict[int, str] = field(default_factory=dict)  # regular | idle | never
    seed: int = 0


def add_workloads(tenant: Tenant, opts: SimulatorOptions) -> None:
    rng = np.random.default_rng([opts.seed, 22])
    n = len(tenant.users)
    now_day = int(tenant.now.timestamp()) // DAY
    last_sign_in = _last_sign_in_day(tenant)
    draws = rng.random((n, 4))
    rates = {w: np.zeros(n) for w in WORKLOADS}
    kinds = ["none"] * n
    for u in tenant.users:
        if not any(s in u.direct or _via_group(tenant, u, s) for s in SUITES):
            continue
        if u.persona in ("service", "breakglass", "guest") or last_sign_in[u.idx] < 0:
            continue
        d = draws[u.idx]
        scale = 0.6 + 0.4 * d[1]
        if d[0] < 0.07:
            kinds[u.idx] = "signin_only"
        elif d[0] < 0.15:
            kinds[u.idx] = "mail_only"
            rates["exchange"][u.idx] = RATES["exchange"] * scale
        else:
            kinds[u.idx] = "regular"
            for w in WORKLOADS:
                rates[w][u.idx] = RATES[w] * scale
    stop = np.where(last_sign_in >= 0, last_sign_in, -1).astype(np.int64)
    work = Workloads(rates, np.zeros(n), stop, np.full(n, NO_STOP, np.int64),
                     np.full(n, -1, np.int64), kinds, seed=opts.seed)
    _copilot(tenant, work, rng, now_day)
    tenant.workloads = work


def _via_group(tenant: Tenant, user: User, sku_id: str) -> bool:
    return any(sku_id == s for gid in user.groups for s, _ in tenant.groups_by_id[gid].licenses)


def _last_sign_in_day(tenant: Tenant) -> npt.NDArray[np.int64]:
    """Per user: the day of the last successful sign-in on record (-1: none)."""
    n = len(tenant.users)
    last = np.full(n, -1, np.int64)
    s = tenant.signins
    ok = s.error == 0
    np.maximum.at(last, s.user[ok].astype(np.int64), s.t[ok] // DAY)
    if tenant.prior_success.shape[0] == n:
        prior = np.where(tenant.prior_success > 0, tenant.prior_success // DAY, -1)
        last = np.maximum(last, prior)
    return last


def _copilot(tenant: Tenant, work: Workloads, rng: np.random.Generator, now_day: int) -> None:
    """About one in eight people who use the suite get Copilot ($30 a month): half use it,
    a quarter tried it and stopped, a quarter never opened it."""
    holders = [u for u in tenant.users if work.kind[u.idx] in ("regular", "mail_only")
               and u.account_enabled]
    draws = rng.random((len(tenant.users), 4))
    chosen = [u for u in holders if draws[u.idx, 0] < 0.125]
    if not chosen:
        return
    for u in chosen:
        d = draws[u.idx]
        assigned_days = 50 + int(d[1] * 250)
        u.direct[c.MICROSOFT_365_COPILOT.sku_id] = []
        u.direct_dates[c.MICROSOFT_365_COPILOT.sku_id] = iso(
            tenant.now - timedelta(days=assigned_days, seconds=int(d[2] * 86400)))
        start = now_day - assigned_days
        if d[3] < 0.5:
            kind, rate, end = "regular", 0.25 + 0.3 * d[2], int(NO_STOP)
        elif d[3] < 0.75:
            # tried in the first weeks, idle for at least 45 days since
            kind, rate = "idle", 0.3
            end = min(start + 21, now_day - 45 - int(d[1] * 60))
        else:
            kind, rate, end = "never", 0.0, -1
        work.copilot_kind[u.idx] = kind
        work.copilot_rate[u.idx] = rate
        work.copilot_start[u.idx] = start
        work.copilot_stop[u.idx] = end
    seats = len(chosen) + 5
    pool = SkuPool(c.MICROSOFT_365_COPILOT, enabled=seats)
    sub = Subscription(new_guid(rng), new_guid(rng), c.MICROSOFT_365_COPILOT, seats, "Enabled",
                       False, iso(tenant.now - timedelta(days=320)),
                       iso(tenant.now + timedelta(days=45)))
    pool.subscription_ids.append(sub.id)
    tenant.pools.append(pool)
    tenant.subscriptions.append(sub)


def _uniform(seed: int, users: npt.NDArray[np.int64], salt: int,
             days: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """A (users, days) matrix of uniforms in [0, 1): splitmix64 of (seed, user, salt, day)."""
    with np.errstate(over="ignore"):
        x = (np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
             + users.astype(np.uint64)[:, None] * np.uint64(0xBF58476D1CE4E5B9)
             + np.uint64(salt) * np.uint64(0x94D049BB133111EB)
             + days.astype(np.uint64)[None, :])
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _weekday_factor(days: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    # 1970-01-01 was a Thursday: (day + 3) % 7 < 5 is Monday to Friday
    return np.where((days + 3) % 7 < 5, 1.0, 0.1)


CHUNK = 20_000  # users per block: a D180 matrix of 200,000 users would take 290 MB at once


def last_use(work: Workloads, users: npt.NDArray[np.int64], workload: str, first_day: int,
             last_day: int) -> npt.NDArray[np.int64]:
    """Per user: the last day in [first_day, last_day] they used `workload` (-1: none).

    `workload` is one of WORKLOADS or "copilot_<app>"."""
    if users.shape[0] > CHUNK:
        return np.concatenate([last_use(work, users[i:i + CHUNK], workload, first_day, last_day)
                               for i in range(0, users.shape[0], CHUNK)])
    days = np.arange(first_day, last_day + 1, dtype=np.int64)
    if workload.startswith("copilot_"):
        rate = work.copilot_rate[users]
        lo, hi = work.copilot_start[users], np.minimum(work.copilot_stop[users],
                                                        work.stop[users])
        salt = 100 + COPILOT_APPS.index(workload[len("copilot_"):])
        rate = rate * (0.5 if workload != "copilot_chat" else 1.0)
    else:
        rate = work.rates[workload][users]
        lo, hi = np.full(users.shape[0], -1, np.int64), work.stop[users]
        salt = WORKLOADS.index(workload) + 1
    if not days.size or not users.size:
        return np.full(users.shape[0], -1, np.int64)
    used = (_uniform(work.seed, users, salt, days) < rate[:, None] * _weekday_factor(days)
            ) & (days[None, :] >= lo[:, None]) & (days[None, :] <= hi[:, None])
    any_use = used.any(axis=1)
    last_index = days.size - 1 - np.argmax(used[:, ::-1], axis=1)
    return np.where(any_use, days[last_index], -1)
