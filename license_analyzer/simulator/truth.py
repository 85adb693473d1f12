"""Ground truth for tests: what a perfect client would conclude. Python only, never HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from .activity import CRM_RESOURCE, ERP_RESOURCE, RESOURCES
from .dataverse_audits import visible
from .generate import effective_sku_ids
from .graph_signins import RETENTION_DAYS

if TYPE_CHECKING:
    from .options import SimulatorOptions
    from .tenant import DataverseEnv, Tenant

DAY = 86400


def _ts(value: date | datetime | None, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, datetime):
        return int((value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp())
    return int(datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp())


class Truth:
    def __init__(self, tenant: Tenant, opts: SimulatorOptions) -> None:
        self.tenant = tenant
        self.opts = opts

    def users(self) -> list[dict[str, Any]]:
        """Every Entra user with persona and licences (direct and through which groups)."""
        t = self.tenant
        part = {p.sku.sku_id: p.sku.part_number for p in t.pools}
        out = []
        for u in t.users:
            held = effective_sku_ids(t, u)
            via: dict[str, list[str]] = {s: [] for s in held}
            for s in u.direct:
                via[s].append("direct")
            for gid in sorted(u.groups):
                for s, _ in t.groups_by_id[gid].licenses:
                    via.setdefault(s, []).append(f"group:{gid}")
            out.append(
                {
                    "id": u.id,
                    "userPrincipalName": u.upn,
                    "displayName": u.display_name,
                    "department": u.department,
                    "accountEnabled": u.account_enabled,
                    "userType": u.user_type,
                    "persona": u.persona,
                    "sku_ids": held,
                    "direct_sku_ids": sorted(u.direct),
                    "group_sku_ids": sorted(
                        {s for gid in u.groups for s, _ in t.groups_by_id[gid].licenses}
                    ),
                    "licenses": [
                        {"skuId": s, "skuPartNumber": part.get(s, ""), "via": via[s]} for s in held
                    ],
                    "groups": sorted(u.groups),
                    # group licences Entra failed to assign: state Error, no seat held
                    "failed": [
                        {"skuId": s, "via": f"group:{g}", "error": e}
                        for (g, s), e in sorted(u.failed.items())
                        if g in u.groups
                    ],
                    "dataverse_envs": [t.dataverse[i].url for i in u.dyn_envs],
                    "fno": u.fno,
                }
            )
        return out

    def _env(self, env_url: str) -> DataverseEnv:
        key = env_url.rstrip("/").lower()
        return next(e for e in self.tenant.dataverse if e.url.lower() == key)

    def audit_records(
        self, env_url: str, start: date | datetime | None = None, end: date | datetime | None = None
    ) -> int:
        """Visible access-audit records (action 64/65, operation 4) in [start, end)."""
        env = self._env(env_url)
        a = env.audit
        lo = int(np.searchsorted(a.t, _ts(start, -(1 << 62)), side="left"))
        hi = int(np.searchsorted(a.t, _ts(end, 1 << 62), side="left"))
        now_ts = int(self.tenant.now.timestamp())
        return int(visible(env, lo, hi, now_ts).sum())

    def _signin_mask(self) -> Any:
        s = self.tenant.signins
        now_ts = int(self.tenant.now.timestamp())
        mask = s.t <= now_ts
        if self.opts.traps.signin_log_rules:
            mask &= s.t >= now_ts - RETENTION_DAYS * DAY
        return mask

    def signins(
        self,
        resource_id: str,
        start: date | datetime | None = None,
        end: date | datetime | None = None,
    ) -> int:
        """Sign-ins the v1.0 log shows for that resource in [start, end): interactive ones."""
        s = self.tenant.signins
        code = next((i for i, r in enumerate(RESOURCES) if r[0] == resource_id.lower()), -1)
        mask = self._signin_mask() & (s.resource == code) & s.interactive
        mask &= (s.t >= _ts(start, -(1 << 62))) & (s.t < _ts(end, 1 << 62))
        return int(mask.sum())

    def activity_days(
        self, since: date | datetime | None = None
    ) -> list[tuple[str, str, str, date, int]]:
        """(entra id, source, env url or "", UTC day, events) for every visible evidence record;
        sign-ins per resource and kind (signin_crm, signin_crm_noninteractive, ...).

        Dataverse rows count human systemusers only (including ones whose Entra user was
        deleted, which resolve to an object id Graph no longer lists).
        """
        since_ts = _ts(since, -(1 << 62))
        rows: list[tuple[str, str, str, date, int]] = []
        now_ts = int(self.tenant.now.timestamp())
        for env in self.tenant.dataverse:
            a = env.audit
            mask = visible(env, 0, len(a), now_ts) & (a.t >= since_ts)
            human = np.array([s.kind in ("human", "orphan") for s in env.systemusers])
            mask &= human[a.su]
            rows += _group(
                a.su[mask],
                a.t[mask],
                [s.aad_object_id or "" for s in env.systemusers],
                "dataverse_audit",
                env.url,
            )
        s = self.tenant.signins
        ids = [u.id for u in self.tenant.users]
        base = self._signin_mask() & (s.t >= since_ts) & (s.error == 0)
        for source, res in (("signin_crm", CRM_RESOURCE), ("signin_erp", ERP_RESOURCE)):
            code = next(i for i, r in enumerate(RESOURCES) if r[0] == res)
            kinds = ((source, s.interactive), (f"{source}_noninteractive", ~s.interactive))
            for name, kind in kinds:
                m = base & (s.resource == code) & kind
                rows += _group(s.user[m], s.t[m], ids, name, "")
        return rows


def _group(
    who: Any, t: Any, names: list[str], source: str, env: str
) -> list[tuple[str, str, str, date, int]]:
    if len(who) == 0:
        return []
    key = who.astype(np.int64) * 1_000_000 + t // DAY
    uniq, counts = np.unique(key, return_counts=True)
    out = []
    for k, n in zip(uniq.tolist(), counts.tolist(), strict=True):
        day = datetime.fromtimestamp((k % 1_000_000) * DAY, UTC).date()
        out.append((names[k // 1_000_000], source, env, day, int(n)))
    return out
