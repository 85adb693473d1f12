"""`compliance import FILE`: the two Finance & Operations licensing answers Microsoft gives only
as files, recognised by their columns and kept whole with their date.

- The Power Platform admin center's "User license consumption" export (Licensing > Finance and
  Operations > Export to CSV) has the columns TenantId, UserEmail, UserId,
  AssignedLicense(s), MissingLicense(s), RefreshedOn
  (https://learn.microsoft.com/en-us/power-platform/admin/view-license-consumption-finops-apps);
  some exports add RequiredLicense(s)
  (https://dynamicspedia.com/2025/12/licensing-advent-calendar-day-19-export-to-csv/), read
  when present.
- The security object licenses (License usage summary) export: per security role and license,
  whether the role's securable objects are entitled. Microsoft documents its fields (Securable
  Type, AOT Name, Access Level, Entitled / Not Entitled / Not Required, on the page above) but
  not a file header, so two shapes are read: one row per object (Security role, Securable type,
  AOT name, Access level, License, Entitlement) or one per role and license with the counts
  (Security role, License, Entitled, Not entitled, Not required). A license covers a role when
  none of the role's objects is "Not entitled" for it
  (https://dynlab365.com/2025/12/08/game-changing-licensing-functionality-in-the-latest-d365-fo-pqu).

A file with unexpected columns is refused, naming the columns it lacks; nothing is stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from license_analyzer.errors import ConfigError
from license_analyzer.store.compliance_imports import (
    SECURITY_OBJECT_LICENSES,
    USER_LICENSE_CONSUMPTION,
)
from license_analyzer.store.db import Store, utcnow
from license_analyzer.store.models import ComplianceImport

CONSUMPTION_COLUMNS = ("TenantId", "UserEmail", "UserId", "AssignedLicense(s)",
                       "MissingLicense(s)", "RefreshedOn")
OBJECT_COLUMNS = ("Security role", "Securable type", "AOT name", "Access level", "License",
                  "Entitlement")
SUMMARY_COLUMNS = ("Security role", "License", "Entitled", "Not entitled", "Not required")

KIND_NAMES = {USER_LICENSE_CONSUMPTION: "Power Platform admin center user license consumption "
                                        "export",
              SECURITY_OBJECT_LICENSES: "security object licenses export"}
WHERE = {USER_LICENSE_CONSUMPTION: "Power Platform admin center > Licensing > Finance and "
                                   "Operations > Export to CSV",
         SECURITY_OBJECT_LICENSES: "System administration > Security > Security governance > "
                                   "Licenses usage summary > Export"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.replace("\ufeff", "").lower())


def _lacking(header: list[str], wanted: tuple[str, ...]) -> list[str]:
    have = {_key(h) for h in header}
    return [w for w in wanted if _key(w) not in have]


def _split(cell: str | None) -> list[str]:
    return [p.strip() for p in re.split(r"[,;|]", cell or "") if p.strip()]


def _when(value: str | None) -> datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        for fmt in ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%d/%m/%Y"):
            try:
                parsed = datetime.strptime(value, fmt)
                break
            except ValueError:
                continue
        else:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_export(path: Path) -> tuple[str, list[dict[str, Any]], datetime | None]:
    """(kind, rows, refreshed_on) of an export; ConfigError naming what is wrong otherwise."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"Cannot read {path} ({exc.strerror}); check the path.") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not a UTF-8 CSV file; export it again as CSV.") from exc
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, [])
    keys = [_key(h) for h in header]
    if not header or not any(keys):
        raise ConfigError(f"{path} is empty: export it again from {WHERE[USER_LICENSE_CONSUMPTION]}"
                          " or from the Licenses usage summary.")
    cells = [dict(zip(keys, row, strict=False)) for row in reader if any(c.strip() for c in row)]
    if {"userid", "useremail", "missinglicenses", "assignedlicenses", "tenantid"} & set(keys):
        lacking = _lacking(header, CONSUMPTION_COLUMNS)
        if lacking:
            _refuse(path, USER_LICENSE_CONSUMPTION, lacking)
        rows = [{"tenant_id": c.get("tenantid", "").strip(),
                 "user_email": c.get("useremail", "").strip(),
                 "user_id": c.get("userid", "").strip(),
                 "required": _split(c.get("requiredlicenses")),
                 "assigned": _split(c.get("assignedlicenses")),
                 "missing": _split(c.get("missinglicenses")),
                 "refreshed_on": c.get("refreshedon", "").strip()} for c in cells]
        dates = [d for d in (_when(str(r["refreshed_on"])) for r in rows) if d is not None]
        return USER_LICENSE_CONSUMPTION, rows, max(dates) if dates else None
    if "entitlement" in keys or "notentitled" in keys or "securityrole" in keys:
        shape = OBJECT_COLUMNS if "entitlement" in keys or "aotname" in keys else SUMMARY_COLUMNS
        lacking = _lacking(header, shape)
        if lacking:
            _refuse(path, SECURITY_OBJECT_LICENSES, lacking)
        if shape == OBJECT_COLUMNS:
            rows = [{"role": c.get("securityrole", "").strip(),
                     "object_type": c.get("securabletype", "").strip(),
                     "object": c.get("aotname", "").strip(),
                     "access": c.get("accesslevel", "").strip(),
                     "license": c.get("license", "").strip(),
                     "entitlement": c.get("entitlement", "").strip()} for c in cells]
        else:
            rows = [{"role": c.get("securityrole", "").strip(),
                     "license": c.get("license", "").strip(),
                     "entitlement": "Not entitled" if _count(c.get("notentitled")) > 0
                     else "Entitled"} for c in cells]
        return SECURITY_OBJECT_LICENSES, rows, None
    _refuse(path, USER_LICENSE_CONSUMPTION, _lacking(header, CONSUMPTION_COLUMNS))
    raise AssertionError("unreachable")  # pragma: no cover


def _count(value: str | None) -> int:
    try:
        return int(float((value or "0").strip() or "0"))
    except ValueError:
        return 0


def _refuse(path: Path, kind: str, lacking: list[str]) -> None:
    raise ConfigError(f"{path.name} is not a {KIND_NAMES[kind]}: it lacks the column(s) "
                      f"{', '.join(lacking)}; export it again from {WHERE[kind]} and import "
                      "that file unchanged.")


def import_export(store: Store, path: Path) -> ComplianceImport:
    """Read, check and keep one export; the newest import of each kind is the one that counts."""
    kind, rows, refreshed = read_export(path)
    record = ComplianceImport(kind=kind, file_name=path.name,
                              sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                              refreshed_on=refreshed, imported_at=utcnow(),
                              row_count=len(rows), rows=rows)
    with store.session() as session:
        session.add(record)
        session.flush()
    return record
