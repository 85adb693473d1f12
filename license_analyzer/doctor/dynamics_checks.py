"""The Dynamics side: each Dataverse and Finance & Operations environment, and BAP discovery."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from license_analyzer.config import DataverseEnvironment, FinanceOperationsEnvironment
from license_analyzer.errors import AuthError, LicenseAnalyzerError
from license_analyzer.sources.http import Connection, UntrustedCertificate
from license_analyzer.sources.http.aadsts import TokenError
from license_analyzer.sources.paginate import records
from license_analyzer.sources.streams import BAP_ENVIRONMENTS

from .fno_security_check import security_entities
from .probe import fix_for, get_json, problem_of
from .result import Status

Add = Callable[[str, str, Status, str, str], None]

AUDIT_SETTINGS = ("isauditenabled,isuseraccessauditenabled,useraccessauditinginterval,"
                  "auditretentionperiodv2")
AUDIT_PLACE = ("Power Platform admin center > Environments > {env} > Settings > Audit and logs >"
               " Audit settings")


def dataverse(conn: Connection, add: Add, env: DataverseEnvironment) -> None:
    target = f"dataverse {env.url}"
    client = conn.dataverse(env.url)
    try:
        who = get_json(client, "/WhoAmI", f"WhoAmI in {env.url}")
    except (TokenError, UntrustedCertificate) as exc:
        add("reachable", target, Status.FAILED, problem_of(exc), fix_for(exc))
        _skip(add, target, "application_user", "user_access_auditing")
        return
    except AuthError as exc:  # 401 / 403 0x80072560: Entra is fine, Dataverse does not know us
        add("reachable", target, Status.OK, "The environment answered.", "")
        add("application_user", target, Status.FAILED, problem_of(exc), fix_for(exc))
        _skip(add, target, "user_access_auditing")
        return
    except LicenseAnalyzerError as exc:
        add("reachable", target, Status.FAILED, problem_of(exc), fix_for(exc))
        _skip(add, target, "application_user", "user_access_auditing")
        return
    add("reachable", target, Status.OK, "WhoAmI answered.", "")
    whose = {"delegated": "The signed-in account is user",
             "managed_identity": "The managed identity is application user"}.get(
                 conn.profile.auth, "The app is application user")
    add("application_user", target, Status.OK, f"{whose} {who.get('UserId', '?')}.", "")
    _auditing(client, add, target, env.url)


def _auditing(client: Any, add: Add, target: str, env_url: str) -> None:
    place = AUDIT_PLACE.format(env=env_url)
    try:
        data = get_json(client, "/organizations", f"Audit settings of {env_url}",
                        {"$select": AUDIT_SETTINGS})
    except LicenseAnalyzerError as exc:
        add("user_access_auditing", target, Status.FAILED, problem_of(exc), fix_for(exc))
        return
    rows = data.get("value") or [{}]
    org = rows[0] if isinstance(rows[0], dict) else {}
    if not org.get("isauditenabled"):
        add("user_access_auditing", target, Status.FAILED,
            "Auditing is off: no user access is recorded, so Dataverse activity cannot be seen.",
            f"Turn on Start Auditing and Log access in {place}.")
        return
    if not org.get("isuseraccessauditenabled"):
        add("user_access_auditing", target, Status.FAILED,
            "Auditing is on but user access is not logged.",
            f"Turn on Log access in {place}.")
        return
    interval = org.get("useraccessauditinginterval")
    retention = org.get("auditretentionperiodv2")
    kept = "forever" if retention in (-1, None) else f"{retention} days"
    add("user_access_auditing", target, Status.OK,
        f"User access is logged (every {interval} h at most once per user); audit kept {kept}.",
        "")


def finance_operations(conn: Connection, add: Add, env: FinanceOperationsEnvironment) -> None:
    target = f"finance_operations {env.url}"
    what = f"F&O users of {env.url}"
    params = {"$top": "1", "$select": "UserID"}
    try:
        get_json(conn.finance_operations(env.url), "/SystemUsers", what, params)
    except AuthError as exc:
        if isinstance(exc, TokenError):
            add("reachable", target, Status.FAILED, problem_of(exc), fix_for(exc))
            _skip(add, target, "app_registration")
            return
        add("reachable", target, Status.OK, "The environment answered.", "")
        _unregistered_or_audience(conn, add, env, target, exc)
        return
    except LicenseAnalyzerError as exc:
        add("reachable", target, Status.FAILED, problem_of(exc), fix_for(exc))
        _skip(add, target, "app_registration")
        return
    add("reachable", target, Status.OK, "SystemUsers answered.", "")
    note = ""
    if env.url_as_written.strip() != env.url:
        note = (f" The URL as written ({env.url_as_written}) is not a valid audience for F&O "
                "(it wants lowercase, no trailing slash); license-analyzer uses the normalized "
                "form.")
    add("app_registration", target, Status.OK, "The app is registered." + note, "")
    security_entities(conn, add, env, target)  # license compliance (issue 21)


def _unregistered_or_audience(conn: Connection, add: Add, env: FinanceOperationsEnvironment,
                              target: str, refused: AuthError) -> None:
    """F&O refused the normalized audience: does it want the URL as written, or not know us?"""
    written = env.url_as_written.strip()
    if written != env.url:
        try:
            get_json(conn.finance_operations(env.url, scope=f"{written}/.default"),
                     "/SystemUsers", f"F&O users of {written}", {"$top": "1", "$select": "UserID"})
        except LicenseAnalyzerError:
            pass  # refused too: the registration is what is missing
        else:
            add("app_registration", target, Status.FAILED,
                f"F&O accepts tokens only for the URL exactly as written ({written}), not for "
                f"its normalized form {env.url}.",
                "Check the environment's URL in Lifecycle Services and write it in the profile "
                "exactly as F&O publishes it.")
            return
    add("app_registration", target, Status.FAILED, problem_of(refused), fix_for(refused))


def power_platform(conn: Connection, add: Add) -> None:
    url = conn.endpoints.power_platform_url
    target = f"power_platform {url}"
    try:  # every page: the admin API pages with `nextLink`
        count = len(records(conn.power_platform(), BAP_ENVIRONMENTS,
                            what="Power Platform environments"))
    except LicenseAnalyzerError as exc:
        add("environment_discovery", target, Status.FAILED, problem_of(exc), fix_for(exc))
        return
    add("environment_discovery", target, Status.OK, f"{count} environments listed.", "")


def _skip(add: Add, target: str, *checks: str) -> None:
    for name in checks:
        add(name, target, Status.SKIPPED, "Not checked: the step above failed.", "")
