"""`doctor`: checks every setup step and names the fix for each failure.

For each profile, in setup order: the token (AADSTS codes mapped to fixes), each Graph
application permission (the token's roles, confirmed by a read-only call), Entra ID P1,
when the secret or certificate expires, each Dataverse environment (reachable, application
user, user-access auditing) and each Finance & Operations environment (reachable, app
registered, audience). Doctor never writes. Exit 0 when nothing failed, 3 otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime

from license_analyzer.config import Config
from license_analyzer.errors import ExitCode

from .render import render
from .result import CheckResult, Status
from .runner import check_profile


def diagnose(config: Config, profile: str | None = None, *, now: datetime | None = None
             ) -> list[CheckResult]:
    """Every check of the chosen profile(s), as data."""
    moment = now or datetime.now(UTC)
    results: list[CheckResult] = []
    for chosen in config.profile(profile):
        results.extend(check_profile(config, chosen, moment))
    return results


def run_doctor(config: Config, profile: str | None, fmt: str, *,
               now: datetime | None = None) -> int:
    results = diagnose(config, profile, now=now)
    render(results, fmt)
    failed = any(r.status is Status.FAILED for r in results)
    return int(ExitCode.AUTH) if failed else int(ExitCode.OK)


__all__ = ["CheckResult", "Status", "diagnose", "run_doctor"]
