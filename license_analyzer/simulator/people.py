"""Who signs in to the review app: its app registration, the groups and app roles that grant
access, and everyone's manager.

Added after the rest of the tenant is generated, from a random stream of its own, so the
directory, licences and activity of a seed stay what they were.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np

from .ids import iso, new_guid
from .options import SimulatorOptions
from .tenant import Group, Tenant

# Entra returns at most this many group ids in a JWT's groups claim; past it the token carries
# an overage claim instead (https://learn.microsoft.com/entra/identity-platform/
# id-token-claims-reference#groups-overage-claim).
GROUPS_CLAIM_LIMIT = 200
# Loopback redirect URIs match on any port (RFC 8252; Entra "Localhost exceptions",
# https://learn.microsoft.com/entra/identity-platform/reply-url#localhost-exceptions), so
# one registration serves the review app wherever a test or the demo runs it.
LOOPBACK_REDIRECTS = ("http://127.0.0.1/auth/callback", "http://localhost/auth/callback")
NO_MANAGER = ("guest", "service", "breakglass")


@dataclass
class WebApp:
    """The review app's own registration (a confidential web client)."""

    client_id: str
    client_secret: str
    display_name: str = "license-analyzer review"
    redirect_uris: list[str] = field(default_factory=lambda: list(LOOPBACK_REDIRECTS))
    # the manifest's groupMembershipClaims: "SecurityGroup" puts security groups in the token
    group_membership_claims: str | None = "SecurityGroup"
    # app role value -> the user indexes assigned to it (the token's roles claim)
    role_assignments: dict[str, set[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class AccessGroups:
    viewers: str
    reviewers: str
    admins: str


def add_people(tenant: Tenant, opts: SimulatorOptions) -> None:
    rng = np.random.default_rng([opts.seed, 20])
    tenant.web_app = WebApp(new_guid(rng), "sim-web~" + rng.bytes(24).hex())
    _managers(tenant)
    heads = {u.manager for u in tenant.users}
    # people with access who manage nobody, so each kind of access shows on its own
    plain = [u.idx for u in tenant.users[2:] if u.idx not in heads and u.account_enabled
             and u.persona in ("m365", "active", "low_usage", "inactive")][:3]
    reviewer, viewer, by_role = (plain + [0, 0, 0])[:3]
    created = iso(tenant.now - timedelta(days=500))
    ids = [new_guid(rng) for _ in range(3)]
    access = AccessGroups(*ids)
    members = {access.admins: [0], access.reviewers: [0, reviewer], access.viewers: [viewer]}
    for gid, name in zip(ids, ("License Viewers", "License Reviewers", "License Admins"),
                         strict=True):
        group = Group(gid, name, "Access to the license review app", [], None, False, False,
                      True, name.lower().replace(" ", "-"), [], created, created)
        tenant.groups.append(group)
        tenant.groups_by_id[gid] = group
        for idx in sorted(set(members[gid])):
            group.members.append(idx)
            tenant.users[idx].groups.add(gid)
    tenant.access_groups = access
    # one person is a reviewer through an app role rather than a group
    tenant.web_app.role_assignments = {"Reviewer": {by_role}}


def _managers(tenant: Tenant) -> None:
    """The first person of each department heads it and reports to user 0; everyone else in
    the department reports to its head. Guests, service and break-glass accounts have none."""
    heads: dict[str, int] = {}
    for user in tenant.users[1:]:
        if user.persona in NO_MANAGER or user.department is None:
            continue
        if user.department not in heads and user.account_enabled:
            heads[user.department] = user.idx
            user.manager = 0
        else:
            user.manager = heads.get(user.department, 0)


def token_groups(tenant: Tenant, user_idx: int) -> list[str]:
    """The security groups a user is a direct member of, as the groups claim lists them."""
    return sorted(g.id for g in tenant.groups
                  if user_idx in g.members and g.security_enabled and not g.mail_enabled)


def token_roles(tenant: Tenant, user_idx: int) -> list[str]:
    return sorted(role for role, people in tenant.web_app.role_assignments.items()
                  if user_idx in people)


def web_people(tenant: Tenant) -> dict[str, str]:
    """Someone to sign in as for each kind of access (the demo prints them)."""
    access = tenant.access_groups
    groups = tenant.groups_by_id
    out = {"admin": tenant.users[0].upn,
           "reviewer": tenant.users[groups[access.reviewers].members[-1]].upn,
           "viewer": tenant.users[groups[access.viewers].members[0]].upn}
    heads = sorted({u.manager for u in tenant.users if u.manager not in (None, 0)})
    if heads:
        out["manager (sees only their people)"] = tenant.users[heads[0]].upn
    return out
