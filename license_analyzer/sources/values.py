"""Defensive parsing of what Microsoft sends: padded strings, "None" for null, sentinel dates,
mixed-case GUIDs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_NULLISH = frozenset({"", "none", "null"})


def text(value: Any) -> str | None:
    """A stripped string; empty, "None" and null all become None."""
    if value is None:
        return None
    out = str(value).strip()
    return None if out.lower() in _NULLISH else out


def guid(value: Any) -> str | None:
    out = text(value)
    return out.lower() if out else None


def flag(value: Any, default: bool = False) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    return str(value).strip().lower() in ("true", "1", "yes")


def integer(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def moment(value: Any) -> datetime | None:
    """An aware UTC datetime; "", null and the "0001-01-01T00:00:00Z" sentinel mean never."""
    raw = text(value)
    if raw is None or raw.startswith("0001-01-01"):
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
