"""The Graph calls of apply and restore, each one request with its one-sentence error."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from license_analyzer.sources.http import check

USER_SELECT = "id,userPrincipalName,assignedLicenses,licenseAssignmentStates,signInActivity"


@dataclass(frozen=True)
class LiveAssignment:
    """One user's hold on one SKU right now, as Graph says."""

    held: bool
    direct: bool
    groups: tuple[str, ...]
    disabled_plans: tuple[str, ...]
    last_successful_sign_in: datetime | None
    holds: frozenset[str]  # every skuId the user holds

    @property
    def paths(self) -> str:
        return ",".join((["direct"] if self.direct else []) + [f"group:{g}" for g in self.groups])


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value or value.startswith("0001-01-01"):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_user(graph: httpx.Client, user_id: str, sku_id: str) -> LiveAssignment | None:
    """None when the user no longer exists."""
    response = graph.get(f"/users/{user_id}", params={"$select": USER_SELECT})
    if response.status_code == 404:
        return None
    check(response, f"Reading user {user_id} before changing its licenses")
    body = response.json()
    sku = sku_id.lower()
    licenses = body.get("assignedLicenses") or []
    holds = frozenset(str(a.get("skuId", "")).lower() for a in licenses)
    # an assignment in state Error holds no seat: it is no path to remove
    states = [s for s in body.get("licenseAssignmentStates") or []
              if str(s.get("skuId", "")).lower() == sku
              and str(s.get("state") or "").strip().lower() != "error"]
    direct = any(not s.get("assignedByGroup") for s in states)
    groups = tuple(sorted({str(s["assignedByGroup"]).lower() for s in states
                           if s.get("assignedByGroup")}))
    disabled: list[str] = []
    for a in licenses:
        if str(a.get("skuId", "")).lower() == sku:
            disabled = [str(p).lower() for p in a.get("disabledPlans") or []]
    for s in states:  # the direct path's own disabled plans, when Graph says them apart
        if not s.get("assignedByGroup") and s.get("disabledPlans") is not None:
            disabled = [str(p).lower() for p in s["disabledPlans"]]
    if states and not licenses:
        holds = holds | {sku}
    activity = body.get("signInActivity") or {}
    return LiveAssignment(
        held=sku in holds, direct=direct or (sku in holds and not states), groups=groups,
        disabled_plans=tuple(disabled),
        last_successful_sign_in=_when(activity.get("lastSuccessfulSignInDateTime")),
        holds=holds,
    )


def assign_license(graph: httpx.Client, user_id: str, add: list[dict[str, Any]],
                   remove: list[str], what: str) -> None:
    # Graph refuses a body without addLicenses, even when only removing
    response = graph.post(f"/users/{user_id}/assignLicense",
                          json={"addLicenses": add, "removeLicenses": remove})
    check(response, what)


def remove_member(graph: httpx.Client, group_id: str, user_id: str, what: str) -> None:
    response = graph.delete(f"/groups/{group_id}/members/{user_id}/$ref")
    if response.status_code == 404:  # not a member any more: the goal is reached
        return
    check(response, what)


def add_member(graph: httpx.Client, group_id: str, user_id: str, what: str) -> None:
    ref = f"{str(graph.base_url).rstrip('/')}/directoryObjects/{user_id}"
    response = graph.post(f"/groups/{group_id}/members/$ref", json={"@odata.id": ref})
    if response.status_code == 400 and "already exist" in response.text:
        return
    check(response, what)
