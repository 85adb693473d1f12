"""Each broken setup step fails exactly its own check, with its fix (against the simulator)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from license_analyzer.config import normalize_resource_url
from license_analyzer.doctor import Status
from license_analyzer.simulator import Simulator
from tests.doctor.doctor_setup import find, only, run, simulator

READ = ["Organization.Read.All", "User.Read.All", "AuditLog.Read.All", "GroupMember.Read.All"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with simulator() as s:
        yield s


def dv(sim: Simulator, i: int) -> str:
    return f"dataverse {normalize_resource_url(sim.info['dataverse'][i])}"


def fo(sim: Simulator, i: int = 0) -> str:
    return f"finance_operations {normalize_resource_url(sim.info['finance_operations'][i])}"


def everything_after_token(sim: Simulator) -> set[tuple[str, str]]:
    return {("permissions", "graph"), ("reachable", dv(sim, 0)), ("reachable", dv(sim, 1)),
            ("reachable", fo(sim))}


def test_a_healthy_setup_is_all_ok(sim: Simulator, tmp_path: Path) -> None:
    results = run(sim, tmp_path)
    only(results)
    checks = {(r.check, r.target) for r in results}
    assert ("token", "graph") in checks
    assert {("permission", f"graph {p}") for p in READ} <= checks
    assert ("user_access_auditing", dv(sim, 1)) in checks
    assert ("app_registration", fo(sim)) in checks
    assert ("credential_expiry", "graph client secret") in checks


def test_wrong_secret(sim: Simulator, tmp_path: Path) -> None:
    results = run(sim, tmp_path, secret="wrong-secret-value-123")
    only(results, failed={("token", "graph")}, skipped=everything_after_token(sim))
    token = find(results, "token", "graph")
    assert "AADSTS7000215" in token.message
    assert "Value (not its Secret ID)" in token.fix


def test_expired_secret(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.app.secret_expires_at = sim.tenant.now - timedelta(days=1)
    results = run(sim, tmp_path)
    only(results, failed={("token", "graph")}, skipped=everything_after_token(sim))
    token = find(results, "token", "graph")
    assert "AADSTS7000222" in token.message
    assert "Create a new secret" in token.fix and "client_secret" in token.fix


@pytest.mark.parametrize("permission", READ)
def test_missing_consent_for_each_read_permission(sim: Simulator, tmp_path: Path,
                                                  permission: str) -> None:
    sim.tenant.app.roles.discard(permission)
    if permission == "GroupMember.Read.All":  # the write permission would include it
        sim.tenant.app.roles.discard("GroupMember.ReadWrite.All")
    results = run(sim, tmp_path)
    skipped = {("entra_p1", "graph tenant")} if permission == "AuditLog.Read.All" else set()
    only(results, failed={("permission", f"graph {permission}")}, skipped=skipped)
    line = find(results, "permission", f"graph {permission}")
    assert permission in line.fix and "admin consent" in line.fix


@pytest.mark.parametrize("permission", ["LicenseAssignment.ReadWrite.All",
                                        "GroupMember.ReadWrite.All"])
def test_missing_consent_for_reclamation_permissions(sim: Simulator, tmp_path: Path,
                                                     permission: str) -> None:
    sim.tenant.app.roles.discard(permission)
    results = run(sim, tmp_path, reclamation=True)
    only(results, failed={("permission", f"graph {permission}")})
    assert "admin consent" in find(results, "permission", f"graph {permission}").fix


def test_reclamation_permissions_are_not_asked_for_when_reclamation_is_off(
        sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.app.roles.discard("LicenseAssignment.ReadWrite.All")
    results = run(sim, tmp_path)
    only(results)
    assert all("LicenseAssignment" not in r.target for r in results)


def test_no_p1_is_a_warning_not_a_failure(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.has_p1 = False
    results = run(sim, tmp_path)
    only(results, warning={("entra_p1", "graph tenant")})
    assert "P1" in find(results, "entra_p1", "graph tenant").fix


def test_no_application_user(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.dataverse[0].application_user = False
    results = run(sim, tmp_path)
    only(results, failed={("application_user", dv(sim, 0))},
         skipped={("user_access_auditing", dv(sim, 0))})
    fix = find(results, "application_user", dv(sim, 0)).fix
    assert fix.startswith("Add the app as an application user in " + dv(sim, 0).split()[1])
    assert "Application users" in fix


def test_auditing_off(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.dataverse[1].auditing_enabled = False
    results = run(sim, tmp_path)
    only(results, failed={("user_access_auditing", dv(sim, 1))})
    line = find(results, "user_access_auditing", dv(sim, 1))
    assert "Auditing is off" in line.message and "Start Auditing" in line.fix


def test_user_access_logging_off(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.dataverse[0].user_access_audit_enabled = False
    results = run(sim, tmp_path)
    only(results, failed={("user_access_auditing", dv(sim, 0))})
    assert "Log access" in find(results, "user_access_auditing", dv(sim, 0)).fix


def test_fno_app_not_registered(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.finance_operations[0].app_registered = False
    results = run(sim, tmp_path)
    only(results, failed={("app_registration", fo(sim))})
    fix = find(results, "app_registration", fo(sim)).fix
    assert "System administration > Setup > Microsoft Entra ID applications" in fix


def test_fno_url_written_with_capitals_and_slash_is_normalized(sim: Simulator,
                                                               tmp_path: Path) -> None:
    url = sim.info["finance_operations"][0]
    written = url.replace("/fno/", "/FNO/").upper().replace("HTTPS://", "https://") + "/"
    results = run(sim, tmp_path, fno=[written])
    only(results)
    assert "as written" in find(results, "app_registration", fo(sim)).message


def test_fno_unregistered_is_not_mistaken_for_an_audience_problem(sim: Simulator,
                                                                  tmp_path: Path) -> None:
    sim.tenant.finance_operations[0].app_registered = False
    url = sim.info["finance_operations"][0]
    results = run(sim, tmp_path, fno=[url.upper().replace("HTTPS://", "https://") + "/"])
    only(results, failed={("app_registration", fo(sim))})
    assert "Microsoft Entra ID applications" in find(results, "app_registration", fo(sim)).fix


def test_untrusted_ca_without_ca_bundle(sim: Simulator, tmp_path: Path) -> None:
    results = run(sim, tmp_path, ca_bundle=False)
    only(results, failed={("token", "graph")}, skipped=everything_after_token(sim))
    token = find(results, "token", "graph")
    assert "not trusted" in token.message and "ca_bundle" in token.fix


def test_certificate_credentials_end_to_end(sim: Simulator, tmp_path: Path) -> None:
    key_pem, cert_pem = sim.tenant.app.generate_certificate()
    pem = tmp_path / "app.pem"
    pem.write_bytes(key_pem + cert_pem)
    results = run(sim, tmp_path, certificate=pem)
    only(results)
    assert "certificate" in find(results, "token", "graph").message
    expiry = [r for r in results if r.check == "credential_expiry"]
    assert len(expiry) == 1 and expiry[0].target.startswith("certificate ")


def test_certificate_not_registered(sim: Simulator, tmp_path: Path) -> None:
    from license_analyzer.simulator.tokens import new_certificate

    key_pem, cert_pem = new_certificate("CN=not-uploaded")
    pem = tmp_path / "other.pem"
    pem.write_bytes(key_pem + cert_pem)
    results = run(sim, tmp_path, certificate=pem)
    only(results, failed={("token", "graph")}, skipped=everything_after_token(sim))
    token = find(results, "token", "graph")
    assert "AADSTS700027" in token.message and "Upload the certificate" in token.fix


def test_secret_expiring_soon_is_a_warning(sim: Simulator, tmp_path: Path) -> None:
    sim.tenant.app.secret_expires_at = datetime.now(UTC) + timedelta(days=10)
    results = run(sim, tmp_path)
    only(results, warning={("credential_expiry", "graph client secret")})
    line = find(results, "credential_expiry", "graph client secret")
    assert "in 9 days" in line.message or "in 10 days" in line.message


def test_secret_expiry_cannot_be_told_without_application_read_all(sim: Simulator,
                                                                  tmp_path: Path) -> None:
    sim.tenant.app.roles.discard("Application.Read.All")
    results = run(sim, tmp_path)
    only(results, warning={("credential_expiry", "graph client secret")})
    assert "Cannot tell" in find(results, "credential_expiry", "graph client secret").message


def test_an_overridden_authority_in_another_cloud_works(sim: Simulator, tmp_path: Path) -> None:
    # the simulator is an authority_host override; the cloud's own hosts must not leak in
    results = run(sim, tmp_path, keys={"cloud": "usgov"})
    only(results)


def test_environment_discovery_when_asked(sim: Simulator, tmp_path: Path) -> None:
    results = run(sim, tmp_path, extra=["discover_environments = true"])
    only(results)
    line = next(r for r in results if r.check == "environment_discovery")
    assert line.status is Status.OK and "environments listed" in line.message


def test_usage_reports_are_checked(sim: Simulator, tmp_path: Path) -> None:
    results = run(sim, tmp_path)
    line = find(results, "usage_reports", "graph usage reports")
    assert line.status == Status.OK and "refresh date" in line.message
    assert "2 days behind today" in line.message


def test_concealed_report_names_are_a_warning_with_the_fix(sim: Simulator, tmp_path: Path
                                                           ) -> None:
    sim.tenant.display_concealed_names = True
    results = run(sim, tmp_path)
    only(results, warning={("concealed_names", "graph usage reports")})
    line = find(results, "concealed_names", "graph usage reports")
    assert "conceals user names" in line.message
    assert "Display concealed user, group, and site names in all reports" in line.fix
    assert "admin/reportSettings" in line.fix and "displayConcealedNames" in line.fix


def test_without_reports_read_all_the_suites_are_a_warning(sim: Simulator, tmp_path: Path
                                                           ) -> None:
    sim.tenant.app.roles.discard("Reports.Read.All")
    results = run(sim, tmp_path)
    only(results, warning={("permission", "graph Reports.Read.All")})
    line = find(results, "permission", "graph Reports.Read.All")
    assert "Reports.Read.All" in line.fix
