"""Runs every check of one profile, in setup order, skipping what an earlier failure blocks."""

from __future__ import annotations

from datetime import datetime

from license_analyzer.config import Config, ProfileConfig
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.http import Connection, connect
from license_analyzer.store.sign_in import StoredSignIn, stored_sign_in

from . import delegated_checks, dynamics_checks, graph_checks, report_checks
from .probe import fix_for, problem_of
from .result import CheckResult, Status

# short caps: doctor is interactive, a throttled tenant should not hang it for minutes
MAX_WAIT_S = 20.0
TIMEOUT_S = 30.0


def check_profile(config: Config, profile: ProfileConfig, now: datetime) -> list[CheckResult]:
    results: list[CheckResult] = []

    def add(check: str, target: str, status: Status, message: str, fix: str) -> None:
        results.append(CheckResult(profile.name, check, target, status, message, fix))

    base_dir = config.source_path.parent if config.source_path else None
    try:
        conn = connect(profile, concurrency=2, max_wait_s=MAX_WAIT_S, timeout_s=TIMEOUT_S,
                       base_dir=base_dir, sign_in=_sign_in(config, profile),
                       graph_writes=config.reclamation.enabled)
    except LicenseAnalyzerError as exc:  # unreadable certificate, missing ca_bundle file
        add("token", "graph", Status.FAILED, problem_of(exc), fix_for(exc))
        _skip_all(add, profile)
        return results
    with conn:
        if not _graph(conn, add, config, now):
            _skip_all(add, profile)
            return results
        for dv in profile.dataverse:
            dynamics_checks.dataverse(conn, add, dv)
        for fo in profile.finance_operations:
            dynamics_checks.finance_operations(conn, add, fo)
        if profile.discover_environments:
            dynamics_checks.power_platform(conn, add)
    return results


def _graph(conn: Connection, add: graph_checks.Add, config: Config, now: datetime) -> bool:
    """The Graph side, by the profile's way in; False when no token could be had."""
    if conn.profile.auth == "delegated":
        ok = delegated_checks.check(conn, add, config.reclamation.enabled)
        if ok:
            report_checks.usage_reports(conn, add, None, now)
        return ok
    roles = graph_checks.token(conn, add)
    if roles is None:
        return False
    outcomes = graph_checks.permissions(conn, add, roles, config.reclamation.enabled)
    graph_checks.entra_p1(add, outcomes)
    if conn.profile.auth == "application":  # a managed identity has no secret to expire
        graph_checks.credential_expiry(conn, add, config, now)
    report_checks.usage_reports(conn, add, roles, now)
    return True


def _sign_in(config: Config, profile: ProfileConfig) -> StoredSignIn | None:
    if profile.auth != "delegated":
        return None
    from license_analyzer.store.open import open_configured_store

    return stored_sign_in(open_configured_store(config), profile)


def _skip_all(add: graph_checks.Add, profile: ProfileConfig) -> None:
    why = "Not checked: no token."
    add("permissions", "graph", Status.SKIPPED, why, "")
    for dv in profile.dataverse:
        add("reachable", f"dataverse {dv.url}", Status.SKIPPED, why, "")
    for fo in profile.finance_operations:
        add("reachable", f"finance_operations {fo.url}", Status.SKIPPED, why, "")
