"""The Microsoft 365 usage reports: Reports.Read.All, and whether the tenant conceals names.

Without the permission, or with concealed names (the admin center's "Display concealed user,
group, and site names in all reports", Graph's admin/reportSettings displayConcealedNames,
https://learn.microsoft.com/graph/api/resources/adminreportsettings), Microsoft 365 suites and
Copilot have no workload evidence: a warning, as collection goes on without it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.http import Connection, MissingPermission
from license_analyzer.sources.usage_reports import CONCEALED_FIX, REPORTS, fetch, is_concealed

from .graph_checks import Add, consent_fix
from .probe import fix_for, get_json, problem_of
from .result import Status

PERMISSION = "Reports.Read.All"
TARGET = "graph usage reports"


def usage_reports(conn: Connection, add: Add, roles: set[str] | None, now: datetime) -> None:
    auth = conn.profile.auth
    if roles is not None and PERMISSION not in roles:
        add("permission", f"graph {PERMISSION}", Status.WARNING,
            f"The token's roles do not include {PERMISSION}: Microsoft 365 suites and Copilot "
            "get no workload evidence (no data).", consent_fix(PERMISSION, auth))
        return
    report = REPORTS[0]
    try:
        rows = fetch(conn.graph(), report, "D7")
    except MissingPermission as exc:
        add("permission", f"graph {PERMISSION}", Status.WARNING,
            f"Graph refused {report.what}: Microsoft 365 suites and Copilot get no workload "
            "evidence (no data).", consent_fix(exc.permission or PERMISSION, auth))
        return
    except LicenseAnalyzerError as exc:
        add("usage_reports", TARGET, Status.WARNING, problem_of(exc), fix_for(exc))
        return
    names = [str(r.get("User Principal Name") or "") for r in rows.rows]
    concealed = is_concealed(names) if names else _setting_says_concealed(conn)
    fix = CONCEALED_FIX[:1].upper() + CONCEALED_FIX[1:] + "."
    if concealed:
        add("concealed_names", TARGET, Status.WARNING,
            "The tenant conceals user names in Microsoft 365 reports, so workload use cannot be "
            "matched to users: Microsoft 365 suites and Copilot show no data.", fix)
        return
    lag = f", {(now.astimezone(UTC).date() - rows.refresh).days} days behind today" \
        if rows.refresh else ""
    add("usage_reports", TARGET, Status.OK,
        f"{PERMISSION} granted; {report.what} answered (refresh date "
        f"{rows.refresh.isoformat() if rows.refresh else 'none yet'}{lag}) with user names.", "")


def _setting_says_concealed(conn: Connection) -> bool:
    """An empty report cannot show hashes: ask the setting (ReportSettings.Read.All), if we
    may; False when we cannot tell."""
    try:
        data = get_json(conn.graph(), "/admin/reportSettings", "GET /admin/reportSettings")
    except LicenseAnalyzerError:
        return False
    return data.get("displayConcealedNames") is True
