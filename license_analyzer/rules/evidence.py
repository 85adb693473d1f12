"""A candidate's evidence, its hash, its reason sentence and its stable id.

The hash covers what a decision is given for: the rule, the action and target, the assignment
paths and the activity evidence (last activity day and source, read-only evidence, the covering
license). It leaves out day counts that grow every day, so an approval survives quiet days and
reopens only when something material changes.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

import orjson

EVIDENCE_FIELDS = (
    "last_activity", "last_activity_source", "days_since_activity", "active_days_30",
    "active_days_60", "active_days_90", "coverage_start", "coverage_days", "sufficient_history",
    "bucket", "assigned_since", "assigned_since_source", "read_only", "covered_by",
    "last_attempt_at", "account_enabled", "as_of",
)
_HASHED = ("rule", "action", "target", "assigned_via", "last_activity", "last_activity_source",
           "read_only", "covered_by", "account_enabled")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def evidence_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence kept with a candidate (JSON-ready)."""
    evidence = {name: _plain(row.get(name)) for name in EVIDENCE_FIELDS}
    if isinstance(row.get("last_activity"), datetime):
        evidence["last_activity_day"] = row["last_activity"].date().isoformat()
    return evidence


def evidence_hash(rule: str, action: str, target: str | None, assigned_via: str,
                  evidence: Mapping[str, Any]) -> str:
    material = {"rule": rule, "action": action, "target": target, "assigned_via": assigned_via}
    last = evidence.get("last_activity_day") or evidence.get("last_activity")
    material |= {k: evidence.get(k) for k in _HASHED if k not in material}
    material["last_activity"] = last
    blob = orjson.dumps(material, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]


def candidate_id(profile: str, user_id: str, sku_id: str, length: int = 8) -> str:
    """Short and stable per (profile, user, SKU); longer only to dodge a collision."""
    digest = hashlib.sha256(f"{profile}|{user_id.lower()}|{sku_id.lower()}".encode()).hexdigest()
    return "c-" + digest[:length]


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"


def _shown(name: str, value: Any) -> Any:
    if value is None:
        return "never" if name == "last_activity" else "unknown"
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


@cache
def _fields(template: str) -> tuple[str, ...]:
    try:
        return tuple(name for _, name, _, _ in string.Formatter().parse(template) if name)
    except ValueError:
        return ()


def reason_text(template: str, row: Mapping[str, Any], fallback: str) -> str:
    """The rule's reason with the row's values filled in ({field}); a bad template falls back."""
    values = _Blank({k: _shown(k, row[k]) for k in _fields(template) if k in row})
    try:
        text = string.Formatter().vformat(template, (), values) if template else ""
    except (ValueError, IndexError, AttributeError, KeyError):
        text = ""
    return text or fallback
