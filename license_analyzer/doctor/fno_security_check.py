"""Can the F&O app's user read the security entities license compliance needs?"""

from __future__ import annotations

from collections.abc import Callable

from license_analyzer.config import FinanceOperationsEnvironment
from license_analyzer.errors import LicenseAnalyzerError
from license_analyzer.sources.fno_security import SECURITY_FIX
from license_analyzer.sources.http import Connection
from license_analyzer.sources.streams import FNO_SECURITY_ROLES, FNO_SECURITY_USER_ROLES

from .probe import get_json, problem_of
from .result import Status

Add = Callable[[str, str, Status, str, str], None]


def security_entities(conn: Connection, add: Add, env: FinanceOperationsEnvironment,
                      target: str) -> None:
    client = conn.finance_operations(env.url)
    for stream in (FNO_SECURITY_ROLES, FNO_SECURITY_USER_ROLES):
        try:
            get_json(client, stream.path, f"{stream.what} of {env.url}",
                     {"$top": "1", "$select": stream.select[0]})
        except LicenseAnalyzerError as exc:
            fix = (SECURITY_FIX.format(env=env.url)[0].upper() + SECURITY_FIX.format(
                env=env.url)[1:] + ".") if "403" in exc.message else ""
            add("security_roles", target, Status.FAILED, problem_of(exc),
                fix or "Run doctor again; if it keeps failing, check the environment's health in"
                       " Lifecycle Services.")
            return
    add("security_roles", target, Status.OK,
        "SecurityRoles and SecurityUserRoles answered (license compliance can be computed).", "")
