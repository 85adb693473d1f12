"""How a candidate is carried out: the action, what blocks `apply`, and what it really saves.

A direct license is removed; a group-inherited one by taking the user out of the group, only when
that group is assigned (not dynamic), cloud-only, not mail-enabled and carries no other license.
Otherwise `blocked_reason` says what an administrator must do. A SKU held through several paths
saves nothing until every path is gone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from license_analyzer.config import ReclamationConfig


@dataclass(frozen=True)
class GroupInfo:
    id: str
    display_name: str | None
    dynamic: bool
    synced: bool
    mail_enabled: bool
    licenses: tuple[str, ...]  # skuIds the group assigns

    @property
    def label(self) -> str:
        return f"{self.display_name} ({self.id})" if self.display_name else self.id


@dataclass
class Plan:
    action: str
    target_sku_part_number: str | None
    target_sku_id: str | None
    remove_groups: list[str] = field(default_factory=list)
    remove_direct: bool = False
    blocked: list[str] = field(default_factory=list)
    monthly_saving: float = 0.0

    @property
    def blocked_reason(self) -> str | None:
        return "; ".join(self.blocked) if self.blocked else None


def group_problem(group: GroupInfo | None, group_id: str, sku_id: str,
                  part_names: Mapping[str, str]) -> str | None:
    """Why taking the user out of this group is not for `apply` (None: it is fine)."""
    if group is None:
        return (f"inherited from group {group_id}, which was not collected: run collect, or"
                " remove the user from the group by hand")
    if group.dynamic:
        return (f"inherited from dynamic group {group.label}: change its membership rule or"
                " exclude the user")
    if group.synced:
        return (f"inherited from group {group.label}, synced from on-premises: remove the user"
                " from it in Active Directory")
    if group.mail_enabled:
        return (f"inherited from mail-enabled group {group.label}: remove the user from it in"
                " Exchange or Outlook")
    others = [part_names.get(s, s) for s in group.licenses if s != sku_id]
    if others:
        return (f"inherited from group {group.label}, which also grants {', '.join(others)}:"
                " removing the user would take those too; move the user to a group without"
                " this license")
    return None


@cache
def _lowered(names: tuple[str, ...]) -> frozenset[str]:
    """Cached: plan_for runs once per candidate with the same config lists."""
    return frozenset(n.lower() for n in names)


def plan_for(row: Mapping[str, Any], rule_action: str, rule_target: str | None,
             groups: Mapping[str, GroupInfo], tenant_skus: Mapping[str, str],
             part_names: Mapping[str, str], prices: Mapping[str, float],
             reclamation: ReclamationConfig, protected_member: str | None = None,
             protected_user: bool | None = None) -> Plan:
    """`row`: one winning facts row. `tenant_skus`: skuPartNumber -> skuId in this profile.
    `protected_member`: the protected group the user is a member of, as collected (every
    license of a member is protected, whatever path it comes through). `protected_user`: the
    row's user is one of [reclamation] protected_users, when the caller knows (else it is
    looked up here)."""
    price = row.get("unit_price_monthly")
    if price is None:
        price = prices.get(row["sku_part_number"], 0.0)
    direct = bool(row.get("via_direct"))
    via_groups = list(row.get("via_groups") or [])
    paths = int(direct) + len(via_groups)
    plan = Plan(action="remove" if direct else "remove_from_group",
                target_sku_part_number=None, target_sku_id=None, remove_direct=direct)

    if rule_action == "downgrade":
        # F&O compliance names a per-row target: what the user's security roles require
        fo_target = row.get("fo_downgrade_target") if row.get("fo_excess") == "downgrade" else None
        target = rule_target or fo_target or row.get("downgrade_target")
        plan.action = "downgrade"
        plan.target_sku_part_number = target
        plan.target_sku_id = tenant_skus.get(target) if target else None
        if not target:
            plan.blocked.append(f"no license to downgrade {row['sku_part_number']} to: name"
                                " one in the rule's target")
        elif plan.target_sku_id is None:
            plan.blocked.append(f"the tenant has no {target} subscription to downgrade to: buy"
                                " it, or reject this candidate")
        if row.get("mail_only") is True:
            plan.blocked.append("needs review: the usage reports show only mail use; check that"
                                " the person needs no Teams, Office apps, files or other service"
                                f" of {row['sku_part_number']} before downgrading")
        elif row.get("read_only") is not True and fo_target is None:
            plan.blocked.append("needs review: no read-only evidence (Read access mode in every"
                                " environment) for this user")
        if via_groups:
            plan.blocked.append("inherited through a group: a downgrade needs a direct"
                                " assignment; change the group's license or assign directly")
        target_price = prices.get(target) if target else None
        if target_price is None:
            target_price = row.get("fo_target_price")
        # a downgrade to a license of unknown price saves an unknown amount: none is claimed
        # (the held license's full price would overstate it; [prices] names the target's)
        plan.monthly_saving = (max(float(price) - float(target_price), 0.0)
                               if paths == 1 and target_price is not None else 0.0)
    else:
        group_blocks = []
        for gid in via_groups:
            problem = group_problem(groups.get(gid), gid, row["sku_id"], part_names)
            if problem is None:
                plan.remove_groups.append(gid)
            else:
                group_blocks.append(problem)
        plan.blocked += group_blocks
        # several paths: removing some saves nothing while a blocked one keeps the license
        plan.monthly_saving = float(price) if paths <= 1 or not group_blocks else 0.0

    if row.get("strands_attach"):
        plan.blocked.append(f"{row['strands_attach']} needs this license as its qualifying base:"
                            " remove the attach license first")
    if protected_user is None:
        protected_users = _lowered(tuple(reclamation.protected_users))
        protected_user = (str(row.get("user_principal_name", "")).lower() in protected_users
                          or row["user_id"] in protected_users)
    if protected_user:
        plan.blocked.append("protected user ([reclamation] protected_users): apply refuses it;"
                            " an administrator must act")
    protected_groups = _lowered(tuple(reclamation.protected_groups))
    for gid in via_groups:
        group = groups.get(gid)
        names = {gid.lower(), (group.display_name or "").lower() if group else ""}
        if names & protected_groups:
            protected_member = group.label if group else gid
    if protected_member is not None:
        plan.blocked.append(f"member of protected group {protected_member} ([reclamation]"
                            " protected_groups): apply refuses every license of its members")
    return plan
