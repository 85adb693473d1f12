"""What `apply` checks before it changes anything, and the sentence it says when it will not.

An approval was given for what the tenant looked like at the analysis. Before each change the
tenant is read again and the candidate is skipped, with its reason, when anything the approval
relied on is no longer true:

- offline (no Graph call; `plan_rows` shows these too): blocked candidates, protected users,
  members of protected groups as collected, evidence older than max_evidence_age_days;
- live: the user and their license paths (direct, each group), each group the license comes
  through (dynamic, synced, mail-enabled, or granting another license now), live membership of
  a protected group (id or display name, nested groups included), an account enabled again,
  and new activity since the evidence: Graph's last successful sign-in for products it measures,
  the sign-in log for Dynamics CRM / ERP, the Dataverse user-access audit of every environment
  that counts for the product's family.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import col, select

from license_analyzer.catalog.families import load_families
from license_analyzer.config import Config
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.rules import graph_ops
from license_analyzer.rules.carry_out import GroupInfo, group_problem
from license_analyzer.sources.http import Connection
from license_analyzer.sources.streams import CRM_RESOURCE, ERP_RESOURCE
from license_analyzer.store.db import Store
from license_analyzer.store.models import (
    Analysis,
    Candidate,
    DataverseUser,
    DirectoryGroup,
    Environment,
    GroupMember,
)

SIGN_IN_RESOURCES = {"signin_crm": (CRM_RESOURCE, "Dynamics CRM"),
                     "signin_erp": (ERP_RESOURCE, "Dynamics ERP")}


@dataclass(frozen=True)
class Live:
    """The tenant as read right before a change."""

    user: graph_ops.LiveAssignment
    groups: dict[str, GroupInfo | None]  # each group the license comes through now
    member_of: dict[str, str]  # every group the user is in: id -> display name


def _lower(names: Iterable[str]) -> set[str]:
    return {n.strip().lower() for n in names if n.strip()}


def protected_user(config: Config, candidate: Candidate) -> str | None:
    users = _lower(config.reclamation.protected_users)
    if candidate.user_principal_name.lower() in users or candidate.user_id.lower() in users:
        return "protected user ([reclamation] protected_users)"
    return None


def protected_group(config: Config, groups: dict[str, str]) -> str | None:
    """`groups`: id -> display name of groups the user is in (or gets the license from)."""
    protected = _lower(config.reclamation.protected_groups)
    for gid, name in sorted(groups.items()):
        if gid.lower() in protected or (name or "").lower() in protected:
            label = f"{name} ({gid})" if name else gid
            return (f"member of protected group {label} ([reclamation] protected_groups): every"
                    " license of its members is left alone")
    return None


def evidence_as_of(store: Store, candidate: Candidate) -> date | None:
    """The day the candidate's analysis was as of (its evidence covers up to that day)."""
    evidence = candidate.evidence or {}
    text = evidence.get("as_of")
    if isinstance(text, str) and text:
        return date.fromisoformat(text[:10])
    analysis_id = evidence.get("analysis_id")
    if isinstance(analysis_id, int):
        with store.session() as session:
            analysis = session.get(Analysis, analysis_id)
        return analysis.as_of if analysis is not None else None
    return None


def _stored_groups(store: Store, candidate: Candidate) -> dict[str, str]:
    """The groups the store knows the user is in, plus the ones the license comes through."""
    via = [p.split(":", 1)[1] for p in candidate.assigned_via.lower().split(",")
           if p.startswith("group:")]
    with store.session() as session:
        member = set(session.exec(select(GroupMember.group_id).where(
            GroupMember.profile == candidate.profile, GroupMember.user_id == candidate.user_id)))
        ids = sorted({g.lower() for g in member} | set(via))
        names = {g.id.lower(): g.display_name or "" for g in session.exec(
            select(DirectoryGroup).where(DirectoryGroup.profile == candidate.profile,
                                         col(DirectoryGroup.id).in_(ids)))}
    return {gid: names.get(gid, "") for gid in ids}


def offline_refusal(config: Config, store: Store, candidate: Candidate,
                    today: date) -> str | None:
    """Why the candidate is not for apply, from the store alone (None: read the tenant)."""
    if candidate.blocked_reason:
        return candidate.blocked_reason
    refusal = protected_user(config, candidate)
    if refusal is None and config.reclamation.protected_groups:
        refusal = protected_group(config, _stored_groups(store, candidate))
    if refusal is not None:
        return refusal
    as_of = evidence_as_of(store, candidate)
    limit = config.reclamation.max_evidence_age_days
    if as_of is None:
        return "the analysis it came from is unknown: run analyze, then review it again"
    if (today - as_of).days > limit:
        return (f"its evidence is from an analysis as of {as_of.isoformat()}, more than"
                f" {limit} days ago ([reclamation] max_evidence_age_days): run analyze first")
    if candidate.action == "downgrade" and not (candidate.evidence or {}).get("target_sku_id"):
        return "the downgrade target is not known"
    return None


def read_live(connection: Connection, candidate: Candidate) -> Live | None:
    """The user (None: gone), the groups the license comes through, the user's groups."""
    graph = connection.graph()
    user = graph_ops.read_user(graph, candidate.user_id, candidate.sku_id)
    if user is None:
        return None
    groups = {g: graph_ops.read_group(graph, g) for g in user.groups}
    member_of = graph_ops.memberships(graph, candidate.user_id)
    return Live(user=user, groups=groups, member_of=member_of)


def activity_since(candidate: Candidate) -> datetime | None:
    """From when on activity would be new: the day after the last activity, else the day
    the license was assigned (None: any activity at all is new)."""
    if candidate.last_activity is not None:
        return datetime.combine(candidate.last_activity + timedelta(days=1), time(), UTC)
    assigned = (candidate.evidence or {}).get("assigned_since")
    if isinstance(assigned, str) and assigned:
        moment = datetime.fromisoformat(assigned.replace("Z", "+00:00"))
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None


def family_of(candidate: Candidate) -> str:
    family = (candidate.evidence or {}).get("family")
    families = load_families()
    if isinstance(family, str) and family in families.families:
        return family
    return families.family_of(candidate.sku_part_number)


def _since_text(since: datetime | None) -> str:
    return f"after the evidence ({since.date().isoformat()} on)" if since else "since assignment"


def tenant_refusal(config: Config, candidate: Candidate, live: Live | None,
                   part_names: dict[str, str]) -> str | None:
    """Why the tenant no longer fits the approval (None: go ahead), from what read_live read.
    `part_names`: skuId -> skuPartNumber, to name the other licenses a group grants."""
    if live is None:
        return "the user no longer exists"
    user = live.user
    if not user.held:
        return "the license is already gone"
    if set(user.paths.split(",")) != set(candidate.assigned_via.lower().split(",")):
        return (f"the assignment changed (now {user.paths or 'none'}, was"
                f" {candidate.assigned_via}): review it again after the next analysis")
    for gid, group in live.groups.items():
        problem = group_problem(group, gid, candidate.sku_id, part_names)
        if problem is not None:
            return f"the group changed since the approval: {problem}"
    refusal = protected_group(config, live.member_of) if config.reclamation.protected_groups \
        else None
    if refusal is not None:
        return refusal
    was_enabled = (candidate.evidence or {}).get("account_enabled")
    if was_enabled is False and user.account_enabled:
        return "the account was enabled again after the analysis"
    return None


def activity_refusal(connection: Connection, store: Store, candidate: Candidate,
                     live: Live) -> str | None:
    """New activity since the evidence, wherever it can be read for the product's family."""
    since = activity_since(candidate)
    family = load_families().families[family_of(candidate)]
    signed_in = live.user.last_successful_sign_in
    recent = signed_in is not None and (since is None or signed_in >= since)
    if recent and "entra_signin" in family.sources:
        assert signed_in is not None
        return f"the user signed in on {signed_in.date().isoformat()}, {_since_text(since)}"
    for source in family.sources:
        if source in SIGN_IN_RESOURCES and recent:  # no sign-in at all since: nothing to ask
            resource, name = SIGN_IN_RESOURCES[source]
            try:
                seen = graph_ops.signed_in_to(connection.graph(), candidate.user_id, resource,
                                              since or datetime(1970, 1, 1, tzinfo=UTC))
            except LicenseAnalyzerError as exc:
                return f"the sign-in log could not be re-checked ({exc.message})"
            if seen is not None:
                return (f"the user signed in to {name} on {seen.date().isoformat()},"
                        f" {_since_text(since)}")
    if "dataverse_audit" in family.sources:
        return _dataverse_refusal(connection, store, candidate, family.key, since)
    return None


def _dataverse_refusal(connection: Connection, store: Store, candidate: Candidate,
                       family: str, since: datetime | None) -> str | None:
    families = load_families()
    with store.session() as session:
        environments = {e.url: list(e.families or []) for e in session.exec(
            select(Environment).where(Environment.profile == candidate.profile,
                                      Environment.kind == "dataverse"))}
        accounts = list(session.exec(select(DataverseUser).where(
            DataverseUser.profile == candidate.profile,
            DataverseUser.entra_object_id == candidate.user_id)))
    for account in accounts:
        env_families = environments.get(account.environment_url)
        if env_families is None or not families.counts_environment(family, env_families):
            continue
        try:
            seen = graph_ops.accessed_dataverse(
                connection.dataverse(account.environment_url), account.systemuser_id,
                since or datetime(1970, 1, 1, tzinfo=UTC), account.environment_url)
        except LicenseAnalyzerError as exc:
            return (f"the Dataverse audit of {account.environment_url} could not be re-checked"
                    f" ({exc.message})")
        if seen is not None:
            return (f"the user used {account.environment_url} on {seen.date().isoformat()},"
                    f" {_since_text(since)}")
    return None


def prior_state(candidate: Candidate, live: Live) -> dict[str, Any]:
    """What restore needs to put back: the user's paths and the direct license's plans."""
    user = live.user
    target = (candidate.evidence or {}).get("target_sku_id")
    return {"sku_id": candidate.sku_id, "sku_part_number": candidate.sku_part_number,
            "disabled_plans": list(user.disabled_plans), "direct": user.direct,
            "group_ids": list(user.groups), "target_sku_id": target,
            "held_target": bool(target) and str(target) in user.holds}
