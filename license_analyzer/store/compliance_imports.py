"""The files `compliance import` kept (ComplianceImport): the newest of each kind counts."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from license_analyzer.store.db import Store
from license_analyzer.store.models import ComplianceImport

USER_LICENSE_CONSUMPTION = "user_license_consumption"
SECURITY_OBJECT_LICENSES = "security_object_licenses"


def latest_imports(store: Store) -> dict[str, dict[str, Any]]:
    """Per kind, the newest import: file name, dates and rows."""
    out: dict[str, dict[str, Any]] = {}
    with store.session() as session:
        for kind in (USER_LICENSE_CONSUMPTION, SECURITY_OBJECT_LICENSES):
            found = session.exec(select(ComplianceImport).where(ComplianceImport.kind == kind)
                                 .order_by(col(ComplianceImport.id).desc()).limit(1)).first()
            if found is not None:
                out[kind] = {"file_name": found.file_name, "imported_at": found.imported_at,
                             "refreshed_on": found.refreshed_on, "rows": list(found.rows or [])}
    return out
