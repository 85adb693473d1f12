from __future__ import annotations

from typing import Any

import httpx
import pytest

from license_analyzer.errors import AuthError, SourceError
from license_analyzer.redact import register_secret
from license_analyzer.sources.http.errors import (
    ENVIRONMENT_EXTENSION,
    RESOURCE_EXTENSION,
    MissingPermission,
    NoPremiumLicense,
    UntrustedCertificate,
    check,
    permission_for,
    transport_error,
)
from license_analyzer.sources.http.retry import ThrottledTooLong
from tests.sources.http.http_fakes import SECRET

GRAPH = "https://graph.microsoft.com/v1.0"
ENV = "https://contoso.crm.dynamics.com"


def response(status: int, url: str, body: Any = None, *, method: str = "GET",
             resource: str | None = None, env: str = "") -> httpx.Response:
    request = httpx.Request(method, url, extensions={RESOURCE_EXTENSION: resource,
                                                     ENVIRONMENT_EXTENSION: env})
    return httpx.Response(status, json=body if body is not None else {}, request=request)


def denied(code: str = "Authorization_RequestDenied") -> dict[str, Any]:
    return {"error": {"code": code, "message": "Insufficient privileges to complete the "
                                               "operation."}}


def test_success_passes() -> None:
    check(response(200, f"{GRAPH}/users"), "Reading users")


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("GET", "/users?$select=id,assignedLicenses", "User.Read.All"),
        ("GET", "/users?$select=id,signInActivity", "AuditLog.Read.All"),
        ("GET", "/auditLogs/signIns?$filter=resourceId eq 'x'", "AuditLog.Read.All"),
        ("GET", "/subscribedSkus", "Organization.Read.All"),
        ("GET", "/directory/subscriptions", "Organization.Read.All"),
        ("GET", "/organization", "Organization.Read.All"),
        ("GET", "/groups/g1/members?$select=id", "GroupMember.Read.All"),
        ("POST", "/users/u1/assignLicense", "LicenseAssignment.ReadWrite.All"),
        ("DELETE", "/groups/g1/members/u1/$ref", "GroupMember.ReadWrite.All"),
        ("GET", "/applications?$filter=appId eq 'x'", "Application.Read.All"),
    ],
)
def test_graph_403_names_the_missing_permission(method: str, path: str, permission: str) -> None:
    assert permission_for(method, f"{GRAPH}{path}") == permission
    with pytest.raises(MissingPermission) as caught:
        check(response(403, f"{GRAPH}{path}", denied(), method=method, resource="graph"),
              "Reading from Graph")
    assert caught.value.permission == permission
    assert permission in caught.value.message and "admin consent" in caught.value.message
    assert isinstance(caught.value, AuthError)


def test_no_premium_license_is_its_own_soft_error() -> None:
    body = denied("Authentication_RequestFromNonPremiumTenantOrB2CTenant")
    with pytest.raises(NoPremiumLicense) as caught:
        check(response(403, f"{GRAPH}/auditLogs/signIns", body, resource="graph"), "Sign-ins")
    assert "P1" in caught.value.message
    assert isinstance(caught.value, SourceError)


def test_401_fix_depends_on_the_resource() -> None:
    with pytest.raises(AuthError, match="application user in " + ENV):
        check(response(401, f"{ENV}/api/data/v9.2/WhoAmI", resource="dataverse", env=ENV),
              "WhoAmI")
    fno = "https://contoso.operations.dynamics.com"
    with pytest.raises(AuthError, match="System administration > Setup > Microsoft Entra ID "
                                        "applications"):
        check(response(401, f"{fno}/data/SystemUsers", {"Message": "Authentication failed."},
                       resource="finance_operations", env=fno), "F&O users")


def test_dataverse_not_a_member_of_the_organization() -> None:
    body = {"error": {"code": "0x80072560", "message": "The user is not a member of the "
                                                        "organization."}}
    with pytest.raises(AuthError) as caught:
        check(response(403, f"{ENV}/api/data/v9.2/WhoAmI", body, resource="dataverse", env=ENV),
              "WhoAmI")
    assert f"add the app as an application user in {ENV}" in caught.value.message


def test_dataverse_missing_privilege() -> None:
    body = {"error": {"code": "0x80040220", "message": "Principal user (Id=x) is missing "
                                                        "prvReadAuditSummary privilege"}}
    with pytest.raises(AuthError, match="prvReadAuditSummary"):
        check(response(403, f"{ENV}/api/data/v9.2/audits", body, resource="dataverse", env=ENV),
              "Audits")


def test_other_failures_are_source_errors_with_redacted_detail() -> None:
    register_secret(SECRET)
    body = {"error": {"code": "InternalServerError", "message": f"boom {SECRET}"}}
    with pytest.raises(SourceError) as caught:
        check(response(500, f"{GRAPH}/users", body, resource="graph"), "Reading users")
    assert "HTTP 500" in caught.value.message
    assert SECRET not in caught.value.message and SECRET not in (caught.value.detail or "")
    with pytest.raises(SourceError, match="HTTP 404"):
        check(response(404, f"{GRAPH}/nothing", resource="graph"), "Reading")
    with pytest.raises(ThrottledTooLong):
        check(response(429, f"{GRAPH}/users", resource="graph"), "Reading")


def test_transport_errors_become_sentences() -> None:
    import ssl

    request = httpx.Request("GET", "https://127.0.0.1:8443/graph/v1.0/users?$filter=x")
    error = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]", request=request)
    error.__cause__ = ssl.SSLCertVerificationError()
    converted = transport_error(error, "Reading users")
    assert isinstance(converted, UntrustedCertificate)
    assert "127.0.0.1:8443" in converted.message and "ca_bundle" in converted.message
    plain = transport_error(httpx.ConnectError("refused", request=request), "Reading users")
    assert "cannot connect" in plain.message and "$filter" not in plain.message
    timeout = transport_error(httpx.ReadTimeout("slow", request=request), "Reading users")
    assert "did not answer in time" in timeout.message
